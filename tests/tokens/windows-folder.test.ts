import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { decodeIniLabels, decodeLabels } from '../../src/tokens/windows-folder.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { explorerLookup } from './explorer.ts';

const run = promisify(execFile);
const ZONE = 'wf.example.test';
let s: TestServer;
const tmp = tempDir();
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

describe('windows-folder artifact', () => {
  it('is a zip holding <folder>/desktop.ini in UTF-16LE with BOM and CRLF, pointing at the token host', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder', params: { folderName: 'Payroll 2025' } });
    const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
    expect(file).toMatchObject({ filename: 'Payroll 2025.zip', contentType: 'application/zip' });
    const zip = join(tmp.dir, `${token.id}.zip`);
    writeFileSync(zip, file.body);
    const out = join(tmp.dir, token.id);
    await run('unzip', ['-q', zip, '-d', out]);
    const iniPath = join(out, 'Payroll 2025', 'desktop.ini');
    expect(existsSync(iniPath)).toBe(true);

    const bytes = readFileSync(iniPath);
    expect([...bytes.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    const text = bytes.subarray(2).toString('utf16le');
    expect(Buffer.from(text, 'utf16le').equals(bytes.subarray(2))).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    const lines = text.split('\r\n');
    expect(lines[0]).toBe('[.ShellClassInfo]');
    // A UNC icon path on the token host whose labels are the three variables in the token's own order and its marker.
    const m = /^IconResource=\\\\((?:%(?:USERNAME|COMPUTERNAME|USERDOMAIN)%\.){3})([a-z]+)\.([0-9a-z-]+)\.(.+?)\\[\w$]+\\[\w.-]+,-?\d+$/.exec(lines[1] ?? '');
    expect(m, lines[1]).not.toBeNull();
    expect(new Set(m?.[1]?.split('.').filter(Boolean)).size).toBe(3);
    expect(`${m?.[3]}.${m?.[4]}`).toBe(`${token.hostLabel}.${ZONE}`);
    // Not the published canarytokens layout.
    expect(lines[1]).not.toMatch(/%USERNAME%\.%COMPUTERNAME%\.%USERDOMAIN%\.INI\./i);
  });

  it('draws its layout per token: orders, markers and icon paths vary', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder' });
      const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
      seen.add(explorerLookup(file.body, { USERNAME: 'u', COMPUTERNAME: 'c', USERDOMAIN: 'd' }).split(token.hostLabel ?? '-')[0] ?? '');
    }
    expect(seen.size).toBeGreaterThan(3);
  });

  it('marks the folder read-only and desktop.ini hidden + system (MS-DOS attributes in the zip)', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder', params: { folderName: 'IT Admin' } });
    const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
    const zip = join(tmp.dir, `attrs-${token.id}.zip`);
    writeFileSync(zip, file.body);
    const { stdout } = await run('zipinfo', ['-v', zip]);
    const entries = stdout.split(/Central directory entry #\d+:/).slice(1);
    expect(entries).toHaveLength(2);
    const folder = entries.find((e) => e.includes('IT Admin/\n')) ?? '';
    const ini = entries.find((e) => e.includes('IT Admin/desktop.ini')) ?? '';
    for (const e of [folder, ini]) expect(e).toMatch(/operating system of origin:\s+MS-DOS/);
    expect(folder).toMatch(/MS-DOS file attributes \(11 hex\):\s+rdo dir/);
    expect(ini).toMatch(/MS-DOS file attributes \(26 hex\):\s+hid sys arc/);
  });

  it('picks a plausible folder name when none is given, and names the host to watch', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder', params: {} });
    const info = describeArtifact({ config: s.config }, token);
    expect(info.filename).toMatch(/^[\w &-]+\.zip$/);
    expect(info.hostname).toBe(`${token.hostLabel}.${ZONE}`);
  });
});

describe('desktop.ini lookups decode user, computer and domain', () => {
  type Env = { USERNAME: string; COMPUTERNAME: string; USERDOMAIN: string };
  const table: [string, Env | string, { user: string | null; host: string | null; domain: string | null } | 'noise'][] = [
    ['user, computer and domain', { USERNAME: 'alice', COMPUTERNAME: 'WS-ACCT-07', USERDOMAIN: 'CORP' }, { user: 'alice', host: 'WS-ACCT-07', domain: 'CORP' }],
    ['dotted user name', { USERNAME: 'john.smith', COMPUTERNAME: 'LT-0442', USERDOMAIN: 'FINANCE' }, { user: 'john.smith', host: 'LT-0442', domain: 'FINANCE' }],
    ['workgroup machine (domain = computer)', { USERNAME: 'Bob', COMPUTERNAME: 'DESKTOP-7QK2', USERDOMAIN: 'DESKTOP-7QK2' }, { user: 'Bob', host: 'DESKTOP-7QK2', domain: 'DESKTOP-7QK2' }],
    ['domain variable left unexpanded', { USERNAME: 'svc_backup', COMPUTERNAME: 'SRV-FS01', USERDOMAIN: '%USERDOMAIN%' }, { user: 'svc_backup', host: 'SRV-FS01', domain: null }],
    ['bare token host (no desktop.ini data)', '', 'noise'],
    ['labels without the marker', 'www', 'noise'],
    ['the published layout on a token that does not use it', 'alice.WS-ACCT-07.CORP.INI', 'noise'],
  ];

  it.each(table)('%s', async (_label, env, expected) => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder' });
    const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
    // The name Explorer resolves: the desktop.ini's UNC host with the variables expanded.
    const name = typeof env === 'string' ? `${env ? `${env}.` : ''}${token.id}.${ZONE}` : explorerLookup(file.body, env);
    const reply = await ask(s.app.port('dns'), name, 'A');
    expect(reply?.rcode).toBe('NOERROR');
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    if (expected === 'noise') {
      expect(hit?.classification).toBe('noise');
      expect(hit?.actorUser ?? null).toBeNull();
    } else {
      expect(hit).toMatchObject({ actorUser: expected.user, actorHost: expected.host, actorDomain: expected.domain, classification: 'alert' });
    }
  });

  it('keeps the case Windows sent (user names are case-preserving), in every order', () => {
    const l = { marker: 'dfs', share: 'icons', file: 'folder.ico', index: 0 };
    expect(decodeLabels(['CONTOSO', 'Administrator', 'DC01', 'dfs'], { ...l, order: ['domain', 'user', 'computer'] })).toEqual({ user: 'Administrator', host: 'DC01', domain: 'CONTOSO' });
    expect(decodeLabels(['DC01', 'CONTOSO', 'j', 'doe', 'DFS'], { ...l, order: ['computer', 'domain', 'user'] })).toEqual({ user: 'j.doe', host: 'DC01', domain: 'CONTOSO' });
    expect(decodeLabels(['a', 'b', 'c', 'fs'], { ...l, order: ['user', 'computer', 'domain'] })).toBeNull();
    // Folders planted before layouts were drawn keep decoding the way they were planted.
    expect(decodeLabels(['Administrator', 'DC01', 'CONTOSO', 'INI'])).toEqual({ user: 'Administrator', host: 'DC01', domain: 'CONTOSO' });
    expect(decodeIniLabels(['INI'])).toBeNull();
  });
});
