import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { decodeIniLabels } from '../../src/tokens/windows-folder.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';

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
    expect(lines[1]).toBe(`IconResource=\\\\%USERNAME%.%COMPUTERNAME%.%USERDOMAIN%.INI.${token.hostLabel}.${ZONE}\\resource.dll`);
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
  const table: [string, string, { user: string | null; host: string | null; domain: string | null } | 'noise'][] = [
    ['user, computer and domain', 'alice.WS-ACCT-07.CORP.INI', { user: 'alice', host: 'WS-ACCT-07', domain: 'CORP' }],
    ['dotted user name', 'john.smith.LT-0442.FINANCE.INI', { user: 'john.smith', host: 'LT-0442', domain: 'FINANCE' }],
    ['workgroup machine (domain = computer)', 'Bob.DESKTOP-7QK2.DESKTOP-7QK2.ini', { user: 'Bob', host: 'DESKTOP-7QK2', domain: 'DESKTOP-7QK2' }],
    ['no domain label', 'carol.KIOSK3.INI', { user: 'carol', host: 'KIOSK3', domain: null }],
    ['domain variable left unexpanded', 'svc_backup.SRV-FS01.%USERDOMAIN%.INI', { user: 'svc_backup', host: 'SRV-FS01', domain: null }],
    ['bare token host (no INI data)', '', 'noise'],
    ['labels without the INI marker', 'www', 'noise'],
  ];

  it.each(table)('%s', async (_label, prefix, expected) => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'windows-folder' });
    const name = `${prefix ? `${prefix}.` : ''}${token.hostLabel}.${ZONE}`;
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

  it('keeps the case Windows sent (user names are case-preserving)', () => {
    expect(decodeIniLabels(['Administrator', 'DC01', 'CONTOSO', 'INI'])).toEqual({ user: 'Administrator', host: 'DC01', domain: 'CONTOSO' });
    expect(decodeIniLabels(['INI'])).toBeNull();
  });
});
