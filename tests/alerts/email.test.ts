import { afterEach, describe, expect, it } from 'vitest';
import { insertAsset } from '../../src/db/queries/assets.ts';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { importIndicators } from '../../src/db/queries/intel.ts';
import { listIncidents } from '../../src/db/queries/incidents.ts';
import { freePort, makeToken, rawQuery, startTestServer, type TestServer } from '../helpers.ts';
import { getFrom, smtpSink, waitFor } from './support.ts';

const ADMIN = 'https://ht.corp.example';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(env: Record<string, string> = {}) {
  const sink = await smtpSink();
  const srv = await startTestServer({
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    ALERT_TO: 'soc@corp.example',
    ALERT_FROM: 'Honeytrail <honeytrail@corp.example>',
    ADMIN_URL: ADMIN,
    ALERT_POLL_MS: '50',
    ALERT_RETRY_BASE_MS: '50',
    ...env,
  });
  cleanups.push(() => sink.close(), () => srv.stop());
  return { sink, srv };
}

const db = (s: TestServer) => s.app.deps.db;

describe('email alerts (real SMTP server, parsed mail)', () => {
  it('mails subject, HTML and text parts with the trail table, to token recipients and ALERT_TO', async () => {
    const { sink, srv } = await setup();
    await insertAsset(db(srv), { cidr: '127.0.0.2', hostname: 'WS-ACCT-07', label: 'WS-ACCT-07', segment: 'Finance VLAN', criticality: 'high' });
    const { token, url } = await makeToken(db(srv), srv.config, {
      kind: 'web-bug',
      name: 'Q3 forecast link',
      location: '\\\\fs01\\finance\\Q3',
      plantedHost: 'FS01',
      alertEmails: ['owner@corp.example'],
    });
    expect(await getFrom(url ?? '', '127.0.0.2')).toBe(200);
    await waitFor(() => sink.mails.length >= 2, 10_000, 'two mails');
    const recipients = sink.mails.flatMap((m) => m.rcptTo).sort();
    expect(recipients).toEqual(['owner@corp.example', 'soc@corp.example']);
    const { mail } = sink.mails[0] ?? expect.fail('no mail');
    expect(mail.subject).toMatch(/^\[Honeytrail #\d+\] \[HIGH\] Decoy touched: "Q3 forecast link" by WS-ACCT-07 \(127\.0\.0\.2\)$/);
    expect(mail.from?.text).toContain('honeytrail@corp.example');
    const html = String(mail.html);
    const text = mail.text ?? '';
    for (const part of [html, text]) {
      expect(part).toContain('\\\\fs01\\finance\\Q3');
      expect(part).toContain('FS01');
      expect(part).toContain('Finance VLAN');
      // Reading a decoy on a file share is collection from a shared drive.
      expect(part).toContain('T1039');
      expect(part).toContain('Data from Network Shared Drive');
      expect(part).toContain(`${ADMIN}/incidents/`);
      expect(part).toContain(`${ADMIN}/tokens/${token.id}`);
      expect(part).toMatch(/Identify the machine behind|Isolate host WS-ACCT-07/);
      expect(part).toContain('Check logon events on FS01');
    }
    // Readable on a phone: a viewport and one fluid column.
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).not.toMatch(/width="\d{3,}"/);
    // The trail: one row with time, source machine, what happened in words, decoy and where it was planted.
    expect(html).toMatch(/<table class="trail"[\s\S]*<strong>WS-ACCT-07 \(127\.0\.0\.2\)<\/strong><br>a program on Windows fetched the link<br>[\s\S]*Q3 forecast link/);
    expect(text).toMatch(/TRAIL \(1 event\(s\)[\s\S]*\| WS-ACCT-07 \(127\.0\.0\.2\) \| a program on Windows fetched the link \| Q3 forecast link \| \\\\fs01\\finance\\Q3 on FS01/);
    const trailTable = html.slice(html.indexOf('<table class="trail"'), html.indexOf('</table>', html.indexOf('<table class="trail"')));
    expect(trailTable).not.toContain('GET /');
    // The worker records each delivery just after the sink accepted it.
    await waitFor(async () => (await listAlerts(db(srv), { status: 'sent', limit: 10 })).length === 2, 5000, 'both rows sent');
  });

  it('escapes hostile token names and strips CRLF from headers', async () => {
    const { sink, srv } = await setup();
    const hostile = '<img src=x onerror=alert(1)>\r\nBcc: victim@evil.example\r\nX-Evil: 1';
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'ok', location: '<script>alert(2)</script>' });
    // Names are validated by the token API; write a hostile one the way a future importer might.
    await rawQuery(db(srv), 'update tokens set name = ?', hostile);
    await getFrom(url ?? '', '127.0.0.3', { 'User-Agent': '"><svg onload=alert(3)>' });
    await waitFor(() => sink.mails.length >= 1, 10_000, 'mail');
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.mails).toHaveLength(1);
    const m = sink.mails[0] ?? expect.fail('no mail');
    expect(m.rcptTo).toEqual(['soc@corp.example']);
    expect(m.mail.headers.get('x-evil')).toBeUndefined();
    expect(m.mail.bcc).toBeUndefined();
    expect(m.mail.subject).toContain('<img src=x onerror=alert(1)> Bcc: victim@evil.example X-Evil: 1');
    expect(m.mail.subject).not.toMatch(/[\r\n]/);
    const html = String(m.mail.html);
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>alert(2)');
    expect(html).not.toContain('<svg onload');
    expect(html).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
    expect(html).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
    expect(m.mail.text).toContain('<img src=x onerror=alert(1)> Bcc: victim@evil.example X-Evil: 1');
  });

  it('a share decoy, then a decoy from a laptop\'s own disk, touched from one source: one intrusion, a hop, CRITICAL, one mail thread', async () => {
    const { sink, srv } = await setup({ ALERT_DIGEST_SECONDS: '0' });
    const a = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'Finance share bookmark', location: '\\\\fs01\\finance', plantedHost: 'FS01' });
    const b = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'HR laptop note', location: 'C:\\Users\\hr\\Desktop', plantedHost: 'WS-HR-02' });
    await getFrom(a.url ?? '', '127.0.0.2');
    await waitFor(() => sink.mails.length >= 1, 10_000, 'first mail');
    await getFrom(b.url ?? '', '127.0.0.2');
    const last = await waitFor(() => sink.mails.find((m) => m.mail.subject?.includes('[CRITICAL]')), 10_000, 'CRITICAL mail');
    const first = sink.mails[0]?.mail ?? expect.fail('no first mail');
    const { items } = await listIncidents(db(srv), { limit: 10 });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ severity: 'critical', lateral: true, tokenCount: 2, hostCount: 2, locationCount: 2, hitCount: 2, machineCount: 2 });
    expect(last.mail.subject).toBe(`[Honeytrail #${items[0]?.id}] [CRITICAL] Update (+1): Lateral movement: WS-HR-02 → 127.0.0.2 (decoy from WS-HR-02's own storage ("HR laptop note") touched from 127.0.0.2)`);
    expect(first.subject).toMatch(new RegExp(`^\\[Honeytrail #${items[0]?.id}\\] \\[HIGH\\]`));
    expect(last.mail.inReplyTo).toBe(first.messageId);
    for (const part of [String(last.mail.html), last.mail.text ?? '']) {
      expect(part).toContain('\\\\fs01\\finance');
      expect(part).toContain('C:\\Users\\hr\\Desktop');
      expect(part).toContain('FS01');
      expect(part).toContain('WS-HR-02 → 127.0.0.2');
      expect(part).toContain('T1005');
      expect(part).toContain('T1039');
    }
  });

  it('a public source off-hours on threat intel: why this severity in evidence, context and intel, and the network owner from the shipped database', async () => {
    // Working hours that never include now: every hit is off-hours.
    const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][(new Date().getUTCDay() + 3) % 7];
    const { sink, srv } = await setup({ TRUST_PROXY: 'loopback', WORKING_HOURS: `${day} 08:00-18:00 UTC` });
    await importIndicators(db(srv), [{ type: 'ip', value: '8.8.8.8', label: 'APT-TEST' }]);
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'VPN howto', location: '\\\\fs01\\it' });
    expect(await getFrom(url ?? '', '127.0.0.1', { 'X-Forwarded-For': '8.8.8.8' })).toBe(200);
    const { mail } = await waitFor(() => sink.mails[0], 10_000, 'mail');
    // A touch with context and intel: critical only because threat intel names the source.
    expect(mail.subject).toMatch(/^\[Honeytrail #\d+\] \[CRITICAL\] /);
    const text = mail.text ?? '';
    expect(text).toContain('Network owner: AS15169 Google LLC, US');
    const why = text.slice(text.indexOf('WHY CRITICAL'));
    const lines = why.split('\n').filter((l) => l.startsWith('  - ['));
    expect(lines.map((l) => /^  - \[(\w+)\] ([\w-]+):/.exec(l)?.slice(1, 3).join(' '))).toEqual(['evidence touch', 'context external', 'context off-hours', 'context first-seen', 'intel intel']);
    expect(String(mail.html)).toContain('AS15169 Google LLC, US');
  });

  it('SMTP down when the hit arrives, then up: delivered exactly once', async () => {
    const { port } = await freePort();
    const srv = await startTestServer({ SMTP_URL: `smtp://127.0.0.1:${port}`, ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50', ALERT_RETRY_BASE_MS: '100' });
    cleanups.push(() => srv.stop());
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'outage test' });
    await getFrom(url ?? '');
    const failed = await waitFor(async () => (await listAlerts(db(srv), { limit: 5 })).find((a) => a.status === 'failed' && a.attempts >= 1), 10_000, 'failed attempt');
    expect(failed.lastError).toMatch(/ECONNREFUSED|connect/i);
    const sink = await smtpSink(port);
    cleanups.push(() => sink.close());
    await waitFor(() => sink.mails.length >= 1, 15_000, 'delivery after SMTP came up');
    await waitFor(async () => (await listAlerts(db(srv), { status: 'sent', limit: 5 })).length === 1, 5000, 'row marked sent');
    // A few more poll cycles must not send it again.
    await new Promise((r) => setTimeout(r, 400));
    expect(sink.mails).toHaveLength(1);
  });

  it('a restart between hit and delivery: delivered exactly once by the new process', async () => {
    const sink = await smtpSink();
    cleanups.push(() => sink.close());
    const env = { SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50' };
    const first = await startTestServer({ ...env, ALERT_WORKER_ENABLED: 'false' }, undefined, { sqlite: true });
    const { url } = await makeToken(db(first), first.config, { kind: 'web-bug', name: 'restart test' });
    await getFrom(url ?? '');
    expect(await listAlerts(db(first), { status: 'pending', limit: 5 })).toHaveLength(1);
    await first.app.close();
    expect(sink.mails).toHaveLength(0);
    const second = await startTestServer(env, first.dir, { sqlite: true });
    cleanups.push(async () => {
      await second.stop();
      await first.stop();
    });
    await waitFor(() => sink.mails.length >= 1, 10_000, 'delivery after restart');
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.mails).toHaveLength(1);
    expect(await listAlerts(db(second), { status: 'sent', limit: 5 })).toHaveLength(1);
  });
});
