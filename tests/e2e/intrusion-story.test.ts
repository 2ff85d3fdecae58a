import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { unzipSync } from 'fflate';
import type { ParsedMail } from 'mailparser';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathOf, pathSvg } from '../../src/alerts/path.ts';
import { listHits } from '../../src/db/queries/hits.ts';
import { getIncident, incidentEntities, listIncidents } from '../../src/db/queries/incidents.ts';
import { auth, rawQuery, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { smtpSink, waitFor, webhookReceiver, type ReceivedMail } from '../alerts/support.ts';
import { hostProxy, type HostProxy } from './host-proxy.ts';
import { explorerLookup } from '../tokens/explorer.ts';
import { soffice } from '../soffice.ts';

/**
 * The intrusion issue's story, with real clients, end to end: CORP\m.keller on WS-22 opens a
 * planted Word document from \\FS01\finance (LibreOffice fetches its image), browses a decoy
 * folder on \\FS02\hr (dig resolves the desktop.ini lookup), then the AWS keys planted in
 * WS-22's home folder are used from JUMP01 (the AWS SDK reading the planted files), the
 * planted VPN password is tried from JUMP01 (with a crawler's user agent), and m.keller's
 * mailbox mails the planted address (nodemailer through the SMTP listener). Around it, noise:
 * a link checker from a published mail-security range, an ignore-listed range, a resolver
 * echo, 15 sources on one web bug, 30 invented computer names through one resolver.
 * Machines are simulated by reverse proxies adding X-Forwarded-For (TRUST_PROXY=loopback).
 */
const run = promisify(execFile);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const CONVERT_TIMEOUT_MS = 150_000;
const GROUP_AFTER = 3;

let s: TestServer;
let sink: Awaited<ReturnType<typeof smtpSink>>;
let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
const proxies: Record<string, HostProxy> = {};
const tmp = tempDir('honeytrail-story-');

beforeAll(async () => {
  sink = await smtpSink();
  hooks = await webhookReceiver();
  for (const [name, ip] of [['WS-22', '10.20.4.22'], ['JUMP01', '10.30.0.10'], ['CHECKER', '40.107.22.33'], ['SCANBOX', '10.99.0.5']] as const) proxies[name] = await hostProxy(ip);
  s = await startTestServer({
    PUBLIC_URL: proxies['WS-22']?.url ?? '',
    TRUST_PROXY: 'loopback',
    SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    ALERT_TO: 'soc@corp.example',
    WEBHOOK_URLS: `${hooks.url}/json`,
    WEBHOOK_ALLOW_PRIVATE: '127.0.0.1',
    ALERT_POLL_MS: '50',
    ALERT_DIGEST_SECONDS: '2',
    ALERT_GROUP_AFTER: String(GROUP_AFTER),
    IGNORE_CIDRS: '10.99.0.0/16',
    LOG_LEVEL: 'silent',
  });
  for (const p of Object.values(proxies)) p.target = s.app.port('public');
  for (const [hostname, cidr, segment] of [['WS-22', '10.20.4.22', 'Clients'], ['FS01', '10.10.0.11', 'Servers'], ['FS02', '10.10.0.12', 'Servers'], ['JUMP01', '10.30.0.10', 'Admin']]) {
    await api('/assets', { hostname, cidr, label: hostname, segment });
  }
}, 60_000);

afterAll(async () => {
  await s?.stop();
  for (const p of Object.values(proxies)) await p.close();
  await sink?.close();
  await hooks?.close();
  tmp.cleanup();
});

async function api(path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${s.adminUrl}/api/v1${path}`, { method: body ? 'POST' : 'GET', headers: { ...auth, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface Planted {
  id: string;
  url?: string;
  hostname?: string;
  email?: string;
  file?: Buffer;
}

async function plant(kind: string, name: string, location: string | null, plantedHost: string | null, params: Record<string, unknown> = {}): Promise<Planted> {
  const created = (await api('/tokens', { kind, name, ...(location ? { location } : {}), ...(plantedHost ? { plantedHost } : {}), params })) as { token: { id: string }; artifact: { url?: string; hostname?: string; email?: string; download?: string } };
  const out: Planted = { id: created.token.id, url: created.artifact.url, hostname: created.artifact.hostname, email: created.artifact.email };
  if (created.artifact.download) out.file = Buffer.from(await (await fetch(`${s.adminUrl}${created.artifact.download}`, { headers: auth })).arrayBuffer());
  return out;
}

/** LibreOffice converting the document: it loads it exactly as opening does, fetching the linked image. */
async function convert(file: string): Promise<number | null> {
  return (await soffice(tmp.dir, ['--convert-to', 'txt:Text', file], join(tmp.dir, 'out'), CONVERT_TIMEOUT_MS)).code;
}

const dig = (name: string) => run('dig', ['@127.0.0.1', '-p', String(s.app.port('dns')), '+tries=1', '+time=3', '+short', name, 'A']);

/** Mails whose subject carries the thread tag of incident `id`. */
const threadOf = (id: number) => sink.mails.filter((m) => m.mail.subject?.startsWith(`[Honeytrail #${id}] `));
const mailsAbout = (re: RegExp) => sink.mails.filter((m) => re.test(m.mail.text ?? ''));
const idOf = (m: ParsedMail) => m.messageId;

describe('one intrusion followed across hosts and identities, with real clients and noise', () => {
  it('links WS-22 and JUMP01 into one intrusion with the hop named, pages what matters at once, groups floods, and says what happened', { timeout: CONVERT_TIMEOUT_MS + 120_000 }, async () => {
    const doc = await plant('word', 'Q3 salaries', '\\\\FS01\\finance\\Q3', 'FS01', { theme: 'salaries' });
    const folder = await plant('windows-folder', 'HR folder', '\\\\FS02\\hr', 'FS02');
    const keys = await plant('aws-keys', 'AWS keys of m.keller', 'C:\\Users\\m.keller\\.aws', 'WS-22', { profile: 'prod-admin', region: 'eu-west-1' });
    const vpn = await plant('credentials', 'VPN note of m.keller', 'C:\\Users\\m.keller\\Documents\\vpn.txt', 'WS-22', { format: 'ini', onSuccess: 'mfa' });
    const mailbox = await plant('email', 'Finance mailbox', null, null, {});
    const bug = await plant('web-bug', 'Leaked wiki link', 'https://wiki.corp.example/finance', 'WIKI01');

    // 1. WS-22 opens the Word document from the share: LibreOffice fetches its image through WS-22's proxy.
    const docFile = join(tmp.dir, 'Q3 salaries.docx');
    writeFileSync(docFile, doc.file ?? Buffer.alloc(0));
    expect(await convert(docFile)).toBe(0);
    const opened = await waitFor(async () => (await listHits(s.app.deps.db, { tokenId: doc.id, limit: 5 })).find((h) => h.method === 'GET'), 10_000, 'the document fetch');
    expect(opened.sourceIp).toBe('10.20.4.22');
    const intrusion = opened.incidentId ?? expect.fail('no incident');
    const readMail = await waitFor(() => threadOf(intrusion)[0], 10_000, 'first mail');
    // Reading a share decoy from a workstation is collection, not lateral movement.
    expect(readMail.mail.subject).toMatch(new RegExp(`^\\[Honeytrail #${intrusion}\\] \\[HIGH\\] Decoy touched: "Q3 salaries" by WS-22 \\(10\\.20\\.4\\.22\\)$`));
    expect(readMail.mail.text).toMatch(/opened the document in LibreOffice/);
    expect(readMail.mail.text).toContain('T1039 Data from Network Shared Drive');
    expect(await getIncident(s.app.deps.db, intrusion)).toMatchObject({ lateral: false, severity: 'high' });

    // 2. Explorer on WS-22 shows the decoy folder: the desktop.ini lookup, as dig sends it through the resolver (127.0.0.1).
    const iniName = explorerLookup(folder.file ?? Buffer.alloc(0), { USERNAME: 'm.keller', COMPUTERNAME: 'WS-22', USERDOMAIN: 'CORP' });
    await dig(iniName);
    const browsed = await waitFor(async () => (await listHits(s.app.deps.db, { tokenId: folder.id, limit: 5 }))[0], 10_000, 'the folder lookup');
    expect(browsed.incidentId).toBe(intrusion);
    // The resolver repeats the same lookup: an echo, stored, not alerting.
    await dig(iniName);
    await waitFor(async () => (await listHits(s.app.deps.db, { tokenId: folder.id, limit: 5 })).some((h) => h.classification === 'echo'), 10_000, 'the echo');

    // 3. The AWS keys planted in WS-22's home are used from JUMP01: the SDK reads the planted files, its endpoint reaches the listener through JUMP01.
    const home = join(tmp.dir, 'jump01-home');
    mkdirSync(join(home, '.aws'), { recursive: true });
    const zip = unzipSync(new Uint8Array(keys.file ?? Buffer.alloc(0)));
    writeFileSync(join(home, '.aws/credentials'), Buffer.from(zip['.aws/credentials'] ?? new Uint8Array()));
    writeFileSync(join(home, '.aws/config'), Buffer.from(zip['.aws/config'] ?? new Uint8Array()).toString().replace(proxies['WS-22']?.url ?? '', proxies.JUMP01?.url ?? ''));
    const awsEnv = ['AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_PROFILE', 'AWS_EC2_METADATA_DISABLED', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION'];
    const saved = Object.fromEntries(awsEnv.map((k) => [k, process.env[k]]));
    for (const k of awsEnv) delete process.env[k];
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: join(home, '.aws/credentials'), AWS_CONFIG_FILE: join(home, '.aws/config'), AWS_PROFILE: 'prod-admin', AWS_EC2_METADATA_DISABLED: 'true' });
    const sts = new STSClient({});
    const usedAt = Date.now();
    const err = await sts.send(new GetCallerIdentityCommand({})).then(() => null, (e: { name: string }) => e);
    sts.destroy();
    for (const k of awsEnv) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    expect(err?.name).toBe('InvalidClientTokenId');
    const hopMail = await waitFor(() => threadOf(intrusion).find((m) => /\[CRITICAL\]/.test(m.mail.subject ?? '')), 10_000, 'the hop mail');
    expect(hopMail.acceptedAt - usedAt).toBeLessThan(2000);
    expect(hopMail.mail.subject).toContain('Lateral movement: WS-22 (10.20.4.22) → JUMP01 (10.30.0.10)');
    expect(hopMail.mail.text).toMatch(/AWS SDK for JavaScript [\d.]+ called sts:GetCallerIdentity in eu-west-1 with key AKIA…/);

    // 4. The planted VPN password, tried from JUMP01 with a crawler's user agent: a credential used always alerts, at once, in a critical intrusion too.
    const note = (await (await fetch(`${s.adminUrl}/api/v1/tokens/${vpn.id}/artifact`, { headers: auth })).text()).toString();
    const pick = (re: RegExp) => re.exec(note)?.[1]?.trim() ?? '';
    const portal = new URL(pick(/^url = (.*)$/m).replace(proxies['WS-22']?.url ?? '', proxies.JUMP01?.url ?? ''));
    const page = await (await fetch(portal, { headers: { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' } })).text();
    const user = /<input type="text" id="[^"]*" name="([^"]*)"/.exec(page)?.[1] ?? '';
    const pass = /<input type="password" id="[^"]*" name="([^"]*)"/.exec(page)?.[1] ?? '';
    const action = (/<form[^>]*action="([^"]*)"/.exec(page)?.[1] ?? '').replace(/&#x3D;/g, '=');
    const signedInAt = Date.now();
    await fetch(new URL(action, portal), {
      method: 'POST',
      body: new URLSearchParams({ [user]: pick(/^username = (.*)$/m), [pass]: pick(/^password = (.*)$/m) }),
      headers: { 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' },
    });
    const signIn = await waitFor(() => threadOf(intrusion).find((m) => (m.mail.text ?? '').includes('signed in to the') && m.acceptedAt >= signedInAt), 10_000, 'the sign-in mail');
    expect(signIn.acceptedAt - signedInAt).toBeLessThan(2000);
    expect(signIn.mail.subject).toMatch(/\[CRITICAL\]/);
    expect(signIn.mail.text).toMatch(/signed in to the VPN portal as \S+; MFA prompt shown/);

    // 5. m.keller's mailbox mails the planted address (nodemailer through the SMTP listener): the same user identity, the same intrusion.
    const mta = nodemailer.createTransport({ host: '127.0.0.1', port: s.app.port('smtp'), secure: false, ignoreTLS: true, name: 'mail.corp.example' });
    await mta.sendMail({ from: 'm.keller@corp.example', to: mailbox.email, subject: 'Invoice overdue', text: 'See attached.' });
    mta.close();
    const mailHit = await waitFor(async () => (await listHits(s.app.deps.db, { tokenId: mailbox.id, limit: 5 }))[0], 10_000, 'the mail hit');
    expect(mailHit.incidentId).toBe(intrusion);

    // Noise: a link checker from Exchange Online Protection's published range, and a source on the ignore list.
    expect((await fetch(new URL(new URL(bug.url ?? '').pathname + new URL(bug.url ?? '').search, proxies.CHECKER?.url))).status).toBe(200);
    expect((await fetch(new URL(new URL(bug.url ?? '').pathname + new URL(bug.url ?? '').search, proxies.SCANBOX?.url))).status).toBe(200);
    // 15 sources on one web bug, and 30 invented computer names through one resolver.
    const flood: HostProxy[] = [];
    for (let i = 1; i <= 15; i++) flood.push(await hostProxy(`10.77.0.${i}`));
    const bugFloodStart = Date.now();
    for (const p of flood) {
      p.target = s.app.port('public');
      expect((await fetch(new URL(new URL(bug.url ?? '').pathname + new URL(bug.url ?? '').search, p.url))).status).toBe(200);
      await p.close();
    }
    const bugFloodMs = Date.now() - bugFloodStart;
    const fakeFloodStart = Date.now();
    for (let i = 0; i < 30; i++) await dig(explorerLookup(folder.file ?? Buffer.alloc(0), { USERNAME: `u${i}`, COMPUTERNAME: `FAKE-${i}`, USERDOMAIN: 'NOPE' }));
    const fakeFloodMs = Date.now() - fakeFloodStart;

    // Everything is stored.
    const stored = async (id: string) => Number((await rawQuery<{ n: number }>(s.app.deps.db, 'select count(*) as n from hits where token_id = ?', id))[0]?.n);
    await waitFor(async () => (await stored(folder.id)) >= 32, 10_000, 'every lookup stored');
    expect(await stored(bug.id)).toBe(17);
    const bugHits = await listHits(s.app.deps.db, { tokenId: bug.id, limit: 50 });
    expect(bugHits.find((h) => h.sourceIp === '40.107.22.33')?.classification).toBe('scanner');
    expect(bugHits.find((h) => h.sourceIp === '10.99.0.5')?.classification).toBe('ignored');

    // Let the digests (2 s) and grouped alerts go out.
    await new Promise((r) => setTimeout(r, 3500));
    await waitFor(async () => (await rawQuery<{ n: number }>(s.app.deps.db, "select count(*) as n from alerts where status in ('pending', 'sending')"))[0]?.n === 0, 15_000, 'the outbox drained');

    // ONE intrusion links WS-22 and JUMP01, with the hop named (WS-22 never fired over the network for the keys: the credential names it).
    const inc = (await getIncident(s.app.deps.db, intrusion)) ?? expect.fail('incident gone');
    expect(inc).toMatchObject({ lateral: true, severity: 'critical', machineCount: 2 });
    expect(inc.summary).toContain('credential planted on WS-22 ("AWS keys of m.keller") used from JUMP01');
    const keysOf = (await incidentEntities(s.app.deps.db, intrusion)).map((e) => e.key);
    expect(keysOf).toEqual(expect.arrayContaining(['host:ws-22', 'host:jump01', 'user:m.keller', 'hop:host:ws-22>host:jump01', `cred:${keys.id}`, `cred:${vpn.id}`]));
    expect(inc.reasons.map((r) => r.code)).toEqual(expect.arrayContaining(['touch', 'credential-used', 'hop']));
    expect(inc.techniques).toEqual(expect.arrayContaining(['T1021', 'T1039', 'T1078', 'T1078.004', 'T1083', 'T1135', 'T1552.001']));

    // All mails of the intrusion are one thread: each answers the first.
    const thread = threadOf(intrusion);
    expect(thread.length).toBeGreaterThanOrEqual(3);
    const root = idOf(thread[0]?.mail as ParsedMail);
    for (const m of thread.slice(1)) expect(m.mail.inReplyTo).toBe(root);

    // Floods: at most ALERT_GROUP_AFTER pages of their own per flood, then one grouped message
    // per digest interval (2 s here) while the flood lasts, plus one for stragglers; every hit stored.
    const bound = (ms: number) => GROUP_AFTER + 2 + Math.ceil(ms / 2000);
    const bugMails = sink.mails.filter((m) => (m.mail.text ?? '').includes('Leaked wiki link'));
    expect(bugMails.length).toBeLessThanOrEqual(bound(bugFloodMs));
    expect(bugMails.filter((m) => !/ group\]/.test(m.mail.subject ?? '')).length).toBeLessThanOrEqual(GROUP_AFTER);
    expect(bugMails.some((m) => /more intrusions? on decoy "Leaked wiki link"/.test(m.mail.subject ?? ''))).toBe(true);
    const fakeMails = mailsAbout(/FAKE-\d+/);
    expect(fakeMails.length).toBeLessThanOrEqual(bound(fakeFloodMs));
    expect(fakeMails.filter((m) => !/ group\]/.test(m.mail.subject ?? '')).length).toBeLessThanOrEqual(GROUP_AFTER);
    expect((await listIncidents(s.app.deps.db, { limit: 500 })).total).toBeGreaterThanOrEqual(1 + 15 + 30);

    // No alert names a resolver or a mail server as the actor's address.
    const bodies = hooks.requests.map((r) => JSON.parse(r.body) as { decoy: { kind: string }; actor: { ip: string | null; relayIp: string | null } });
    expect(bodies.length).toBeGreaterThan(5);
    for (const b of bodies) {
      expect(b.actor.ip).not.toBe('127.0.0.1');
      if (b.actor.relayIp) expect(b.actor.ip).toBeNull();
    }
    expect(bodies.some((b) => b.decoy.kind === 'windows-folder' && b.actor.relayIp === '127.0.0.1')).toBe(true);
    expect(sink.mails.every((m) => !/IP address:\s+127\.0\.0\.1/.test(m.mail.text ?? ''))).toBe(true);

    // The thread's messages as a reader gets them (docs/intrusions.md quotes them).
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'intrusion-mails.txt'), thread.map((m) => `Subject: ${m.mail.subject ?? ''}\nIn-Reply-To: ${m.mail.inReplyTo ?? '-'}\n\n${m.mail.text ?? ''}`).join('\n\n========\n\n'));
    writeFileSync(join(ARTIFACTS, 'intrusion-mail.html'), String(signIn.mail.html));
    writeFileSync(join(ARTIFACTS, 'intrusion-path.svg'), pathSvg(pathOf(await incidentEntities(s.app.deps.db, intrusion))) ?? '');

    // Every alert says what happened in words, not as an HTTP line.
    for (const m of [...thread, ...bugMails, ...fakeMails] as ReceivedMail[]) {
      expect(m.mail.text ?? '').toMatch(/opened the document in LibreOffice|Explorer listed|called sts:GetCallerIdentity|signed in to the VPN portal|mail from m\.keller@corp\.example|fetched the link/);
    }
  });
});
