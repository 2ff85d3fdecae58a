import { Router } from 'express';
import { failedAlerts, listIncidents, neverTriggered, openIncidentsBySeverity, recentHits } from '../db/queries/admin-views.ts';
import { SEVERITIES } from '../db/schema.ts';
import { recentOverflow } from '../hits/overflow-report.ts';
import type { UiContext } from './context.ts';
import { alertView, assetLabeler, hitView, incidentView, kindLabel } from './presenters.ts';

/** The dashboard: what needs attention now. */
export function dashboardPage(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = Router();
  r.get('/', async (_req, res) => {
    const bySeverity = await openIncidentsBySeverity(db);
    const never = await neverTriggered(db, 10);
    const failures = await failedAlerts(db, 10);
    const open = await listIncidents(db, { status: 'active', limit: 10, offset: 0 });
    const hits = await recentHits(db, 15);
    const names = await assetLabeler(db);
    const overflow = await recentOverflow(db);
    ui.views.render(res, 'dashboard', {
      title: 'Dashboard',
      nav: 'dashboard',
      severities: [...SEVERITIES].reverse().map((s) => ({ severity: s, count: bySeverity[s] })),
      openIncidents: open.items.map(incidentView),
      hits: hits.map((h) => ({ ...hitView(h.hit, names, h.token), token: h.token })),
      never: never.items.map((t) => ({ ...t, kindLabel: kindLabel(t.kind) })),
      neverTotal: never.total,
      failures: failures.items.map(alertView),
      failuresTotal: failures.total,
      overflow: overflow.unstored + overflow.rateLimited > 0 ? overflow : null,
    });
  });
  return r;
}
