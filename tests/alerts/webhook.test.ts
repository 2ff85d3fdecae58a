import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { isPrivateAddress, vetTarget, webhookFormat } from '../../src/alerts/webhook.ts';
import { auth, makeToken, startTestServer, type TestServer } from '../helpers.ts';
import { getFrom, smtpSink, waitFor, webhookReceiver } from './support.ts';

const SECRET = 'whsec_0123456789abcdef';
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
const db = (s: TestServer) => s.app.deps.db;

type Body = Record<string, unknown> & { schema?: string };

describe('webhooks', () => {
  it('posts every format; generic JSON is signed with HMAC-SHA256 of the body', async () => {
    const rx = await webhookReceiver();
    const srv = await startTestServer({ WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE: '127.0.0.1', WEBHOOK_URLS: `${rx.url}/generic`, ALERT_POLL_MS: '50' });
    cleanups.push(() => rx.close(), () => srv.stop());
    const { token, url } = await makeToken(db(srv), srv.config, {
      kind: 'web-bug',
      name: 'Payroll export link',
      location: '\\\\fs01\\hr',
      plantedHost: 'FS01',
      webhooks: [`${rx.url}/slack#format=slack`, `${rx.url}/teams#format=teams`, `${rx.url}/discord#format=discord`],
    });
    await getFrom(url ?? '', '127.0.0.9');
    await waitFor(() => rx.requests.length >= 4, 10_000, 'four webhook posts');
    const by = (p: string) => rx.requests.find((r) => r.path === p) ?? expect.fail(`no request to ${p}`);

    const generic = by('/generic');
    const sig = createHmac('sha256', SECRET).update(generic.body).digest('hex');
    expect(generic.headers['x-honeytrail-signature']).toBe(`sha256=${sig}`);
    expect(generic.headers['content-type']).toBe('application/json');
    const g = JSON.parse(generic.body) as Body;
    expect(g).toMatchObject({
      schema: 'honeytrail.alert/v1',
      event: 'alert.first',
      severity: 'high',
      decoy: { id: token.id, name: 'Payroll export link', location: '\\\\fs01\\hr', plantedHost: 'FS01' },
      actor: { ip: '127.0.0.9' },
      links: { token: expect.stringContaining(`/tokens/${token.id}`), incident: expect.stringMatching(/\/incidents\/\d+$/) },
    });
    // A share decoy read: collection from a network share, said in words with its source.
    expect((g.techniques as { id: string; name: string }[]).map((t) => [t.id, t.name])).toEqual([['T1039', 'Data from Network Shared Drive']]);
    expect((g.hits as unknown[]).length).toBe(1);
    expect(g.trail).toEqual([expect.objectContaining({ what: 'a program on Windows fetched the link', source: '127.0.0.9', techniques: ['T1039'] })]);
    expect(g.thread).toMatch(/^\[Honeytrail #\d+\]$/);
    expect(g.path).toMatchObject({ text: '127.0.0.9', hops: [] });

    const s = JSON.parse(by('/slack').body) as { text: string; blocks: { type: string }[] };
    expect(s.text).toMatch(/^\[Honeytrail #\d+\] \[HIGH\] Decoy touched/);
    expect(s.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'section', 'section', 'context', 'actions']);
    // Why this severity, evidence then context.
    expect(JSON.stringify(s.blocks[3])).toMatch(/Why HIGH.*evidence\/touch: .*context\/first-seen: 127\.0\.0\.9 had touched no decoy/);

    const t = JSON.parse(by('/teams').body) as { type: string; attachments: { contentType: string; content: { type: string; version: string; body: { type: string }[]; actions: { url: string }[] } }[] };
    expect(t.type).toBe('message');
    expect(t.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(t.attachments[0]?.content).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    expect(t.attachments[0]?.content.body.some((b) => b.type === 'FactSet')).toBe(true);

    const d = JSON.parse(by('/discord').body) as { embeds: { title: string; color: number; fields: { name: string; value: string }[] }[]; allowed_mentions: unknown };
    // Discord markdown escapes (tests/alerts/markup.test.ts): `\[HIGH\]` shows as [HIGH], `\\\\fs01\\hr` as \\fs01\hr.
    expect(d.embeds[0]?.title).toMatch(/^\\\[Honeytrail #\d+\\\] \\\[HIGH\\\]/);
    expect(d.embeds[0]?.fields.find((f) => f.name === 'Planted')?.value).toBe('\\\\\\\\fs01\\\\hr on FS01');
    expect(d.allowed_mentions).toEqual({ parse: [] });

    await waitFor(async () => (await listAlerts(db(srv), { status: 'sent', limit: 10 })).length === 4, 5000, 'all rows sent');
  });

  it('refuses private targets unless allow-listed (SSRF guard), and does not follow redirects', async () => {
    const rx = await webhookReceiver();
    const redirecting = await webhookReceiver(302);
    const srv = await startTestServer({ ALERT_POLL_MS: '50', ALERT_RETRY_BASE_MS: '60000' });
    cleanups.push(() => rx.close(), () => redirecting.close(), () => srv.stop());
    const { url } = await makeToken(db(srv), srv.config, { kind: 'web-bug', name: 'ssrf', webhooks: [rx.url, `http://localhost:${new URL(rx.url).port}/x`] });
    await getFrom(url ?? '');
    const rows = await waitFor(async () => {
      const r = await listAlerts(db(srv), { limit: 10 });
      return r.length === 2 && r.every((a) => a.status === 'failed') ? r : null;
    }, 10_000, 'both refused');
    for (const r of rows) expect(r.lastError).toMatch(/refused: .* resolves to non-public address (127\.0\.0\.1|::1)/);
    expect(rx.requests).toHaveLength(0);

    expect(isPrivateAddress('10.1.2.3')).toBe(true);
    expect(isPrivateAddress('169.254.169.254')).toBe(true);
    expect(isPrivateAddress('::1')).toBe(true);
    expect(isPrivateAddress('fd00::1')).toBe(true);
    expect(isPrivateAddress('::ffff:192.168.1.1')).toBe(true);
    expect(isPrivateAddress('100.64.0.1')).toBe(true);
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(await vetTarget(new URL('http://169.254.169.254/latest'), [])).toMatchObject({ ok: false });
    expect(await vetTarget(new URL('http://127.0.0.1:9/'), ['127.0.0.0/8'])).toMatchObject({ ok: true, address: '127.0.0.1' });
    expect(await vetTarget(new URL('http://localhost:9/'), ['localhost'])).toMatchObject({ ok: true });

    // Allowed, but the receiver redirects: not followed, recorded as a failure.
    const srv2 = await startTestServer({ ALERT_POLL_MS: '50', ALERT_RETRY_BASE_MS: '60000', WEBHOOK_ALLOW_PRIVATE: '127.0.0.1' });
    cleanups.push(() => srv2.stop());
    const t2 = await makeToken(db(srv2), srv2.config, { kind: 'web-bug', name: 'redirect', webhooks: [redirecting.url] });
    await getFrom(t2.url ?? '');
    const row = await waitFor(async () => (await listAlerts(db(srv2), { status: 'failed', limit: 5 }))[0], 10_000, 'redirect failure');
    expect(row.lastError).toMatch(/redirect to http:\/\/127\.0\.0\.1:9\/elsewhere not followed/);
    expect(redirecting.requests).toHaveLength(1);
  });

  it('picks the format from the host or an explicit #format=', () => {
    expect(webhookFormat('https://hooks.slack.com/services/T0/B0/x')).toBe('slack');
    expect(webhookFormat('https://corp.webhook.office.com/webhookb2/x')).toBe('teams');
    expect(webhookFormat('https://prod-01.westeurope.logic.azure.com/workflows/x')).toBe('teams');
    expect(webhookFormat('https://discord.com/api/webhooks/1/abc')).toBe('discord');
    expect(webhookFormat('https://siem.corp.example/hook')).toBe('json');
    expect(webhookFormat('https://chat.corp.example/hook#format=slack')).toBe('slack');
  });
});

describe('drill', () => {
  it('POST /api/v1/alerts/test sends a test alert through every configured channel and reports each', async () => {
    const sink = await smtpSink();
    const rx = await webhookReceiver();
    const srv = await startTestServer({
      SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      ALERT_TO: 'soc@corp.example',
      WEBHOOK_URLS: rx.url,
      WEBHOOK_SECRET: SECRET,
      WEBHOOK_ALLOW_PRIVATE: '127.0.0.1',
    });
    cleanups.push(() => sink.close(), () => rx.close(), () => srv.stop());
    const res = await fetch(`${srv.adminUrl}/api/v1/alerts/test`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ webhooks: ['http://10.0.0.1/hook'] }) });
    const body = (await res.json()) as { ok: boolean; results: { channel: string; target: string; ok: boolean; error?: string }[] };
    expect(res.status).toBe(502); // one target (10.0.0.1, private) is refused
    expect(body.ok).toBe(false);
    expect(body.results.map((r) => [r.channel, r.target, r.ok])).toEqual([
      ['email', 'soc@corp.example', true],
      ['webhook', 'http://10.0.0.1/hook', false],
      ['webhook', rx.url, true],
    ]);
    expect(sink.mails).toHaveLength(1);
    expect(sink.mails[0]?.mail.subject).toMatch(/^\[TEST\] Drill: Lateral movement: /);
    expect(sink.mails[0]?.mail.text).toContain('Q3 board pack (TEST)');
    expect(JSON.parse(rx.requests[0]?.body ?? '{}')).toMatchObject({ schema: 'honeytrail.alert/v1', event: 'alert.test' });
    const stored = await listAlerts(db(srv), { limit: 10 });
    expect(stored.map((a) => [a.kind, a.status]).sort()).toEqual([
      ['test', 'failed'],
      ['test', 'sent'],
      ['test', 'sent'],
    ]);
  });
});
