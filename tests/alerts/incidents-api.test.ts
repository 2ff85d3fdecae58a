import { afterEach, describe, expect, it } from 'vitest';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { getFrom, waitFor } from './support.ts';

let srv: TestServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${srv?.adminUrl}/api/v1${path}`, { ...init, headers: { ...auth, 'Content-Type': 'application/json', ...(init.headers ?? {}) } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('incidents API', () => {
  it('lists with filters, shows the trail with techniques and alert delivery state, acknowledges and closes', async () => {
    srv = await startTestServer({ ALERT_TO: 'soc@corp.example', ALERT_WORKER_ENABLED: 'false', TRUST_PROXY: 'loopback' });
    const db = srv.app.deps.db;
    const a = await makeToken(db, srv.config, { kind: 'web-bug', name: 'A', location: '\\\\fs01\\a', plantedHost: 'FS01' });
    const b = await makeToken(db, srv.config, { kind: 'web-bug', name: 'B', location: 'C:\\Users\\hr\\b.url', plantedHost: 'H2' });
    await getFrom(a.url ?? '', '127.0.0.2');
    await getFrom(b.url ?? '', '127.0.0.2');
    await getFrom(a.url ?? '', '127.0.0.3');
    // A link checker from a published mail-security network: stored as a scanner, severity low.
    await getFrom(a.url ?? '', '127.0.0.4', { 'X-Forwarded-For': '148.163.130.5' });

    const all = await api('/incidents');
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(3);
    const critical = await api('/incidents?severity=critical');
    type Item = { id: number; severity: string; lateral: boolean; techniques: { id: string; name: string }[]; lateralReasons: string[]; reasons: { code: string; text: string }[]; machineCount: number };
    const items = critical.body.items as Item[];
    expect(items).toHaveLength(1);
    const inc = items[0] ?? expect.fail('no incident');
    // B lived on H2's own disk: touched from 127.0.0.2 it shows the intrusion reached H2's files.
    expect(inc).toMatchObject({ severity: 'critical', lateral: true, machineCount: 2, lateralReasons: ['decoy from H2\'s own storage ("B") touched from 127.0.0.2'] });
    expect(inc.reasons.map((r) => r.code)).toEqual(['touch', 'first-seen', 'touch', 'hop']);
    expect(inc.techniques).toContainEqual({ id: 'T1005', name: 'Data from Local System', url: 'https://attack.mitre.org/techniques/T1005/' });
    expect(inc.techniques).toContainEqual({ id: 'T1039', name: 'Data from Network Shared Drive', url: 'https://attack.mitre.org/techniques/T1039/' });
    expect((await api('/incidents?severity=low')).body.total).toBe(1);
    // 127.0.0.3 touched nothing before: a touch from a first-seen machine.
    expect((await api('/incidents?severity=high')).body.total).toBe(1);
    const page = await api('/incidents?limit=2');
    expect((page.body.items as unknown[]).length).toBe(2);
    const rest = await api(`/incidents?limit=2&before=${page.body.nextBefore}`);
    expect((rest.body.items as unknown[]).length).toBe(1);

    const one = await api(`/incidents/${inc.id}`);
    expect(one.status).toBe(200);
    const trail = one.body.trail as { token: { name: string; plantedHost: string }; sourceIp: string; what: string; source: string; techniques: { id: string }[] }[];
    expect(trail.map((h) => [h.token.name, h.token.plantedHost, h.sourceIp, h.source, h.what])).toEqual([
      ['A', 'FS01', '127.0.0.2', '127.0.0.2', 'a program on Windows fetched the link'],
      ['B', 'H2', '127.0.0.2', '127.0.0.2', 'a program on Windows fetched the link'],
    ]);
    expect(trail.map((h) => h.techniques.map((x) => x.id))).toEqual([['T1039'], ['T1005']]);
    expect(one.body.path).toMatchObject({ text: 'H2 → 127.0.0.2', hops: [expect.objectContaining({ from: 'H2', to: '127.0.0.2', via: 'decoy' })] });
    expect((one.body.entities as { key: string }[]).map((e) => e.key)).toEqual(expect.arrayContaining(['ip:127.0.0.2', 'host:h2', 'hop:host:h2>ip:127.0.0.2']));
    const alerts = one.body.alerts as { channel: string; target: string; status: string; kind: string; hits: { count: number } }[];
    expect(alerts).toEqual([expect.objectContaining({ channel: 'email', target: 'soc@corp.example', status: 'pending', kind: 'first', hits: expect.objectContaining({ count: 2 }) })]);
    expect((await api('/alerts?status=pending')).body.items).toHaveLength(2);

    const ack = await api(`/incidents/${inc.id}`, { method: 'PATCH', body: JSON.stringify({ status: 'acknowledged' }) });
    expect(ack.body.status).toBe('acknowledged');
    expect((await api('/incidents?status=acknowledged')).body.total).toBe(1);
    const closed = await api(`/incidents/${inc.id}`, { method: 'PATCH', body: JSON.stringify({ status: 'closed' }) });
    expect(closed.body.status).toBe('closed');
    // After closing, the same actor's next touch opens a new incident.
    await getFrom(b.url ?? '', '127.0.0.2');
    await waitFor(async () => (await api('/incidents')).body.total === 4, 5000, 'new incident');

    const bad = await api(`/incidents/${inc.id}`, { method: 'PATCH', body: JSON.stringify({ status: 'resolved', extra: 1 }) });
    expect(bad.status).toBe(400);
    expect(Object.keys((bad.body.error as { fields: Record<string, string> }).fields)).toEqual(expect.arrayContaining(['status']));
    expect((await api('/incidents?severity=urgent')).status).toBe(400);
    expect((await api('/incidents/999999')).status).toBe(404);
    expect((await api('/incidents/abc')).status).toBe(400);
  });
});
