import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeArtifact } from '../../src/tokens/service.ts';
import { freePort, makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

/**
 * The SMTP listener against a real Postfix (Debian's package) started here as a child
 * (`postfix start-fg`) on its own configuration directory, queue and ephemeral port, with the
 * stock Debian smtpd settings for a virtual mailbox domain (MAIL_DOMAIN) whose only mailbox is
 * our token's. One scripted session goes to both; every reply line must be equal (the queue id
 * blanked). The reference runs without TLS and CHUNKING, which the listener lacks: docs/stealth.md.
 */

const HOST = 'mail.corp.example';
const DOMAIN = 'corp.example';
let s: TestServer;
let postfix: ChildProcess;
let postfixPort: number;
let mailbox = '';
const tmp = tempDir('honeytrail-postfix-');

function mainCf(dir: string): string {
  return `compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = ${HOST}
mydomain = ${DOMAIN}
mydestination =
smtpd_banner = $myhostname ESMTP $mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
readme_directory = no
smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination
mynetworks = 192.0.2.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
virtual_mailbox_domains = ${DOMAIN}
virtual_mailbox_maps = texthash:${dir}/conf/vmailbox
virtual_transport = discard:
alias_maps =
alias_database =
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
smtpd_tls_security_level = none
smtpd_discard_ehlo_keywords = chunking
`;
}

async function greeted(port: number): Promise<void> {
  for (let i = 0; i < 80; i++) {
    const ok = await new Promise<boolean>((r) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('data', () => {
        sock.destroy();
        r(true);
      });
      sock.on('error', () => r(false));
      sock.setTimeout(1000, () => {
        sock.destroy();
        r(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`postfix did not answer on ${port}: ${readFileSync(join(tmp.dir, 'maillog'), 'utf8').slice(-2000)}`);
}

beforeAll(async () => {
  s = await startTestServer({ MAIL_DOMAIN: DOMAIN, SMTP_HOSTNAME: HOST, SMTP_MAX_MESSAGE_BYTES: '10240000' });
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'email' });
  mailbox = describeArtifact({ config: s.config }, token).email ?? '';
  const dir = tmp.dir;
  chmodSync(dir, 0o755);
  for (const d of ['conf', 'queue', 'data']) mkdirSync(join(dir, d), { recursive: true });
  chownSync(join(dir, 'data'), Number(execFileSync('id', ['-u', 'postfix']).toString().trim()), 0);
  postfixPort = (await freePort()).port;
  writeFileSync(join(dir, 'conf/main.cf'), mainCf(dir));
  writeFileSync(join(dir, 'conf/vmailbox'), `${mailbox} x\n`);
  const master = readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp\s+inet.*$/m, `127.0.0.1:${postfixPort} inet n - n - - smtpd`);
  writeFileSync(join(dir, 'conf/master.cf'), master);
  postfix = spawn('/usr/sbin/postfix', ['-c', join(dir, 'conf'), 'start-fg'], { stdio: 'ignore' });
  await greeted(postfixPort);
}, 40_000);

afterAll(async () => {
  try {
    execFileSync('/usr/sbin/postfix', ['-c', join(tmp.dir, 'conf'), 'stop'], { stdio: 'ignore' });
  } catch {
    postfix?.kill('SIGTERM');
  }
  await s?.stop();
  tmp.cleanup();
});

/** One SMTP session: the greeting, then each command's complete reply (multi-line replies joined). */
async function session(port: number, commands: readonly string[]): Promise<string[]> {
  const sock: Socket = connect(port, '127.0.0.1');
  let buffer = '';
  const waiters: (() => void)[] = [];
  sock.on('data', (d) => {
    buffer += d.toString('latin1');
    waiters.splice(0).forEach((w) => w());
  });
  const reply = async (): Promise<string> => {
    for (let i = 0; i < 50; i++) {
      const m = /^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/.exec(buffer);
      if (m) {
        buffer = buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 100))]);
    }
    return '(no reply)';
  };
  const out = [await reply()];
  for (const c of commands) {
    sock.write(`${c}\r\n`);
    out.push(`${c.split('\r\n')[0]} => ${await reply()}`);
  }
  sock.destroy();
  return out.map((l) => l.replace(/queued as [0-9A-Za-z]+/, 'queued as *'));
}

describe('the SMTP listener against a real Postfix', () => {
  it('answers a session as Postfix does, reply for reply', async () => {
    const commands = [
      'EHLO client.example',
      'MAIL FROM:<a.sender@example.net>',
      `RCPT TO:<${mailbox}>`,
      `RCPT TO:<nobody.here@${DOMAIN}>`,
      'RCPT TO:<someone@other.example>',
      `VRFY ${mailbox}`,
      `VRFY <nobody.here@${DOMAIN}>`,
      'VRFY someone@other.example',
      'DATA',
      `From: a.sender@example.net\r\nTo: ${mailbox}\r\nSubject: hello\r\n\r\nhi\r\n.`,
      'RSET',
      'NOOP',
      'HELP',
      'WIZ',
      'FOO bar',
      'RCPT TO:<x@corp.example>',
      'MAIL FROM:<broken',
      'MAIL FROM:<a@example.net>',
      'MAIL FROM:<b@example.net>',
      'RSET',
      'DATA',
      'ETRN corp.example',
      'HELO client.example',
      'EHLO',
      'MAIL FROM:<a@example.net> SIZE=999999999',
      'QUIT',
    ];
    const [ours, real] = await Promise.all([session(s.app.port('smtp'), commands), session(postfixPort, commands)]);
    expect(real[0]).toBe(`220 ${HOST} ESMTP Postfix (Debian/GNU)`);
    expect(ours).toEqual(real);
  }, 30_000);
});
