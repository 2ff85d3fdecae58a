import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { renderArtifact } from '../../src/tokens/service.ts';
import { dig, digStatus } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * sql-server: the install and removal scripts are parsed as T-SQL batches (no SQL Server runs
 * on Debian): GO batches, statements that must open their batch, balanced blocks, quotes and
 * brackets, and the same objects created and dropped. The UNC names the scripts build are
 * evaluated for a login and machine and resolved with dig; the hit decodes them.
 */

const ZONE = 'mssql.example.test';
let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(() => s.stop());

/** Code with string literals and comments blanked, so counts see only T-SQL syntax. */
function codeOnly(sql: string): string {
  return sql.replace(/--[^\n]*/g, '').replace(/N?'(?:[^']|'')*'/g, "''");
}

function batches(sql: string): string[] {
  const lines = sql.split('\n');
  expect(lines.at(-1)).toBe('');
  expect(lines.at(-2)?.trim()).toBe('GO');
  const out: string[] = [];
  let cur: string[] = [];
  for (const line of lines) {
    if (/^\s*GO\s*$/i.test(line)) {
      out.push(cur.join('\n'));
      cur = [];
    } else cur.push(line);
  }
  expect(cur.join('').trim()).toBe('');
  return out;
}

function expectWellFormed(sql: string): string[] {
  expect(sql.split("'").length % 2, 'quotes balance').toBe(1);
  const all = batches(sql);
  for (const b of all) {
    const code = codeOnly(b);
    expect(code.trim(), 'no empty batch').not.toBe('');
    expect((code.match(/\(/g) ?? []).length, b).toBe((code.match(/\)/g) ?? []).length);
    expect((code.match(/\[/g) ?? []).length, b).toBe((code.match(/\]/g) ?? []).length);
    const begins = (code.match(/\bBEGIN\b/gi) ?? []).length;
    const ends = (code.match(/\bEND\b/gi) ?? []).length - (code.match(/\bCASE\b/gi) ?? []).length;
    expect(begins, b).toBe(ends);
    // CREATE VIEW/PROCEDURE/FUNCTION/TRIGGER must be the first statement of its batch.
    const creates = [...code.matchAll(/\bCREATE\s+(VIEW|PROCEDURE|FUNCTION|TRIGGER)\b/gi)];
    if (creates.length > 0) {
      expect(creates, b).toHaveLength(1);
      expect(code.trimStart().startsWith(creates[0]?.[0] ?? '?'), b).toBe(true);
    }
  }
  return all;
}

const TYPE_CODE: Record<string, string> = { TABLE: 'U', VIEW: 'V', FUNCTION: 'FN', PROCEDURE: 'P', TRIGGER: 'TR' };

/**
 * Evaluate each `DECLARE @unc varchar(300) = <concatenation>;` of a script as SQL Server would,
 * with @u/@h as the hex the script's own CONVERT makes of `login` and `machine`, a random @r,
 * and @op as each value the trigger's CASE can give; returns the UNC host names.
 */
function uncHosts(sql: string, login: string, machine: string): { op: string; host: string }[] {
  const hex = (v: string) => Buffer.from(v.slice(0, 30), 'latin1').toString('hex').toUpperCase();
  expect(sql).toContain("CONVERT(varchar(60), CAST(CAST(LEFT(SUSER_SNAME(), 30) AS varchar(30)) AS varbinary(30)), 2)");
  const caseOps = [...(/DECLARE @op char\(1\) = CASE (.*) END;/.exec(sql)?.[1] ?? '').matchAll(/THEN '(\w)'|ELSE '(\w)'/g)].map((m) => m[1] ?? m[2] ?? '');
  expect(caseOps).toEqual(['u', 'i', 'd']);
  const out: { op: string; host: string }[] = [];
  for (const m of sql.matchAll(/DECLARE @unc varchar\(300\) = (.+);/g)) {
    const parts = (m[1] ?? '').split(' + ');
    const usesOp = parts.includes('@op');
    for (const op of usesOp ? caseOps : ['']) {
      const vars: Record<string, string> = { '@r': 'A1B2C3D4', '@u': hex(login), '@h': hex(machine), '@op': op };
      const value = parts
        .map((p) => {
          if (/^'(?:[^']|'')*'$/.test(p)) return p.slice(1, -1).replace(/''/g, "'");
          const v = vars[p];
          if (v === undefined) throw new Error(`unknown term ${p}`);
          return v;
        })
        .join('');
      expect(value.startsWith('\\\\')).toBe(true);
      const host = value.slice(2).split('\\')[0] ?? '';
      out.push({ op: usesOp ? op : (host.split('.')[3] ?? ''), host });
    }
  }
  return out;
}

