import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { updateToken } from '../../src/db/queries/tokens.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ MAIL_DOMAIN: 'corp-mail.example' });
});
afterAll(() => s.stop());

const hitsOf = (tokenId: string) => listHits(s.app.deps.db, { tokenId, limit: 100, order: 'asc' });
const transport = () =>
  nodemailer.createTransport({ host: '127.0.0.1', port: s.app.port('smtp'), secure: false, ignoreTLS: true, name: 'ws-acct-07.corp.local', connectionTimeout: 5000, socketTimeout: 5000 });

async function mailbox(params: Record<string, unknown> = {}) {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'email', params });
  const address = describeArtifact({ config: s.config }, token).email ?? '';
  return { token, address };
}

describe('email kind: the mailbox', () => {
  it('is a realistic address at MAIL_DOMAIN, indexed by its local part, with a contact card to plant', async () => {
    const { token, address } = await mailbox({ firstName: 'Jana', lastName: 'Hartmann', department: 'finance' });
    expect(address).toMatch(/^[a-z0-9][a-z0-9._-]*[a-z0-9]@corp-mail\.example$/);
    expect(address.startsWith(token.id)).toBe(false);
    expect(token.lookupKey).toBe(`mail:${address.split('@')[0]}`);
    const card = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString();
    expect(card).toContain('BEGIN:VCARD\r\n');
    expect(card).toContain(`EMAIL;TYPE=INTERNET,WORK:${address}\r\n`);
    expect(card).toContain('FN:Jana Hartmann\r\n');
  });

  it('keeps a defender-chosen local part, and refuses a duplicate one', async () => {
    const { address } = await mailbox({ localPart: 'Q.Lindgren.Audit' });
    expect(address).toBe('q.lindgren.audit@corp-mail.example');
    await expect(makeToken(s.app.deps.db, s.config, { kind: 'email', params: { localPart: 'q.lindgren.audit' } })).rejects.toMatchObject({ status: 409 });
  });
});

describe('email kind: nodemailer delivering through the SMTP listener', () => {
  it('generates a fresh mailbox when a generated one is taken: 300 in one department are all created, all distinct', async () => {
    const made = [];
    for (let i = 0; i < 300; i++) made.push(await makeToken(s.app.deps.db, s.config, { kind: 'email', params: { department: 'legal' } }));
    expect(new Set(made.map((m) => m.token.lookupKey)).size).toBe(300);
  });

  it('records sender, recipients, HELO, client IP, subject, links and attachments; the body is stored clipped', async () => {
    const { token, address } = await mailbox();
    const long = 'Please review the attached invoice. '.repeat(200);
    const info = await transport().sendMail({
      from: 'Mallory <mallory@attacker.example>',
      to: address,
      subject: 'Invoice 2026-114 overdue',
      text: `${long}\nPay here: https://pay.attacker.example/inv?id=114 or http://10.0.0.5/x`,
      html: '<p>See <a href="https://files.attacker.example/invoice.zip">the invoice</a></p>',
      attachments: [
        { filename: 'invoice.pdf.exe', content: Buffer.alloc(12_345, 1), contentType: 'application/x-msdownload' },
        { filename: 'notes.txt', content: 'hello' },
      ],
      headers: { 'X-Mailer': 'Microsoft Outlook 16.0' },
    });
    expect(info.accepted).toEqual([address]);
    expect(info.response).toMatch(/^250 2\.[06]\.0 Ok: queued as [0-9A-F]{10}$/);

    const hits = await hitsOf(token.id);
    expect(hits).toHaveLength(1);
    const hit = hits[0];
    expect(hit).toMatchObject({ channel: 'smtp', sourceIp: '127.0.0.1', mailFrom: 'mallory@attacker.example', mailTo: address, mailSubject: 'Invoice 2026-114 overdue', userAgent: 'Microsoft Outlook 16.0', credential: null, classification: 'alert' });
    const d = hit?.details as Record<string, unknown>;
    expect(d).toMatchObject({ envelopeFrom: 'mallory@attacker.example', recipients: [address], helo: 'ws-acct-07.corp.local', clientIp: '127.0.0.1', subject: 'Invoice 2026-114 overdue' });
    expect(d.links).toEqual(expect.arrayContaining(['https://pay.attacker.example/inv?id=114', 'http://10.0.0.5/x', 'https://files.attacker.example/invoice.zip']));
    expect(d.attachments).toEqual([
      { filename: 'invoice.pdf.exe', contentType: 'application/x-msdownload', size: 12_345 },
      { filename: 'notes.txt', contentType: 'text/plain', size: 5 },
    ]);
    expect(String(d.text).length).toBeLessThanOrEqual(2001);
    expect(String(d.text)).toMatch(/^Please review the attached invoice\./);
    expect((d.headers as Record<string, string>).from).toBe('"Mallory" <mallory@attacker.example>');
  });

  it('one message to a token and a second token records one hit per token mailbox', async () => {
    const a = await mailbox();
    const b = await mailbox();
    await transport().sendMail({ from: 'x@attacker.example', to: [a.address, b.address], subject: 'hi', text: 'hi' });
    expect(await hitsOf(a.token.id)).toHaveLength(1);
    expect(await hitsOf(b.token.id)).toHaveLength(1);
    expect((await hitsOf(a.token.id))[0]?.details).toMatchObject({ recipients: [a.address, b.address] });
  });

  it('unknown recipients are refused at RCPT like an ordinary server; known ones in the same mail still arrive', async () => {
    const { token, address } = await mailbox();
    const unknown = `nobody.here@corp-mail.example`;
    const info = await transport().sendMail({ from: 'x@attacker.example', to: [unknown, address], subject: 'partial', text: 'x' });
    expect(info.accepted).toEqual([address]);
    expect(info.rejected).toEqual([unknown]);
    expect(await hitsOf(token.id)).toHaveLength(1);
    const err = await transport().sendMail({ from: 'x@attacker.example', to: unknown, subject: 'x', text: 'x' }).catch((e: { responseCode: number; response: string }) => e);
    expect(err).toMatchObject({ responseCode: 550 });
    expect((err as { response: string }).response).toBe(`550 5.1.1 <${unknown}>: Recipient address rejected: User unknown in virtual mailbox table`);
  });

  it('a mailbox addressed by the token id works as well (id@MAIL_DOMAIN)', async () => {
    const { token } = await mailbox();
    await transport().sendMail({ from: 'x@attacker.example', to: `${token.id}@corp-mail.example`, subject: 'by id', text: 'x' });
    expect(await hitsOf(token.id)).toHaveLength(1);
  });

  it('a disabled mailbox still accepts (nothing tells the sender) but records nothing', async () => {
    const { token, address } = await mailbox();
    await updateToken(s.app.deps.db, token.id, { enabled: false });
    // No wait: a change made in this process empties its lookup cache at once (src/db/changes.ts).
    const info = await transport().sendMail({ from: 'x@attacker.example', to: address, subject: 'x', text: 'x' });
    expect(info.accepted).toEqual([address]);
    expect(await hitsOf(token.id)).toHaveLength(0);
  });
});
