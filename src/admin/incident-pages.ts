import { guardedRouter } from './guard.ts';
import { Router } from 'express';
import { z } from 'zod';
import { parse } from '../api/validate.ts';
import { pathOf, pathSvg } from '../alerts/path.ts';
import { sourceOf } from '../alerts/view.ts';
import { incidentAlerts, listIncidents } from '../db/queries/admin-views.ts';
import { countIncidentHits, getIncident, incidentEntities, incidentTrail, mergedIncidents, setIncidentStatus } from '../db/queries/incidents.ts';
import { audit } from '../db/queries/audit.ts';
import { INCIDENT_STATUSES } from '../db/schema.ts';
import { AppError, notFound } from '../errors.ts';
import { assetSnapshot } from '../hits/actor.ts';
import { technique } from '../hits/attack.ts';
import { explainHit } from '../hits/meaning.ts';
import { pager, uiActor, type UiContext } from './context.ts';
import { alertView, hitAction, incidentView } from './presenters.ts';

const PER_PAGE = 25;
/** Trail entries per page of the incident page. */
const TRAIL_PAGE = 100;
const idParam = z.object({ id: z.coerce.number().int().positive('is not an incident id') });
const listQuery = z.object({
  status: z.enum([...INCIDENT_STATUSES, 'active', 'all']).default('active').catch('active'),
  page: z.coerce.number().int().min(1).max(100_000).default(1).catch(1),
});
const pageQuery = z.object({ page: z.coerce.number().int().min(1).max(1_000_000).default(1).catch(1) });
const statusInput = z.object({ status: z.enum(INCIDENT_STATUSES, { message: 'must be open, acknowledged or closed' }) });

/** The incident id of a path; anything that is not one names no incident (404, like an unknown id). */
function incidentId(params: unknown): number {
  const parsed = idParam.safeParse(params);
  if (!parsed.success) throw new AppError('not_found', 'There is no incident at this address.');
  return parsed.data.id;
}

/** Incidents: list, and the detail page (path between machines, why this severity, trail, ATT&CK, alert log). */
export function incidentPages(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = guardedRouter();

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
    const id = incidentId(req.params);
    const { page } = pageQuery.parse(req.query);
    const incident = await getIncident(db, id);
    if (!incident) throw notFound('incident');
    const total = await countIncidentHits(db, id);
    const trail = await incidentTrail(db, id, TRAIL_PAGE, (page - 1) * TRAIL_PAGE);
    const entities = await incidentEntities(db, id);
    const path = pathOf(entities);
    const assets = await assetSnapshot(db);
    const alerts = await incidentAlerts(db, id);
    ui.views.render(res, 'incident', {
      title: `Incident #${incident.id}`,
      nav: 'incidents',
      incident: incidentView(incident),
      mergedInto: incident.mergedInto,
      merged: (await mergedIncidents(db, id)).map((m) => ({ id: m.id, title: m.actorLabel ?? m.actorKey })),
      svg: pathSvg(path),
      path,
      reasons: incident.reasons.map((x) => ({ ...x, at: new Date(x.at) })),
      machines: path.machines,
      users: entities.filter((e) => e.kind === 'user').map((e) => ({ label: e.label, hits: e.hits })),
      relays: entities.filter((e) => e.kind === 'relay').map((e) => ({ label: e.label, hits: e.hits })),
      places: entities.filter((e) => e.kind === 'place').map((e) => ({ label: e.label, hits: e.hits })),
      trail: trail.map(({ hit, token }) => ({
        id: hit.id,
        at: hit.at,
        source: sourceOf({ hit, token }, assets),
        what: explainHit(hit, token).action,
        request: hitAction(hit),
        userAgent: hit.userAgent,
        classification: hit.classification,
        alerting: hit.classification === 'alert',
        repeatCount: hit.repeatCount > 1 ? hit.repeatCount : null,
        token,
      })),
      trailPager: total > TRAIL_PAGE ? pager(`/incidents/${id}`, {}, page, TRAIL_PAGE, total) : null,
      techniques: incident.techniques.map(technique),
      alerts: alerts.map(alertView),
    });
  });

  r.post('/incidents/:id/status', async (req, res) => {
    const id = incidentId(req.params);
    const { status } = parse(statusInput, req.body ?? {});
    if (!(await setIncidentStatus(db, id, status))) throw notFound('incident');
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: `incident.${status}`, targetType: 'incident', targetId: String(id), ip: actor.ip });
    res.redirect(303, `/incidents/${id}?msg=status_changed`);
  });

  return r;
}
