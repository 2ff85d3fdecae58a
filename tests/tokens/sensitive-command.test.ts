import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { explainHit } from '../../src/hits/meaning.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { decodeCommandLabels } from '../../src/tokens/sensitive-command.ts';
import type { Token } from '../../src/tokens/kind.ts';
import { dig, digStatus } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * The sensitive-command kind's artifacts are read here as Windows reads them: the .reg file by
 * a strict parser of the format regedit imports (header, UTF-16LE with BOM, CRLF, key lines,
 * typed values, escapes; anything else is an error), the MonitorProcess command line expanded
 * the way cmd.exe expands `%VAR%` and `%VAR:old=new%` for sample users and computers, and the
 * resulting name resolved with `dig` at the DNS listener.
 */

const ZONE = 'cmd.example.test';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await s.stop();
});

type RegValue = { type: 'dword'; value: number } | { type: 'sz'; value: string } | { type: 'delete' };
type RegKey = { path: string; delete: boolean; values: Map<string, RegValue> };

/** Parse a .reg file strictly (Windows Registry Editor Version 5.00). Throws on anything regedit would not import as meant. */
function parseReg(bytes: Buffer): RegKey[] {
  if (bytes[0] !== 0xff || bytes[1] !== 0xfe) throw new Error('no UTF-16LE byte-order mark');
  const text = bytes.subarray(2).toString('utf16le');
  if (!text.endsWith('\r\n') || /(?<!\r)\n|\r(?!\n)/.test(text)) throw new Error('line ends are not CRLF');
  const lines = text.slice(0, -2).split('\r\n');
  if (lines[0] !== 'Windows Registry Editor Version 5.00') throw new Error(`bad header: ${lines[0]}`);
  const keys: RegKey[] = [];
  let key: RegKey | null = null;
  for (const [i, line] of lines.slice(1).entries()) {
    if (line === '') {
      key = null;
      continue;
    }
    const k = /^\[(-?)(HKEY_LOCAL_MACHINE(?:\\[^\\\]\r\n]+)+)\]$/.exec(line);
    if (k) {
      key = { path: k[2] as string, delete: k[1] === '-', values: new Map() };
      keys.push(key);
      continue;
    }
    if (!key || key.delete) throw new Error(`line ${i + 2}: a value outside a key: ${line}`);
    const v = /^"((?:[^"\\]|\\.)+)"=(?:dword:([0-9a-f]{8})|"((?:[^"\\]|\\["\\])*)"|(-))$/.exec(line);
    if (!v) throw new Error(`line ${i + 2}: not a value regedit reads: ${line}`);
    const name = (v[1] as string).replace(/\\(.)/g, '$1');
    if (key.values.has(name)) throw new Error(`line ${i + 2}: ${name} set twice`);
    key.values.set(name, v[2] !== undefined ? { type: 'dword', value: Number.parseInt(v[2], 16) } : v[4] ? { type: 'delete' } : { type: 'sz', value: (v[3] as string).replace(/\\(["\\])/g, '$1') });
  }
  return keys;
}

/** Expand `%NAME%` and `%NAME:old=new%` as cmd.exe does for a /c command line (unknown variables stay as written). */
function cmdExpand(line: string, env: Record<string, string>): string {
  return line.replace(/%([A-Za-z_][A-Za-z0-9_]*)(?::([^=%]+)=([^%]*))?%/g, (whole, name: string, from?: string, to?: string) => {
    const value = Object.entries(env).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
    if (value === undefined) return whole;
    return from === undefined ? value : value.split(from).join(to ?? '');
  });
}

/** The host name of `nslookup [options] NAME`, from a command line cmd has expanded. */
function nslookupName(commandLine: string): string {
  const m = /^cmd\.exe \/c nslookup((?: -[a-z]+=\d+)*) (\S+) >NUL 2>&1$/.exec(commandLine);
  if (!m) throw new Error(`not the monitor command: ${commandLine}`);
  return m[2] as string;
}

const IFEO = 'Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options';
const SPE = 'Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit';

describe('sensitive-command', () => {
  it('writes a .reg that regedit imports: GlobalFlag 0x200 and a SilentProcessExit monitor per executable, for 64- and 32-bit images; the removal .reg undoes exactly that', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'sensitive-command', params: { commands: ['whoami.exe', 'NLTEST.exe', 'klist.exe'] } });
    const file = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' });
    expect(file.filename).toBe('monitoring.reg');
    const keys = parseReg(file.body);
    for (const root of ['HKEY_LOCAL_MACHINE\\SOFTWARE', 'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node']) {
      for (const exe of ['whoami.exe', 'nltest.exe', 'klist.exe']) {
        const ifeo = keys.find((k) => k.path === `${root}\\${IFEO}\\${exe}`);
        expect(ifeo?.values.get('GlobalFlag')).toEqual({ type: 'dword', value: 0x200 });
        const spe = keys.find((k) => k.path === `${root}\\${SPE}\\${exe}`);
        expect(spe?.values.get('ReportingMode')).toEqual({ type: 'dword', value: 1 });
        expect(spe?.values.get('MonitorProcess')?.type).toBe('sz');
      }
    }
    expect(keys).toHaveLength(12);

    const removal = parseReg((await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, 'remove')).body);
    expect(removal.filter((k) => k.delete).map((k) => k.path).sort()).toEqual(keys.filter((k) => k.path.includes('SilentProcessExit')).map((k) => k.path).sort());
    for (const k of removal.filter((x) => !x.delete)) expect([...k.values]).toEqual([['GlobalFlag', { type: 'delete' }]]);

    // The PowerShell variant installs the same executables and the same monitor name, and can undo it.
    const ps1 = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, 'ps1')).body.toString('utf8');
    expect(ps1).toContain("$commands = @('whoami.exe', 'nltest.exe', 'klist.exe')");
    expect(ps1).toContain(`$zone = '${token.hostLabel}.${ZONE}'`);
    expect(ps1).toContain('param([switch]$Remove)');
    expect(ps1).toContain('-bor 0x200');
  });

  it('a run of each monitored tool, expanded as cmd.exe would for sample users, resolves with dig to a hit naming user, computer, tool and its ATT&CK technique', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'sensitive-command', params: { commands: ['whoami.exe', 'nltest.exe', 'klist.exe'] } });
    const keys = parseReg((await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body);
    const monitor = (exe: string) => {
      const v = keys.find((k) => k.path === `HKEY_LOCAL_MACHINE\\SOFTWARE\\${SPE}\\${exe}`)?.values.get('MonitorProcess');
      if (v?.type !== 'sz') throw new Error(`no monitor for ${exe}`);
      return v.value;
    };
    const runs: [string, Record<string, string>, { user: string; host: string; technique: string }][] = [
      ['whoami.exe', { USERNAME: 'm.keller', COMPUTERNAME: 'WS-22' }, { user: 'm.keller', host: 'WS-22', technique: 'T1033' }],
      ['nltest.exe', { USERNAME: 'Anna Meyer', COMPUTERNAME: 'LT-0442' }, { user: 'Anna-Meyer', host: 'LT-0442', technique: 'T1482' }],
      ['klist.exe', { username: 'svc_backup', computername: 'SRV-FS01' }, { user: 'svc_backup', host: 'SRV-FS01', technique: 'T1558' }],
    ];
    for (const [exe, env, want] of runs) {
      const name = nslookupName(cmdExpand(monitor(exe), env));
      expect(digStatus(await dig(s.app.port('dns'), name, 'A'))).toBe('NOERROR');
      const hit = (await listHits(s.app.deps.db, { tokenId: token.id, limit: 10 })).find((h) => h.details?.command === exe);
      expect(hit, `${exe}: ${name}`).toMatchObject({ actorUser: want.user, actorHost: want.host, classification: 'alert' });
      const meaning = explainHit(hit as NonNullable<typeof hit>, token as unknown as Token);
      expect(meaning.action).toBe(`${want.user} on ${want.host} ran ${exe} (reported by the exit monitor of "${token.name}")`);
      expect(meaning.techniques).toContain(want.technique);
    }
  });

  it('a lookup that is not the monitor (a tool it does not watch, the bare host, an unexpanded name) is stored as noise', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'sensitive-command', params: { commands: ['whoami.exe'] } });
    for (const prefix of ['alice.WS-1.ipconfig', '']) {
      await dig(s.app.port('dns'), `${prefix ? `${prefix}.` : ''}${token.hostLabel}.${ZONE}`, 'A');
    }
    const hits = await listHits(s.app.deps.db, { tokenId: token.id, limit: 10 });
    expect(hits).toHaveLength(2);
    expect(hits.every((h) => h.classification === 'noise')).toBe(true);
    expect(decodeCommandLabels(['a.b', 'PC', 'whoami'], ['whoami.exe'])).toEqual({ user: 'a.b', host: 'PC', exe: 'whoami.exe' });
    expect(decodeCommandLabels(['%USERNAME%', '%COMPUTERNAME%', 'whoami'], ['whoami.exe'])).toBeNull();
  });

  it('refuses executables it cannot watch', async () => {
    const res = await import('supertest').then((m) => m.default(s.adminUrl).post('/api/v1/tokens').set({ Authorization: `Bearer ${s.config.HONEYTRAIL_API_KEY}` }).send({ kind: 'sensitive-command', name: 'x', params: { commands: ['nslookup.exe', 'not an exe'] } }));
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/cannot be monitored/);
    expect(JSON.stringify(res.body)).toMatch(/must be an executable file name/);
  });
});
