import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { dig, digStatus } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * windows-fake-fs: PowerShell is not on Debian, so the deployment script is checked
 * structurally (encoding, balanced blocks and here-strings, the task XML well-formed, every
 * variable it reads assigned first) and the names its handler builds are built here by the
 * handler's own recipe (its byte budget read from the script) and resolved with dig.
 */

const ZONE = 'wfs.example.test';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(() => s.stop());

async function script(params: Record<string, unknown> = {}, format?: string): Promise<{ id: string; label: string; text: string; raw: Buffer }> {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-fake-fs', params });
  const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, format);
  const raw = file.body;
  const text = raw.toString('utf8').replace(/^\ufeff/, '');
  return { id: token.id, label: token.hostLabel ?? token.id, text, raw };
}

/** Strip here-strings, comments and string literals so bracket counts see only code. */
function codeOnly(ps: string): { code: string; hereStrings: string[] } {
  const hereStrings: string[] = [];
  const code = ps
    .replace(/@(["'])\r\n([\s\S]*?)\r\n\1@/g, (_, _q: string, body: string) => {
      hereStrings.push(body);
      return "''";
    })
    .replace(/<#[\s\S]*?#>/g, '')
    // Whole-line comments first (their apostrophes are not quotes), then strings, then trailing comments.
    .replace(/^[ \t]*#[^\r\n]*/gm, '')
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"`]|`.)*"/g, '""')
    .replace(/#[^\r\n]*/g, '');
  return { code, hereStrings };
}

function expectBalanced(code: string, label: string): void {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  for (const ch of code) {
    if ('({['.includes(ch)) stack.push(ch);
    else if (ch in pairs) expect(stack.pop(), `${label}: unbalanced ${ch}`).toBe(pairs[ch]);
  }
  expect(stack, label).toEqual([]);
}

/** The handler's recipe: UTF-8 of user|domain|computer|path (path cut from the left to the budget), base32 in 60-char labels. */
function handlerName(max: number, host: string, user: string, domain: string, computer: string, path: string): string {
  const head = `${user}|${domain}|${computer}|`;
  let p = path;
  while (p.length > 0 && Buffer.byteLength(head + p) > max) p = p.slice(1);
  const data = Buffer.from(head + p);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const b of data) bits += b.toString(2).padStart(8, '0');
  let b32 = '';
  for (let i = 0; i < bits.length; i += 5) b32 += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  const labels = b32.match(/.{1,60}/g) ?? [];
  return [...labels, 'x3f2a', 'fs', host].join('.');
}

describe('windows-fake-fs kind', () => {
  it('the deployment script is UTF-8 with BOM and CRLF, balanced, and its task XML is well-formed', async () => {
    const { text, raw } = await script({ root: 'D:\\Shares\\Finance', theme: 'Finance' });
    expect([...raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(text.startsWith('#Requires -Version 5.1\r\n#Requires -RunAsAdministrator')).toBe(true);
    const { code, hereStrings } = codeOnly(text);
    expectBalanced(code, 'script');
    expect(hereStrings).toHaveLength(2);
    expectBalanced(codeOnly(hereStrings[0] ?? '').code, 'handler');
    expect(code).toMatch(/param\(\s*\[string\]\$Root = '',/);
    expect(text).toContain("[string]$Root = 'D:\\Shares\\Finance'");
    // The task XML (after PowerShell expands $handler and the escaped `$(...)) parses and carries the value queries.
    const xml = (hereStrings[1] ?? '').replace('$handler', 'C:\\ProgramData\\x\\sync.ps1').replace(/`\$/g, '$');
    expect(xml).not.toMatch(/\$(?!\((User|Domain|Path)\))/);
    const lint = spawnSync('xmllint', ['--noout', '-'], { input: xml.replace('encoding="UTF-16"', 'encoding="UTF-8"'), encoding: 'utf8' });
    expect(lint.status, lint.stderr).toBe(0);
    for (const v of ['User', 'Domain', 'Path']) expect(xml).toContain(`-${v} "$(${v})"`);
    expect(xml).toContain('EventID=4663');
    // Every variable the script reads is a parameter, automatic, or assigned before it is read.
    const automatic = new Set(['env', 'true', 'false', 'null', 'ErrorActionPreference', '_']);
    const assigned = new Set<string>();
    for (const line of code.split('\r\n')) {
      for (const m of line.matchAll(/\$(\w+)\s*=(?!=)|foreach \(\$(\w+) in|\[\w+\]\$(\w+)/gi)) assigned.add((m[1] ?? m[2] ?? m[3] ?? '').toLowerCase());
      for (const m of line.replace(/\$(\w+)\s*=(?!=)/g, '').matchAll(/\$(\w+)/g)) {
        const v = (m[1] ?? '').toLowerCase();
        if (!automatic.has(v) && !automatic.has(m[1] ?? '')) expect(assigned.has(v), `$${m[1]} read before it is set: ${line}`).toBe(true);
      }
    }
  });

  it('the removal script unregisters the task and drops the audit rule, balanced', async () => {
    const { text } = await script({}, 'remove');
    expectBalanced(codeOnly(text).code, 'remove');
    expect(text).toContain('Unregister-ScheduledTask -TaskName $TaskName');
    expect(text).toContain('RemoveAuditRule');
  });

  it('the names the handler builds resolve (dig) and decode user, domain, computer and path', async () => {
    const { id, label, text } = await script({ theme: 'IT' });
    const { hereStrings } = codeOnly(text);
    const handler = hereStrings[0] ?? '';
    const max = Number(/\$max = (\d+)/.exec(handler)?.[1]);
    const host = /'fs', '([^']+)'/.exec(handler)?.[1] ?? '';
    expect(host).toBe(`${label}.${ZONE}`);
    expect(max).toBeGreaterThan(60);
    const cases: [string, string, string, string, string][] = [
      ['m.keller', 'CORP', 'WS-ACCT-07', 'C:\\Shares\\IT\\Passwords\\local_admin.txt', 'C:\\Shares\\IT\\Passwords\\local_admin.txt'],
      ['Administrator', 'WS-LAB', 'WS-LAB', 'C:\\Shares\\IT\\Backup\\veeam_credentials.txt', 'C:\\Shares\\IT\\Backup\\veeam_credentials.txt'],
    ];
    const long = `D:\\${'Very Long Department Folder\\'.repeat(8)}service_accounts.kdbx`;
    cases.push(['j.smith', 'CORP', 'LT-0442', long, '']);
    for (const [user, domain, computer, path, expected] of cases) {
      const name = handlerName(max, host, user, domain, computer, path);
      expect(name.length).toBeLessThanOrEqual(253);
      expect(digStatus(await dig(s.app.port('dns'), name, 'A')), name).toBe('NOERROR');
      const [hit] = await listHits(s.app.deps.db, { tokenId: id, limit: 1 });
      expect(hit).toMatchObject({ actorUser: user, actorDomain: domain, actorHost: computer, classification: 'alert' });
      const got = String(hit?.details?.path);
      // A path over the budget keeps its end (the file name).
      if (expected) expect(got).toBe(expected);
      else expect(long.endsWith(got) && got.endsWith('service_accounts.kdbx') && got.length < long.length).toBe(true);
    }
  });

  it('lookups without its data are noise', async () => {
    const { id, label } = await script();
    await dig(s.app.port('dns'), `x0000.fs.${label}.${ZONE}`, 'A');
    await dig(s.app.port('dns'), `www.${label}.${ZONE}`, 'A');
    const hits = await listHits(s.app.deps.db, { tokenId: id, limit: 5 });
    expect(hits.map((h) => h.classification)).toEqual(['noise', 'noise']);
  });
});
