import { guardedRouter } from '../admin/guard.ts';
import { Router } from 'express';
import { z } from 'zod';
import { runDrill } from '../alerts/drill.ts';
import { pathOf } from '../alerts/path.ts';
import { sourceOf } from '../alerts/view.ts';
import { assetSnapshot } from '../hits/actor.ts';
import { technique } from '../hits/attack.ts';
import { explainHit } from '../hits/meaning.ts';
import { listAlerts } from '../db/queries/alerts.ts';
import { audit } from '../db/queries/audit.ts';
import { countIncidentHits, getIncident, incidentEntities, incidentTrail, listIncidents, mergedIncidents, setIncidentStatus } from '../db/queries/incidents.ts';
import { ALERT_STATUSES, INCIDENT_STATUSES, SEVERITIES, type AlertRow, type IncidentRow } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { notFound } from '../errors.ts';
import { actorOf } from './auth.ts';
import { hitJson } from './presenters.ts';
import { parse } from './validate.ts';

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function incidentJson(i: IncidentRow, adminUrl: string) {
  return {
    id: i.id,
    actorKey: i.actorKey,
    actorLabel: i.actorLabel,
    firstAt: iso(i.firstAt),
    lastAt: iso(i.lastAt),
    hitCount: i.hitCount,
    tokenCount: i.tokenCount,
    locationCount: i.locationCount,
    hostCount: i.hostCount,
    severity: i.severity,
    status: i.status,
    lateral: i.lateral,
    lateralReasons: (i.summary ?? '').split('; ').filter(Boolean),
    /** Why this severity: the evidence, deduplicated (code, text, time, hit). */
    reasons: i.reasons.map((r) => ({ code: r.code, text: r.text, at: new Date(r.at).toISOString(), hitId: r.hitId })),
    machineCount: i.machineCount,
    mergedInto: i.mergedInto,
    mergedIntoUrl: i.mergedInto === null ? null : `${adminUrl}/incidents/${i.mergedInto}`,
    techniques: i.techniques.map(technique),
    updatedAt: iso(i.updatedAt),
    url: `${adminUrl}/incidents/${i.id}`,
  };
}

export function alertJson(a: AlertRow) {
  const p = a.payload as { lastResult?: unknown; firstHitId?: number; lastHitId?: number; hitCount?: number };
  return {
    id: a.id,
    incidentId: a.incidentId,
    thread: a.thread,
    channel: a.channel,
    target: a.target,
    kind: a.kind,
    status: a.status,
    attempts: a.attempts,
    nextAttemptAt: iso(a.nextAttemptAt),
    lastError: a.lastError,
    lastResult: p.lastResult ?? null,
    sentAt: iso(a.sentAt),
    createdAt: iso(a.createdAt),
    hits: p.firstHitId !== undefined ? { firstHitId: p.firstHitId, lastHitId: p.lastHitId, count: p.hitCount } : null,
  };
}

const listQuery = z.object({
  status: z.enum(INCIDENT_STATUSES, { message: `must be one of ${INCIDENT_STATUSES.join(', ')}` }).optional(),
  severity: z.enum(SEVERITIES, { message: `must be one of ${SEVERITIES.join(', ')}` }).optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500, 'must be at most 500').default(50),
  merged: z.enum(['true', 'false'], { message: 'must be true or false' }).optional(),
});
const idParam = z.object({ id: z.coerce.number().int().positive('is not an incident id') });
const patchBody = z
  .object({ status: z.enum(INCIDENT_STATUSES, { message: `must be one of ${INCIDENT_STATUSES.join(', ')}` }) })
  .strict();
const alertQuery = z.object({
  status: z.enum(ALERT_STATUSES, { message: `must be one of ${ALERT_STATUSES.join(', ')}` }).optional(),
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500, 'must be at most 500').default(100),
});
const drillBody = z
  .object({
    emails: z.array(z.string().trim().email('must be an email address')).max(20).optional(),
    webhooks: z.array(z.string().trim().url('must be a URL').refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL')).max(10).optional(),
  })
  .strict();

/** /api/v1 incidents (trails), alerts (the outbox) and the alert drill. */
export function incidentRoutes(deps: AppDeps): Router {
  const { db, config } = deps;
  const r = guardedRouter('/api/v1');

  r.get('/incidents', async (req, res) => {
    const q = parse(listQuery, req.query);
    const { items, total } = await listIncidents(db, { status: q.status, severity: q.severity, beforeId: q.before, limit: q.limit, merged: q.merged === 'true' });
    const last = items[items.length - 1];
    res.json({ items: items.map((i) => incidentJson(i, config.ADMIN_URL)), total, nextBefore: items.length === q.limit && last ? last.id : null });
  });

  r.get('/incidents/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const incident = await getIncident(db, id);
    if (!incident) throw notFound('incident');
    const trail = await incidentTrail(db, id, 1000);
    const trailTotal = await countIncidentHits(db, id);
    const alerts = await listAlerts(db, { incidentId: id, limit: 500 });
    const entities = await incidentEntities(db, id);
    const assets = await assetSnapshot(db);
    res.json({
      ...incidentJson(incident, config.ADMIN_URL),
      merged: (await mergedIncidents(db, id)).map((m) => ({ id: m.id, actorLabel: m.actorLabel, url: `${config.ADMIN_URL}/incidents/${m.id}` })),
      path: pathOf(entities),
      entities: entities.map((e) => ({ key: e.key, kind: e.kind, label: e.label, claimed: e.claimed, firstAt: iso(e.firstAt), lastAt: iso(e.lastAt), hits: e.hits, data: e.data })),
      trail: trail.map((e) => {
        const meaning = explainHit(e.hit, e.token);
        const { params: _params, ...token } = e.token;
        return { ...hitJson(e.hit), token, what: meaning.action, evidence: meaning.evidence, techniques: meaning.techniques.map(technique), source: sourceOf(e, assets) };
      }),
      trailTotal,
      alerts: alerts.map(alertJson),
    });
  });

  r.patch('/incidents/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const { status } = parse(patchBody, req.body ?? {});
    const row = await setIncidentStatus(db, id, status);
    if (!row) throw notFound('incident');
    await audit(db, { actor: actorOf(res.locals).id, action: `incident.${status}`, targetType: 'incident', targetId: String(id) });
    res.json(incidentJson(row, config.ADMIN_URL));
  });

  r.get('/alerts', async (req, res) => {
    const q = parse(alertQuery, req.query);
    const items = await listAlerts(db, { status: q.status, beforeId: q.before, limit: q.limit });
    const last = items[items.length - 1];
    res.json({ items: items.map(alertJson), nextBefore: items.length === q.limit && last ? last.id : null });
  });

  r.post('/alerts/test', async (req, res) => {
    const extra = parse(drillBody, req.body ?? {});
    const results = await runDrill(deps, extra);
    await audit(db, { actor: actorOf(res.locals).id, action: 'alert.drill', details: { targets: results.length, ok: results.filter((x) => x.ok).length } });
    res.status(results.length && results.every((x) => x.ok) ? 200 : results.length ? 502 : 400).json({
      ok: results.length > 0 && results.every((x) => x.ok),
      results,
      ...(results.length ? {} : { error: 'no alert channel is configured: set ALERT_TO and SMTP_URL, or WEBHOOK_URLS, or pass {emails, webhooks}' }),
    });
  });

  return r;
}
