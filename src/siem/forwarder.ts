import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { listHits } from '../db/queries/hits.ts';
import { incidentsChangedSince } from '../db/queries/incidents.ts';
import { getSetting, setSetting } from '../db/queries/settings.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { tokenCache } from '../exports/hits.ts';
import { hitToCef, incidentToCef, syslog5424 } from './cef.ts';
import type { Severity } from '../db/schema.ts';

const CURSOR = 'siem.syslog.cursor';
const INCIDENT_CURSOR = 'siem.syslog.incidents';
/**
 * How long after a change the incident cursor may pass it. Changes are sent at once; the stored
 * cursor stays this far behind, so a writer that read the clock before a later one committed
 * is not passed by.
 */
const INCIDENT_SETTLE_MS = 5000;
/** Syslog severity of an incident line (2 crit … 5 notice). */
const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5 };
const VERSION = '0.1';

export interface SyslogOptions {
  /** `udp://host:514` or `tcp://host:6514` (RFC 6587 octet-counted frames). */
  url: string;
  /** Syslog facility number (16-23 = local0-local7). @default 20 (local4) */
  facility: number;
  /** How often new hits are looked for. @default 1000 */
  pollMs: number;
}

export interface Forwarder {
  /** Forward everything new now (used by tests and at shutdown); returns the lines sent. `now` places the incident cursor's settle window. */
  tick(now?: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Forwards every stored hit and every incident to a SIEM as CEF over syslog. Hits go out once
 * each (MSGID `HIT`); an incident goes out when it opens and again whenever it changes (more
 * hits, severity, status), carrying its state at that moment (MSGID `INCIDENT`); a burst of
 * hits on one incident makes one incident line per poll. Both feeds are tailed with cursors
 * kept in the database, so a SIEM outage or a restart delays forwarding but loses nothing
 * (at-least-once: after a crash the last line may be sent again).
 */
export function startSyslogForwarder(db: AnyDb, log: Logger, opts: SyslogOptions): Forwarder {
  const target = new URL(opts.url);
  const proto = target.protocol.replace(':', '');
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || 514);
  const me = hostname();
  let udp: UdpSocket | undefined;
  let tcp: Socket | undefined;
  let busy: Promise<number> | undefined;
  let closed = false;

  const tcpSocket = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      if (tcp && !tcp.destroyed) return resolve(tcp);
      const s = connect({ host, port });
      s.setTimeout(10_000, () => s.destroy(new Error('syslog connection timed out')));
      s.once('connect', () => {
        s.setTimeout(0);
        tcp = s;
        resolve(s);
      });
      s.once('error', (err) => {
        tcp = undefined;
        reject(err);
      });
      s.on('close', () => (tcp = undefined));
    });

  const send = async (line: string): Promise<void> => {
    const payload = Buffer.from(line, 'utf8');
    if (proto === 'udp') {
      udp ??= createSocket(host.includes(':') ? 'udp6' : 'udp4');
      const u = udp;
      await new Promise<void>((resolve, reject) => u.send(payload.subarray(0, 8192), port, host, (err) => (err ? reject(err) : resolve())));
      return;
    }
    const s = await tcpSocket();
    await new Promise<void>((resolve, reject) => s.write(Buffer.concat([Buffer.from(`${payload.length} `), payload]), (err) => (err ? reject(err) : resolve())));
  };

  const forwardHits = async (): Promise<number> => {
    const token = tokenCache(db);
    let sent = 0;
    for (;;) {
      const after = (await getSetting<number>(db, CURSOR)) ?? 0;
      const batch = await listHits(db, { afterId: after, order: 'asc', limit: 200 });
      if (batch.length === 0) return sent;
      for (const hit of batch) {
        const cef = hitToCef(hit, await token(hit.tokenId), VERSION);
        await send(syslog5424(cef, { facility: opts.facility, severity: hit.classification === 'alert' ? 2 : 5, hostname: me, msgid: 'HIT', at: hit.at }));
        await setSetting(db, CURSOR, hit.id);
        sent++;
      }
    }
  };

  // Incident states sent whose change is younger than the settle window: the stored cursor
  // stays behind them (a writer that read the clock earlier may still commit below them), so
  // they are read again next time and skipped here unless they changed again.
  const recent = new Map<number, number>();
  const forwardIncidents = async (now: number): Promise<number> => {
    const settled = now - INCIDENT_SETTLE_MS;
    let sent = 0;
    let page = (await getSetting<{ at: number; id: number }>(db, INCIDENT_CURSOR)) ?? { at: 0, id: 0 };
    for (const [id, at] of recent) if (at <= page.at) recent.delete(id);
    for (;;) {
      const batch = await incidentsChangedSince(db, page, 200);
      for (const incident of batch) {
        const at = (incident.updatedAt ?? incident.lastAt).getTime();
        if (recent.get(incident.id) !== at) {
          await send(syslog5424(incidentToCef(incident, VERSION), { facility: opts.facility, severity: SYSLOG_SEVERITY[incident.severity], hostname: me, msgid: 'INCIDENT', at: new Date(at) }));
          sent++;
        }
        if (at <= settled) {
          await setSetting(db, INCIDENT_CURSOR, { at, id: incident.id });
          recent.delete(incident.id);
        } else recent.set(incident.id, at);
        page = { at, id: incident.id };
      }
      if (batch.length < 200) return sent;
    }
  };

  // Hits first, so an incident line follows the hit lines that changed it.
  const forward = async (now: number): Promise<number> => (await forwardHits()) + (await forwardIncidents(now));

  const tick = (now = Date.now()): Promise<number> => {
    busy ??= forward(now)
      .catch((err: unknown) => {
        log.warn({ err, target: `${proto}://${host}:${port}` }, 'syslog forwarding failed; will retry');
        return 0;
      })
      .finally(() => (busy = undefined));
    return busy;
  };

  const timer = setInterval(() => void tick(), opts.pollMs);
  timer.unref();
  return {
    tick,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await busy;
      udp?.close();
      tcp?.end();
    },
  };
}

/** Resolve `SYSLOG_FACILITY` names (`local0`…`local7`, `user`, `auth`…) or numbers. */
export function facilityNumber(v: string): number {
  const names: Record<string, number> = { kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, authpriv: 10, security: 13 };
  for (let i = 0; i < 8; i++) names[`local${i}`] = 16 + i;
  const n = /^\d+$/.test(v) ? Number(v) : names[v.toLowerCase()];
  if (n === undefined || n < 0 || n > 23) throw new Error(`unknown syslog facility ${v}`);
  return n;
}
