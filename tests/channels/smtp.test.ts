import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { createLogger } from '../../src/logger.ts';
import { startHoneytrail, type Honeytrail } from '../../src/server.ts';
import { describeArtifact } from '../../src/tokens/service.ts';
import { makeToken, tempDir, testConfig } from '../helpers.ts';

/** Hostile input against the SMTP listener: tight limits so every bound is reached quickly. */
const LIMIT = 64 * 1024;
const t = tempDir('honeytrail-smtp-');
const logLines: Record<string, unknown>[] = [];
let app: Honeytrail;
let port: number;

beforeAll(async () => {
  const config = testConfig(t.dir, {
    MAIL_DOMAIN: 'corp-mail.example',
    SMTP_HOSTNAME: 'mx2.corp-mail.example',
    SMTP_MAX_MESSAGE_BYTES: String(LIMIT),
    SMTP_MAX_CONNECTIONS: '4',
    SMTP_IDLE_TIMEOUT: '2s',
    SMTP_SESSION_TIMEOUT: '3s',
    PUBLIC_ENABLED: 'false',
    ADMIN_ENABLED: 'false',
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  app = await startHoneytrail({ config, log: createLogger('info', sink) });
  port = app.port('smtp');
});
afterAll(async () => {
  await app.close();
  t.cleanup();
});

const logged = (event: string) => logLines.filter((l) => l.event === event);

/** A line-oriented SMTP client over a raw socket: send what we like, read what comes back. */
class RawSmtp {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  readonly closedAt: Promise<number>;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('error', () => {});
    this.closedAt = new Promise((resolve) =>
      sock.on('close', () => {
        this.closed = true;
        this.waiters.splice(0).forEach((w) => w());
        resolve(Date.now());
      }),
    );
  }
  static open(): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => resolve(new RawSmtp(sock)));
      sock.once('error', reject);
    });
  }
  /** The next complete reply (all continuation lines), or whatever is left when the socket closes. */
  async reply(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.closed) return this.buf;
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms; have ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
  async cmd(line: string): Promise<string> {
    this.sock.write(`${line}\r\n`);
    return this.reply();
  }
  end(): void {
    this.sock.destroy();
  }
}

async function mailbox(): Promise<{ tokenId: string; address: string }> {
  const { token } = await makeToken(app.deps.db, app.deps.config, { kind: 'email' });
  return { tokenId: token.id, address: describeArtifact({ config: app.deps.config }, token).email ?? '' };
}

const transport = () => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 5000, socketTimeout: 5000 });

describe('SMTP listener: looks like an ordinary MTA', () => {
  it('greets and answers EHLO like Postfix, offering no TLS or AUTH and naming nothing unusual', async () => {
    const c = await RawSmtp.open();
    expect(await c.reply()).toBe('220 mx2.corp-mail.example ESMTP Postfix (Debian/GNU)\r\n');
    const ehlo = await c.cmd('EHLO client.example');
    const lines = ehlo.trim().split('\r\n');
    expect(lines[0]).toBe('250-mx2.corp-mail.example');
    // Postfix's keywords in Postfix's order (tests/channels/smtp-differential.test.ts compares them with a real one).
    expect(lines.slice(1)).toEqual(['250-PIPELINING', `250-SIZE ${LIMIT}`, '250-VRFY', '250-ETRN', '250-ENHANCEDSTATUSCODES', '250-8BITMIME', '250-DSN', '250 SMTPUTF8']);
    expect(ehlo).not.toMatch(/STARTTLS|AUTH|Nice to meet|honey|node|smtp-server/i);
    for (const probe of ['HELP', 'EXPN staff', 'WIZ', 'SHELL', 'KILL']) {
      const r = await c.cmd(probe);
      expect(r).toMatch(/^500 5\.5\.2 Error: command not recognized\r\n$/);
    }
    expect(await c.cmd('VRFY root')).toBe('454 4.7.1 <root>: Relay access denied\r\n');
    expect(await c.cmd('QUIT')).toMatch(/^221 /);
    c.end();
  });

  it('refuses relaying, wrong order and bad addresses with ordinary codes', async () => {
    const c = await RawSmtp.open();
    await c.reply();
    await c.cmd('EHLO client.example');
    expect(await c.cmd('RCPT TO:<a@corp-mail.example>')).toMatch(/^503 /);
    expect(await c.cmd('MAIL FROM:<x@attacker.example>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<victim@gmail.com>')).toBe('454 4.7.1 <victim@gmail.com>: Relay access denied\r\n');
    expect(await c.cmd('RCPT TO:<postmaster>')).toMatch(/^5\d\d /);
    expect(await c.cmd('DATA')).toMatch(/^503 /);
    c.end();
    expect(logged('smtp-relay-denied').length).toBeGreaterThan(0);
  });
});

