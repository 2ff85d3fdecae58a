import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { HitRow, IncidentRow } from '../../src/db/schema.ts';
import { hitToCef, incidentToCef, syslog5424 } from '../../src/siem/cef.ts';
import { getFrom } from '../alerts/support.ts';
import { eq } from 'drizzle-orm';
import { listHits } from '../../src/db/queries/hits.ts';
import { shared } from '../../src/db/store.ts';
import { auth, makeToken, startTestServer } from '../helpers.ts';

/** Parse an RFC 5424 line into its header fields and the CEF message. */
function parse5424(line: string) {
  const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) - (.*)$/.exec(line);
  if (!m) throw new Error(`not RFC 5424: ${line}`);
  const [, pri, ts, host, app, , msgid, msg] = m;
  return { pri: Number(pri), ts, host, app, msgid, msg: msg ?? '' };
}

/** Parse a CEF:0 message: 7 header fields (with \| escapes) and key=value extensions. */
function parseCef(msg: string) {
  const parts: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < msg.length && parts.length < 7; i++) {
    const c = msg[i];
    if (c === '\\') cur += msg[++i];
    else if (c === '|') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  const ext: Record<string, string> = {};
  const rest = msg.slice(i);
  for (const m of rest.matchAll(/(\w+)=((?:\\.|[^\\=])*?)(?=\s\w+=|$)/g)) ext[m[1] ?? ''] = (m[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return { header: parts, ext };
}

/** A SIEM listening on UDP (every datagram kept) and a server forwarding to it, polled by hand. */
async function udpSiemAndServer() {
  const udp = createSocket('udp4');
  const got: string[] = [];
  udp.on('message', (m) => got.push(m.toString('utf8')));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  const s = await startTestServer({ SYSLOG_URL: `udp://127.0.0.1:${udp.address().port}`, SYSLOG_POLL_MS: '60000' });
  return { udp, got, s };
}

describe('SIEM syslog forwarding', () => {
  it('sends each hit as CEF over UDP, with attacker text unable to forge fields', async () => {
    const { udp, got, s } = await udpSiemAndServer();
    try {
      const { token, url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug', name: 'HR|salaries', location: '\\\\fs01\\hr' });
      await fetch(url!, { headers: { 'user-agent': 'evil cs1=forged | pipe \\ back' } });
      // The hit, then the incident it opened, at once.
      expect(await s.app.forwarder?.tick()).toBe(2);
      for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(got).toHaveLength(2);
      expect(got.map((l) => parse5424(l).msgid)).toEqual(['HIT', 'INCIDENT']);
      const line = parse5424(got[0] ?? '');
      expect(line.pri).toBe(20 * 8 + 2);
      expect(line.app).toBe('honeytrail');
      expect(line.msgid).toBe('HIT');
      const cef = parseCef(line.msg);
      expect(cef.header.slice(0, 5)).toEqual(['CEF:0', 'Honeytrail', 'Honeytrail', '0.1', 'hit:web-bug']);
      expect(cef.header[5]).toBe('Honeytoken triggered: HR|salaries');
      expect(cef.ext.cs1).toBe(token.id);
      expect(cef.ext.src).toBe('127.0.0.1');
      expect(cef.ext.requestClientApplication).toBe('evil cs1=forged | pipe \\ back');
      expect(cef.ext.cs2).toBe('\\\\fs01\\hr');
      // Nothing new: nothing sent again.
      expect(await s.app.forwarder?.tick()).toBe(0);
    } finally {
      await s.stop();
      udp.close();
    }
  });

  it('escapes line breaks so one hit is always one line', () => {
    const hit = { id: 1, at: new Date(0), tokenId: 't', channel: 'smtp', classification: 'alert', mailSubject: null, qname: 'a\nb', userAgent: 'x\r\nCEF:0|forged' } as unknown as HitRow;
    const line = syslog5424(hitToCef(hit, undefined, '0.1'), { facility: 20, severity: 2, hostname: 'h', msgid: 'HIT', at: new Date(0) });
    expect(line).not.toMatch(/[\r\n]/);
    const cef = parseCef(parse5424(line).msg);
    expect(cef.ext.requestClientApplication).toBe('x\nCEF:0|forged');
    expect(cef.ext.request).toBe('a\nb');
    // A relay is never `src`: a resolver's or mail server's address goes to flexString1, so a playbook isolating `src` cannot hit a domain controller.
    const viaResolver = parseCef(hitToCef({ ...hit, channel: 'dns', sourceIp: '10.0.0.53', sourcePort: 53 } as HitRow, undefined, '0.1'));
    expect(viaResolver.ext).toMatchObject({ flexString1Label: 'dnsResolver', flexString1: '10.0.0.53' });
    expect(viaResolver.ext.src).toBeUndefined();
    expect(parseCef(hitToCef({ ...hit, channel: 'http', sourceIp: '10.1.2.3' } as HitRow, undefined, '0.1')).ext.src).toBe('10.1.2.3');

    // Incident lines too: actor labels and summaries come from attacker-chosen host and user names.
    const incident = { id: 7, actorKey: 'host:ws|01', actorLabel: 'WS|01\r\nCEF:0|forged', firstAt: new Date(0), lastAt: new Date(0), updatedAt: new Date(0), hitCount: 1, tokenCount: 1, hostCount: 1, locationCount: 1, machineCount: 1, severity: 'low', status: 'open', lateral: false, techniques: [], summary: 'a=b\nc', reasons: [], mergedInto: null, alertGroup: null } as unknown as IncidentRow;
    const iline = syslog5424(incidentToCef(incident, '0.1'), { facility: 20, severity: 5, hostname: 'h', msgid: 'INCIDENT', at: new Date(0) });
    expect(iline).not.toMatch(/[\r\n]/);
    const icef = parseCef(parse5424(iline).msg);
    expect(icef.header).toHaveLength(7);
    expect(icef.ext).toMatchObject({ cs1: 'WS|01\nCEF:0|forged', shost: 'ws|01', msg: 'a=b\nc' });
  });

  it('sends octet-counted frames over TCP and resumes after the SIEM was down', async () => {
    const frames: string[] = [];
    let buf = '';
    const server = createServer((sock) =>
      sock.on('data', (d) => {
        buf += d.toString('utf8');
        for (let m = /^(\d+) /.exec(buf); m; m = /^(\d+) /.exec(buf)) {
          const len = Number(m[1]);
          const start = (m[1] ?? '').length + 1;
          if (Buffer.byteLength(buf) < start + len) break;
          frames.push(buf.slice(start, start + len));
          buf = buf.slice(start + len);
        }
      }),
    );
    // Reserve a port, then close it: the SIEM is "down" when the first hits happen.
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));

    const s = await startTestServer({ SYSLOG_URL: `tcp://127.0.0.1:${port}`, SYSLOG_POLL_MS: '60000' });
    try {
      const { url } = await makeToken(s.app.deps.db, s.config, { kind: 'web-bug' });
      await fetch(url!);
      await fetch(url!);
      expect(await s.app.forwarder?.tick(Date.now() + 1000)).toBe(0); // refused: nothing forwarded, nothing lost
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      expect(await s.app.forwarder?.tick(Date.now() + 1000)).toBe(3); // two hits, their incident
      for (let i = 0; i < 50 && frames.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      expect(frames).toHaveLength(3);
      expect(frames.map((f) => parse5424(f).msgid)).toEqual(['HIT', 'HIT', 'INCIDENT']);
      for (const f of frames) expect(parseCef(parse5424(f).msg).header[0]).toBe('CEF:0');
    } finally {
      await s.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('sends each incident when it opens and again when it changes: lateral movement, severity, techniques, status', async () => {
    const { udp, got, s } = await udpSiemAndServer();
    const received = async (n: number) => {
      for (let i = 0; i < 100 && got.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      return got.map((l) => parse5424(l));
    };
    try {
      const db = s.app.deps.db;
      const a = await makeToken(db, s.config, { kind: 'web-bug', name: 'payroll.xlsx', location: '\\\\FS01\\finance\\payroll.xlsx', plantedHost: 'FS01' });
      // vpn.txt sits on WS-IT-01's own disk: fetched from 127.0.0.2 it is a hop (lateral movement).
      const b = await makeToken(db, s.config, { kind: 'web-bug', name: 'vpn.txt', location: 'C:\\Users\\it\\vpn.txt', plantedHost: 'WS-IT-01' });
      expect(await getFrom(a.url ?? '', '127.0.0.2')).toBe(200);
      expect(await s.app.forwarder?.tick(Date.now() + 1000)).toBe(2);
      expect(await getFrom(b.url ?? '', '127.0.0.2')).toBe(200);
      expect(await s.app.forwarder?.tick(Date.now() + 1000)).toBe(2);
      const lines = await received(4);
      expect(lines.map((l) => l.msgid)).toEqual(['HIT', 'INCIDENT', 'HIT', 'INCIDENT']);

      const opened = parseCef(lines[1]?.msg ?? '');
      const moved = parseCef(lines[3]?.msg ?? '');
      expect(opened.ext.cn1).toBe(moved.ext.cn1);
      expect(moved.header.slice(0, 5)).toEqual(['CEF:0', 'Honeytrail', 'Honeytrail', '0.1', 'incident:critical']);
      expect(moved.header[6]).toBe('10');
      expect(lines[3]?.pri).toBe(20 * 8 + 2);
      expect(moved.ext).toMatchObject({ src: '127.0.0.2', cnt: '2', cn2: '2', cn3: '2', cs2: 'critical', cs3: 'true', cs6: 'touch,first-seen,hop', flexNumber1: '2', act: 'open', externalId: `incident-${moved.ext.cn1}` });
      expect(moved.ext.msg).toBe('decoy from WS-IT-01\'s own storage ("vpn.txt") touched from 127.0.0.2');
      expect(opened.ext).toMatchObject({ cnt: '1', cs3: 'false', cs6: 'touch,first-seen' });
      expect(moved.ext.cs4?.split(',')).toEqual(['T1005', 'T1039']);
      // Hit lines carry the incident id the SIEM joins on.
      expect(parseCef(lines[2]?.msg ?? '').ext.cn1).toBe(moved.ext.cn1);

      // A status change is a change: sent at once, and once.
      const res = await fetch(`${s.adminUrl}/api/v1/incidents/${moved.ext.cn1}`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ status: 'acknowledged' }) });
      expect(res.status).toBe(200);
      const changedAt = Date.parse(((await res.json()) as { updatedAt: string }).updatedAt);
      expect(await s.app.forwarder?.tick(changedAt + 100)).toBe(1);
      expect(await s.app.forwarder?.tick(changedAt + 200)).toBe(0);
      const acked = (await received(5))[4];
      expect(acked?.msgid).toBe('INCIDENT');
      expect(parseCef(acked?.msg ?? '').ext).toMatchObject({ cn1: moved.ext.cn1, act: 'acknowledged', cs2: 'critical' });

      // Another actor's incident whose change carries an earlier time than the one just sent
      // (its writer read the clock first and committed later): the cursor stayed behind the
      // settle window, so it is still sent.
      expect(await getFrom(a.url ?? '', '127.0.0.3')).toBe(200);
      const [late] = await listHits(db, { tokenId: a.token.id, limit: 1 });
      const { db: q, t } = shared(db);
      await q.update(t.incidents).set({ updatedAt: new Date(changedAt - 1000) }).where(eq(t.incidents.id, late?.incidentId ?? -1));
      expect(await s.app.forwarder?.tick(changedAt + 300)).toBe(2);
      const [, lateIncident] = (await received(7)).slice(5);
      expect(lateIncident?.msgid).toBe('INCIDENT');
      expect(parseCef(lateIncident?.msg ?? '').ext).toMatchObject({ cn1: String(late?.incidentId), src: '127.0.0.3' });
      // Once past the window everything is settled, and nothing is sent twice.
      expect(await s.app.forwarder?.tick(Date.now() + 60_000)).toBe(0);
    } finally {
      await s.stop();
      udp.close();
    }
  });
});