describe('sql-server kind', () => {
  it('install and removal scripts are well-formed batches that create and drop the same objects', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'sql-server', params: { table: 'CardHolders' } });
    const install = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString();
    const remove = await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }, 'remove');
    expect(remove.filename).toBe('CardHolders_remove.sql');
    const removal = remove.body.toString();
    expect(expectWellFormed(install).length).toBe(8);
    expectWellFormed(removal);

    const created = [...codeOnly(install).matchAll(/\bCREATE\s+(TABLE|VIEW|FUNCTION|PROCEDURE|TRIGGER)\s+(dbo\.\[\w+\])/g)].map((m) => `${TYPE_CODE[m[1] ?? '']} ${m[2]}`);
    const dropped = [...codeOnly(removal).matchAll(/\bDROP\s+(TABLE|VIEW|FUNCTION|PROCEDURE|TRIGGER)\s+(dbo\.\[\w+\])/g)].map((m) => `${TYPE_CODE[m[1] ?? '']} ${m[2]}`);
    const checked = [...removal.matchAll(/OBJECT_ID\(N'(dbo\.\[\w+\])', N'(\w+)'\)/g)].map((m) => `${m[2]} ${m[1]}`);
    expect(created).toHaveLength(6);
    expect([...dropped].sort()).toEqual([...created].sort());
    expect(checked).toEqual(dropped);
    // Every object the install calls or reads is one it creates; the view goes before what it reads.
    for (const ref of codeOnly(install).matchAll(/(?:EXEC|FROM|ON|SELECT)\s+(dbo\.\[\w+\])/g)) expect(created.map((c) => c.split(' ')[1])).toContain(ref[1]);
    expect(dropped.indexOf('V dbo.[CardHolders]')).toBeLessThan(dropped.indexOf('FN dbo.[fn_CardHoldersMask]'));
    expect(dropped.indexOf('V dbo.[CardHolders]')).toBeLessThan(dropped.indexOf('U dbo.[CardHolders_hist]'));
    expect(install).toContain('xp_dirtree');
    expect(install).toContain('xp_fileexist');
  });

  it('the names a read and each write build resolve (dig) and decode login, domain, machine and operation', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'sql-server' });
    const install = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString();
    const hosts = uncHosts(install, 'CORP\\svc_reporting', 'SQL-PROD-02');
    expect(hosts.map((h) => h.op).sort()).toEqual(['d', 'i', 's', 'u']);
    const ops: Record<string, string> = { s: 'select', i: 'insert', u: 'update', d: 'delete' };
    for (const { op, host } of hosts) {
      expect(host.endsWith(`.${token.hostLabel}.${ZONE}`)).toBe(true);
      expect(host.length).toBeLessThanOrEqual(253);
      for (const label of host.split('.')) expect(label.length).toBeLessThanOrEqual(63);
      expect(digStatus(await dig(s.app.port('dns'), host, 'A'))).toBe('NOERROR');
      const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 1 });
      expect(hit).toMatchObject({ actorUser: 'svc_reporting', actorDomain: 'CORP', actorHost: 'SQL-PROD-02', classification: 'alert', details: { operation: ops[op] } });
    }
  });

  it('a lookup without its labels is stored as noise; long logins are cut to 30 characters, still decodable', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'sql-server' });
    await dig(s.app.port('dns'), `www.${token.hostLabel}.${ZONE}`, 'A');
    let [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 1 });
    expect(hit?.classification).toBe('noise');
    const install = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString();
    const [read] = uncHosts(install, 'a_very_long_login_name_for_the_etl_service', 'DB1').filter((h) => h.op === 's');
    await dig(s.app.port('dns'), read?.host ?? '', 'A');
    [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 1 });
    expect(hit).toMatchObject({ actorUser: 'a_very_long_login_name_for_the', actorHost: 'DB1' });
  });
});
