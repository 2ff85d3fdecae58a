import { Router } from 'express';
import { failedAlerts, listIncidents, neverTriggered, openIncidentsBySeverity, recentHits } from '../db/queries/admin-views.ts';
import { SEVERITIES } from '../db/schema.ts';
import type { UiContext } from './context.ts';
import { alertView, assetLabeler, hitView, incidentView, kindLabel } from './presenters.ts';

/** The dashboard: what needs attention now. */
export function dashboardPage(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = Router();
  r.get('/', (_req, res) => {
    const bySeverity = openIncidentsBySeverity(db);
    const never = neverTriggered(db, 10);
    const failures = failedAlerts(db, 10);
    const names = assetLabeler(db);
    ui.views.render(res, 'dashboard', {
      title: 'Dashboard',
      nav: 'dashboard',
      severities: [...SEVERITIES].reverse().map((s) => ({ severity: s, count: bySeverity[s] })),
      openIncidents: listIncidents(db, { status: 'active', limit: 10, offset: 0 }).items.map(incidentView),
      hits: recentHits(db, 15).map((h) => ({ ...hitView(h.hit, names), token: h.token })),
      never: never.items.map((t) => ({ ...t, kindLabel: kindLabel(t.kind) })),
      neverTotal: never.total,
      failures: failures.items.map(alertView),
      failuresTotal: failures.total,
    });
  });
  return r;
}
