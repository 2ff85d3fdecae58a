import { Router } from 'express';
import { z } from 'zod';
import { parse } from '../api/validate.ts';
import { incidentAlerts, listIncidents } from '../db/queries/admin-views.ts';
import { getIncident, incidentTrail, setIncidentStatus } from '../db/queries/incidents.ts';
import { audit } from '../db/queries/audit.ts';
import { INCIDENT_STATUSES } from '../db/schema.ts';
import { notFound } from '../errors.ts';
import { findKind } from '../tokens/registry.ts';
import { pager, uiActor, type UiContext } from './context.ts';
import { alertView, assetLabeler, hitView, incidentView, techniqueView } from './presenters.ts';

const PER_PAGE = 25;
/** Most trail entries drawn on one incident page. */
const TRAIL_LIMIT = 500;
const idParam = z.object({ id: z.coerce.number().int().positive('is not an incident id') });
const listQuery = z.object({
  status: z.enum([...INCIDENT_STATUSES, 'active', 'all']).default('active').catch('active'),
  page: z.coerce.number().int().min(1).max(100_000).default(1).catch(1),
});
const statusInput = z.object({ status: z.enum(INCIDENT_STATUSES, { message: 'must be open, acknowledged or closed' }) });

/** Incidents: list, and the detail page (trail timeline, places touched, ATT&CK, alert log). */
export function incidentPages(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = Router();

  r.get('/incidents', async (req, res) => {
    const q = listQuery.parse(req.query);
    const { items, total } = await listIncidents(db, { status: q.status === 'all' ? undefined : q.status, limit: PER_PAGE, offset: (q.page - 1) * PER_PAGE });
    ui.views.render(res, 'incidents', {
      title: 'Incidents',
      nav: 'incidents',
      status: q.status,
      statuses: ['active', ...INCIDENT_STATUSES, 'all'].map((s) => ({ value: s, selected: s === q.status })),
      incidents: items.map(incidentView),
      pager: pager('/incidents', { status: q.status }, q.page, PER_PAGE, total),
    });
  });

  r.get('/incidents/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const incident = await getIncident(db, id);
    if (!incident) throw notFound('incident');
    const trail = await incidentTrail(db, id, TRAIL_LIMIT);
    const alerts = await incidentAlerts(db, id);
    const names = await assetLabeler(db);
    const places = new Map<string, { location: string | null; host: string | null; tokens: Set<string> }>();
    const techniques = new Set(incident.techniques);
    for (const { hit, token } of trail) {
      const key = `${token.plantedHost ?? ''}\u0000${token.location ?? ''}`;
      const p = places.get(key) ?? { location: token.location, host: token.plantedHost, tokens: new Set<string>() };
      p.tokens.add(token.name);
      places.set(key, p);
      if (hit.classification === 'alert') for (const t of findKind(token.kind)?.techniques ?? []) techniques.add(t);
    }
    ui.views.render(res, 'incident', {
      title: `Incident #${incident.id}`,
      nav: 'incidents',
      incident: incidentView(incident),
      trail: trail.map(({ hit, token }) => ({ ...hitView(hit, names), token })),
      trailNote: trail.length >= TRAIL_LIMIT ? `Showing the first ${TRAIL_LIMIT} hits of this incident; every hit is listed on its token's page.` : null,
      places: [...places.values()].map((p) => ({ location: p.location, host: p.host, tokens: [...p.tokens].join(', ') })),
      sources: [...new Set(trail.map((t) => t.hit.sourceIp).filter(Boolean))],
      techniques: [...techniques].sort().map(techniqueView),
      alerts: alerts.map(alertView),
    });
  });

  r.post('/incidents/:id/status', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const { status } = parse(statusInput, req.body ?? {});
    if (!(await setIncidentStatus(db, id, status))) throw notFound('incident');
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: `incident.${status}`, targetType: 'incident', targetId: String(id), ip: actor.ip });
    res.redirect(303, `/incidents/${id}?msg=status_changed`);
  });

  return r;
}
