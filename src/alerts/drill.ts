import type { Config } from '../config.ts';
import { insertFinishedAlert } from '../db/queries/alerts.ts';
import type { TrailEntry } from '../db/queries/incidents.ts';
import type { EntityRow, HitRow, IncidentRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { assetSnapshot } from '../hits/actor.ts';
import { createMailer, renderEmail } from './email.ts';
import { targetsFor } from '../hits/paging.ts';
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

/** A plausible intrusion for the drill: WS-22 reads a share decoy, then AWS keys planted on WS-22 are used from JUMP01. */
function drillIncident(): { incident: IncidentRow; entities: EntityRow[]; fresh: TrailEntry[]; freshTotal: number; trail: TrailEntry[] } {
  const now = Date.now();
  const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000);
  const hit = (id: number, minutesAgo: number, tokenId: string, ip: string, ua: string, path: string, extra: Partial<HitRow> = {}): HitRow => ({
    id, tokenId, channel: 'http', at: at(minutesAgo), sourceIp: ip, sourcePort: 52344, forwardedFor: null,
    userAgent: ua, referer: null, method: 'GET', path, query: null, qname: null, qtype: null,
    mailFrom: null, mailTo: null, mailSubject: null, actorUser: null, actorHost: null, actorDomain: null, credential: null,
    headers: null, details: { drill: true }, classification: 'alert', incidentId: 0, repeatCount: 1, lastAt: null, intel: null, expectedRuleId: null, ...extra,
  });
  const tokA = { id: 'drill000000000000000000a', kind: 'word', name: 'Q3 board pack (TEST)', location: '\\\\fs01\\finance\\Board', plantedHost: 'FS01', params: {} };
  const tokB = { id: 'drill000000000000000000b', kind: 'aws-keys', name: 'AWS keys in WS-22 home (TEST)', location: 'C:\\Users\\m.keller\\.aws', plantedHost: 'WS-22', params: {} };
  const trail: TrailEntry[] = [
    { hit: hit(1, 6, tokA.id, '10.20.4.22', 'LibreOffice 7.4 (drill)', '/static/img/logo.png'), token: tokA },
    {
      hit: hit(2, 1, tokB.id, '10.30.0.10', 'aws-cli/2.15.0 Python/3.11.6 Linux/6.1 (drill)', '/svc/sts', {
        method: 'POST', credential: 'AKIADRILL0000000TEST', details: { drill: true, service: 'sts', action: 'GetCallerIdentity', region: 'eu-west-1' },
      }),
      token: tokB,
    },
  ];
  const entity = (key: string, kind: EntityRow['kind'], label: string, minutesAgo: number, data: Record<string, unknown> | null): EntityRow => ({
    id: 0, incidentId: 0, key, kind, label, claimed: false, firstAt: at(minutesAgo), lastAt: at(minutesAgo), firstHitId: null, hits: 1, data,
  });
  const entities = [
    entity('host:ws-22', 'host', 'WS-22', 6, { host: 'WS-22', ip: '10.20.4.22' }),
    entity('host:jump01', 'host', 'JUMP01', 1, { host: 'JUMP01', ip: '10.30.0.10' }),
    entity('hop:host:ws-22>host:jump01', 'hop', 'WS-22 → JUMP01', 1, { fromKey: 'host:ws-22', toKey: 'host:jump01', via: 'credential', text: 'credential planted on WS-22 ("AWS keys in WS-22 home (TEST)") used from JUMP01' }),
  ];
  const reason = (code: string, text: string, minutesAgo: number, hitId: number) => ({ code, text, at: at(minutesAgo).getTime(), hitId });
  const incident: IncidentRow = {
    id: 0, actorKey: 'host:ws-22', actorLabel: 'WS-22 (10.20.4.22) (drill)', firstAt: at(6), lastAt: at(1), hitCount: 2, tokenCount: 2,
    locationCount: 2, hostCount: 2, machineCount: 2, severity: 'critical', status: 'open', lateral: true, techniques: ['T1021', 'T1033', 'T1039', 'T1078.004', 'T1552.001'],
    summary: 'credential planted on WS-22 ("AWS keys in WS-22 home (TEST)") used from JUMP01', updatedAt: at(1), mergedInto: null, alertGroup: null,
    reasons: [
      reason('touch', 'decoy "Q3 board pack (TEST)" at \\\\fs01\\finance\\Board touched: opened the document in LibreOffice 7.4', 6, 1),
      reason('credential-used', 'planted credential AKIADRILL0000000TEST ("AWS keys in WS-22 home (TEST)") used: aws-cli/2.15.0 called sts:GetCallerIdentity in eu-west-1', 1, 2),
      reason('hop', 'credential planted on WS-22 ("AWS keys in WS-22 home (TEST)") used from JUMP01', 1, 2),
    ],
  };
  return { incident, entities, fresh: [trail[1] as TrailEntry], freshTotal: 1, trail };
}
