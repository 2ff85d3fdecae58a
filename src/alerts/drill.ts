import type { Config } from '../config.ts';
import { insertFinishedAlert } from '../db/queries/alerts.ts';
import type { TrailEntry } from '../db/queries/incidents.ts';
import type { HitRow, IncidentRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { assetSnapshot } from './actor.ts';
import { createMailer, renderEmail } from './email.ts';
import { targetsFor } from './outbox.ts';
import { composeView } from './view.ts';
import { sendWebhook } from './webhook.ts';

/** Result of one drill delivery. */
export interface DrillResult {
  channel: 'email' | 'webhook';
  target: string;
  ok: boolean;
  status?: string;
  error?: string;
  alertId: number;
}

/**
 * Send a realistic test alert (a made-up two-host trail, marked TEST) through every
 * configured channel (ALERT_TO, WEBHOOK_URLS, plus any extra targets) and report each
 * result. Sent directly, not through the outbox, so the operator sees the outcome at once;
 * each attempt is also stored as an alert row of kind `test`.
 */
export async function runDrill(
  deps: { db: AnyDb; config: Config; log: Logger },
  extra: { emails?: string[]; webhooks?: string[]; onlyExtra?: boolean } = {},
): Promise<DrillResult[]> {
  const { db, config, log } = deps;
  const configured = extra.onlyExtra ? { ...config, ALERT_TO: [], WEBHOOK_URLS: [] } : config;
  const targets = targetsFor({ alertEmails: extra.emails ?? [], webhooks: extra.webhooks ?? [] }, configured);
  const view = composeView({ assets: await assetSnapshot(db), adminUrl: config.ADMIN_URL, kind: 'test', ...drillIncident() });
  const mailer = createMailer(config);
  const stamp = Date.now();
  try {
    return await Promise.all(
      targets.map(async (t, i): Promise<DrillResult> => {
        const key = `test:${stamp}:${i}:${t.channel}:${t.target}`;
        const r = t.channel === 'email' ? await mailer.send(t.target, renderEmail(view), key, { 'X-Honeytrail-Drill': 'true' }) : await sendWebhook(config, t.target, view, `drill-${stamp}-${i}`);
        const row = await insertFinishedAlert(db, { channel: t.channel, target: t.target, key, ok: r.ok, error: r.error, payload: { drill: true, lastResult: { ...r, at: new Date().toISOString() } } });
        log.info({ channel: t.channel, target: t.target, ok: r.ok, status: r.status, error: r.error }, 'drill alert');
        return { channel: t.channel, target: t.target, ok: r.ok, status: r.status, error: r.error, alertId: row.id };
      }),
    );
  } finally {
    mailer.close();
  }
}

/** A plausible incident for the drill: one workstation reading decoys on a file server and an HR laptop. */
function drillIncident(): { incident: IncidentRow; fresh: TrailEntry[]; freshTotal: number; trail: TrailEntry[] } {
  const now = Date.now();
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
  const hit = (id: number, minutesAgo: number, tokenId: string, path: string): HitRow => ({
    id, tokenId, channel: 'http', at: at(minutesAgo), sourceIp: '10.20.4.17', sourcePort: 52344, forwardedFor: null,
    userAgent: 'Microsoft Office Word 2014 (drill)', referer: null, method: 'GET', path, query: null, qname: null, qtype: null,
    mailFrom: null, mailTo: null, mailSubject: null, actorUser: null, actorHost: null, actorDomain: null, credential: null,
    headers: null, details: { drill: true }, classification: 'alert', incidentId: 0, repeatCount: 1, lastAt: null, intel: null,
  });
  const tokA = { id: 'drill000000000000000000a', kind: 'word', name: 'Q3 board pack (TEST)', location: '\\\\fs01\\finance\\Board', plantedHost: 'FS01' };
  const tokB = { id: 'drill000000000000000000b', kind: 'web-bug', name: 'HR salary bookmark (TEST)', location: 'Edge favourites', plantedHost: 'WS-HR-02' };
  const trail: TrailEntry[] = [
    { hit: hit(1, 6, tokA.id, '/static/img/logo.png'), token: tokA },
    { hit: hit(2, 1, tokB.id, '/assets/banner.jpg'), token: tokB },
  ];
  const incident: IncidentRow = {
    id: 0, actorKey: 'drill', actorLabel: '10.20.4.17 (drill)', firstAt: at(6), lastAt: at(1), hitCount: 2, tokenCount: 2,
    locationCount: 2, hostCount: 2, severity: 'high', status: 'open', lateral: true, techniques: ['T1039', 'T1083', 'T1213'],
    summary: 'decoys on 2 different hosts touched (drill)', updatedAt: at(1),
  };
  return { incident, fresh: trail, freshTotal: trail.length, trail };
}