describe('SMTP listener: hostile input', () => {
  it('garbage commands and binary get 500s, then the connection is dropped; the listener keeps serving', async () => {
    const c = await RawSmtp.open();
    await c.reply();
    const replies: string[] = [];
    for (let i = 0; i < 12 && !c.closed; i++) replies.push(await c.cmd(`\u0000\u0001\u00ff\u00fe garbage ${i} \u001b[31m`));
    expect(replies.slice(0, 9).every((r) => r.startsWith('500 '))).toBe(true);
    expect(replies[9]).toBe('421 4.7.0 mx2.corp-mail.example Error: too many errors\r\n');
    await c.closedAt;
    // An HTTP request sent to the mail port is dropped at once, with Postfix's words.
    const http = await RawSmtp.open();
    await http.reply();
    expect(await http.cmd('GET / HTTP/1.1')).toBe('221 2.7.0 Error: I can break rules, too. Goodbye.\r\n');
    await http.closedAt;
    // Still serving and still recording.
    const { tokenId, address } = await mailbox();
    await transport().sendMail({ from: 'a@b.example', to: address, subject: 'after garbage', text: 'x' });
    expect(await listHits(app.deps.db, { tokenId, limit: 5 })).toHaveLength(1);
  });

  it('an endless command line is cut off without buffering it', async () => {
    const c = await RawSmtp.open();
    await c.reply();
    const chunk = 'A'.repeat(64 * 1024);
    for (let i = 0; i < 32 && !c.closed; i++) {
      c.sock.write(chunk);
      await new Promise((r) => setTimeout(r, 5));
    }
    const reply = await c.reply();
    expect(reply).toMatch(/^[45]\d\d /);
    await c.closedAt;
    expect(c.closed).toBe(true);
  });

  it('an oversize mail is refused with 552 after the limit, never parsed past it, and still recorded (truncated)', async () => {
    const { tokenId, address } = await mailbox();
    const big = `${'x'.repeat(76)}\r\n`.repeat(Math.ceil((LIMIT * 8) / 78));
    const err = await transport()
      .sendMail({ from: 'exfil@attacker.example', to: address, subject: 'big', text: big, attachments: [{ filename: 'dump.sql', content: Buffer.alloc(LIMIT * 4, 0x41) }] })
      .catch((e: { responseCode: number }) => e);
    expect(err).toMatchObject({ responseCode: 552 });
    const hits = await listHits(app.deps.db, { tokenId, limit: 5 });
    expect(hits).toHaveLength(1);
    const d = hits[0]?.details as { truncated: boolean; oversize: boolean; size: number; text: string };
    expect(d).toMatchObject({ truncated: true, oversize: true });
    expect(d.size).toBeGreaterThan(LIMIT * 8);
    expect(d.text.length).toBeLessThanOrEqual(2001);
    expect(logged('smtp-oversize').length).toBeGreaterThan(0);
  });

  it('a malformed MIME body to a token is accepted and recorded', async () => {
    const { tokenId, address } = await mailbox();
    const c = await RawSmtp.open();
    await c.reply();
    await c.cmd('HELO \u00ffbroken');
    await c.cmd('MAIL FROM:<>');
    expect(await c.cmd(`RCPT TO:<${address}>`)).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.sock.write('Content-Type: multipart/mixed; boundary="zz"\r\nSubject: =?utf-8?B?broken?=\r\n\r\n--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64@@@\r\n--zz\r\nContent-Type: application/octet-stream; name=\r\n\r\n\u0000\u0001\r\n');
    expect(await c.cmd('.')).toMatch(/^250 /);
    c.end();
    const hits = await listHits(app.deps.db, { tokenId, limit: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]?.mailFrom).toBeNull();
  });

  it('a message the MIME parser gives up on (too many parts) is still answered 250 and recorded as truncated', async () => {
    const { tokenId, address } = await mailbox();
    const parts = '--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(1100);
    const raw = `From: a@b.example\r\nTo: ${address}\r\nSubject: parts bomb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`;
    const info = await transport().sendMail({ envelope: { from: 'a@b.example', to: [address] }, raw });
    expect(info.response).toMatch(/^250 /);
    const hits = await listHits(app.deps.db, { tokenId, limit: 5 });
    expect(hits).toHaveLength(1);
    expect(hits[0]?.details).toMatchObject({ truncated: true, subject: 'parts bomb' });
    expect((hits[0]?.details as { size: number }).size).toBeGreaterThan(parts.length);
  });
});

describe('SMTP listener: time and connection bounds', () => {
  it('an idle client is disconnected after SMTP_IDLE_TIMEOUT', async () => {
    const c = await RawSmtp.open();
    const start = Date.now();
    await c.reply();
    const closedAt = await c.closedAt;
    expect(closedAt - start).toBeGreaterThanOrEqual(1500);
    expect(closedAt - start).toBeLessThan(6000);
  });

  it('a slow-loris client (one byte at a time, never idle) is cut off at SMTP_SESSION_TIMEOUT', async () => {
    const c = await RawSmtp.open();
    const start = Date.now();
    await c.reply();
    await c.cmd('EHLO slow.example');
    const dribble = setInterval(() => {
      if (!c.closed) c.sock.write('X');
    }, 300);
    const closedAt = await c.closedAt;
    clearInterval(dribble);
    expect(closedAt - start).toBeGreaterThanOrEqual(2500);
    expect(closedAt - start).toBeLessThan(7000);
    expect(logged('smtp-session-deadline').length).toBeGreaterThan(0);
  });

  it('connections beyond SMTP_MAX_CONNECTIONS are turned away with 421, and slots free up again', async () => {
    const held = await Promise.all([1, 2, 3, 4].map(() => RawSmtp.open()));
    for (const c of held) expect(await c.reply()).toMatch(/^220 /);
    const extra = await RawSmtp.open();
    expect(await extra.reply()).toMatch(/^421 /);
    await extra.closedAt;
    for (const c of held) c.end();
    await Promise.all(held.map((c) => c.closedAt));
    await new Promise((r) => setTimeout(r, 100));
    const again = await RawSmtp.open();
    expect(await again.reply()).toMatch(/^220 /);
    again.end();
  });
});
