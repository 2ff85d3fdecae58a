import { tokenHostName } from './addresses.ts';
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { collectionTechniques } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { pick } from './urls.ts';

/**
 * T-SQL a DBA applies to a real SQL Server (on Windows): a decoy table behind an attractive
 * view. Reading the view calls a function that asks `xp_fileexist` about a UNC path, writing
 * it (or the table under it) runs a trigger that lists the UNC path with `xp_dirtree`; either
 * makes the server resolve `r<rand>.u<login hex>.h<machine hex>.<op>.<id>.<zone>`. A removal
 * script drops every object the install made.
 */

const TABLES: Record<string, [string, string, (i: number) => string][]> = {
  CardHolders: [['HolderName', 'nvarchar(100)', () => `N'${pick(FIRST)} ${pick(LAST)}'`], ['CardNumber', 'char(16)', () => `'4${Array.from({ length: 15 }, () => randomInt(10)).join('')}'`], ['Expiry', 'char(5)', () => `'${String(randomInt(1, 13)).padStart(2, '0')}/${randomInt(26, 31)}'`]],
  PayrollAccounts: [['Employee', 'nvarchar(100)', () => `N'${pick(FIRST)} ${pick(LAST)}'`], ['Iban', 'varchar(34)', () => `'DE${randomInt(10, 99)}${Array.from({ length: 18 }, () => randomInt(10)).join('')}'`], ['MonthlyGross', 'decimal(10,2)', () => `${randomInt(3200, 14000)}.${randomInt(10, 99)}`]],
  ServiceLogins: [['Account', 'varchar(64)', (i) => `'svc_${pick(['backup', 'sql', 'report', 'deploy', 'scan', 'etl'])}${i}'`], ['Secret', 'varchar(64)', () => `'${Buffer.from(Array.from({ length: 12 }, () => randomInt(256))).toString('base64')}'`], ['Host', 'varchar(64)', () => `'${pick(['SRV', 'APP', 'DB', 'FS'])}-${randomInt(1, 40).toString().padStart(2, '0')}'`]],
  VpnUsers: [['UserName', 'varchar(64)', () => `'${pick(FIRST).toLowerCase()}.${pick(LAST).toLowerCase()}'`], ['PasswordHash', 'char(64)', () => `'${Array.from({ length: 64 }, () => '0123456789abcdef'[randomInt(16)]).join('')}'`], ['LastLogin', 'datetime2(0)', () => `'2025-${String(randomInt(1, 13)).padStart(2, '0')}-${String(randomInt(1, 29)).padStart(2, '0')} 0${randomInt(7, 10)}:${randomInt(10, 60)}:00'`]],
};
const FIRST = ['Anna', 'Jonas', 'Mia', 'Lukas', 'Sofia', 'David', 'Laura', 'Felix', 'Elena', 'Paul'];
const LAST = ['Keller', 'Hartmann', 'Novak', 'Berger', 'Schulz', 'Romano', 'Weber', 'Lang'];
const SHARES = ['audit', 'export', 'reports', 'backup', 'ipc'];

const params = z.object({
  table: z.enum(Object.keys(TABLES) as [string, ...string[]]).optional().describe('Decoy table (default: one at random)'),
});

type SqlServerParams = z.infer<typeof params> & { share?: string };

/** Object names of one decoy, shared by the install and the removal script. */
export function objectNames(table: string): { view: string; base: string; fn: string; proc: string; baseTrigger: string; viewTrigger: string } {
  return { view: table, base: `${table}_hist`, fn: `fn_${table}Mask`, proc: `usp_${table}Audit`, baseTrigger: `tr_${table}_hist_Audit`, viewTrigger: `tr_${table}_Write` };
}

const q = (name: string) => `dbo.[${name}]`;

/** T-SQL declaring @u (login) and @h (machine) as upper-case hex of their first 30 characters. */
const WHO = `  DECLARE @u varchar(60) = CONVERT(varchar(60), CAST(CAST(LEFT(SUSER_SNAME(), 30) AS varchar(30)) AS varbinary(30)), 2);
  DECLARE @h varchar(60) = CONVERT(varchar(60), CAST(CAST(LEFT(CAST(SERVERPROPERTY('MachineName') AS nvarchar(128)), 30) AS varchar(30)) AS varbinary(30)), 2);`;

const OP = `  DECLARE @op char(1) = CASE WHEN EXISTS (SELECT 1 FROM inserted) AND EXISTS (SELECT 1 FROM deleted) THEN 'u' WHEN EXISTS (SELECT 1 FROM inserted) THEN 'i' ELSE 'd' END;`;

export function installScript(table: string, host: string, share: string): string {
  const n = objectNames(table);
  const cols = TABLES[table] ?? [];
  const rows = Array.from({ length: randomInt(6, 12) }, (_, i) => `(${cols.map(([, , gen]) => gen(i + 1)).join(', ')})`);
  return `-- ${table}: archive kept for the ${pick(['2023', '2024'])} audit (${pick(['FIN', 'OPS', 'SEC'])}-${randomInt(1000, 9999)}); readers use the view
SET ANSI_NULLS ON;
SET QUOTED_IDENTIFIER ON;
GO
CREATE TABLE ${q(n.base)} (
  Id int IDENTITY(1,1) NOT NULL PRIMARY KEY,
${cols.map(([c, t]) => `  ${c} ${t} NULL`).join(',\n')}
);
GO
INSERT INTO ${q(n.base)} (${cols.map(([c]) => c).join(', ')}) VALUES
${rows.join(',\n')};
GO
CREATE PROCEDURE ${q(n.proc)} @op char(1)
AS
BEGIN
  SET NOCOUNT ON;
${WHO}
  DECLARE @r varchar(8) = CONVERT(varchar(8), CRYPT_GEN_RANDOM(4), 2);
  DECLARE @unc varchar(300) = '\\\\r' + @r + '.u' + @u + '.h' + @h + '.' + @op + '.${host}\\${share}';
  DECLARE @d TABLE (subdirectory nvarchar(512), depth int, isfile int);
  BEGIN TRY
    INSERT INTO @d EXEC master.sys.xp_dirtree @unc, 1, 1;
  END TRY
  BEGIN CATCH
  END CATCH
END
GO
CREATE TRIGGER ${q(n.baseTrigger)} ON ${q(n.base)}
AFTER INSERT, UPDATE, DELETE
AS
BEGIN
  SET NOCOUNT ON;
${OP}
  EXEC ${q(n.proc)} @op;
END
GO
CREATE FUNCTION ${q(n.fn)} (@n uniqueidentifier)
RETURNS int
AS
BEGIN
${WHO}
  DECLARE @r varchar(8) = LEFT(REPLACE(CAST(@n AS varchar(36)), '-', ''), 8);
  DECLARE @unc varchar(300) = '\\\\r' + @r + '.u' + @u + '.h' + @h + '.s.${host}\\${share}';
  DECLARE @e int;
  EXEC master.dbo.xp_fileexist @unc, @e OUTPUT;
  RETURN 1;
END
GO
CREATE VIEW ${q(n.view)}
AS
SELECT Id, ${cols.map(([c]) => c).join(', ')} FROM ${q(n.base)} WHERE (SELECT ${q(n.fn)}(NEWID())) = 1;
GO
CREATE TRIGGER ${q(n.viewTrigger)} ON ${q(n.view)}
INSTEAD OF INSERT, UPDATE, DELETE
AS
BEGIN
  SET NOCOUNT ON;
${OP}
  EXEC ${q(n.proc)} @op;
END
GO
`;
}

export function removalScript(table: string): string {
  const n = objectNames(table);
  const drop = (type: string, kw: string, name: string) => `IF OBJECT_ID(N'${q(name)}', N'${type}') IS NOT NULL DROP ${kw} ${q(name)};\nGO\n`;
  return `-- Removes the ${table} decoy objects (view, triggers, function, procedure, table)
${drop('TR', 'TRIGGER', n.viewTrigger)}${drop('V', 'VIEW', n.view)}${drop('FN', 'FUNCTION', n.fn)}${drop('TR', 'TRIGGER', n.baseTrigger)}${drop('P', 'PROCEDURE', n.proc)}${drop('U', 'TABLE', n.base)}`;
}

const OPS = { s: 'select', i: 'insert', u: 'update', d: 'delete' } as const;
type OpCode = keyof typeof OPS;

function unhex(label: string): string | null {
  const h = label.slice(1);
  if (!/^(?:[0-9a-f]{2}){1,30}$/i.test(h)) return null;
  return Buffer.from(h, 'hex').toString('latin1');
}

/** Decode `r<rand>.u<hex>.h<hex>.<op>` (labels left of the id); null when the last label is not an operation. */
export function decodeSqlLabels(raw: readonly string[]): { op: (typeof OPS)[OpCode]; login: string | null; machine: string | null } | null {
  const last = (raw[raw.length - 1] ?? '').toLowerCase();
  if (!(last in OPS) || raw.length > 6) return null;
  const find = (p: string) => raw.find((l) => l.toLowerCase().startsWith(p) && l.length > 1);
  const u = find('u');
  const h = find('h');
  return { op: OPS[last as OpCode], login: u ? unhex(u) : null, machine: h ? unhex(h) : null };
}

/** Install and removal T-SQL for a decoy table on SQL Server whose reads and writes resolve a token name. */
export const sqlServer = defineKind<SqlServerParams>({
  id: 'sql-server',
  label: 'SQL Server table',
  description: 'T-SQL scripts that add a decoy table to a SQL Server database (and remove it again). Reading or changing it makes the server look up a name that carries the login and the machine.',
  channels: ['dns'],
  techniques: ['T1213', 'T1005', 'T1078'],
  params,
  example: { table: 'PayrollAccounts' },
  internalParams: ['share'],
  formats: ['install', 'remove'],
  create(_ctx, _id, p) {
    return { params: { table: p.table ?? pick(Object.keys(TABLES)), share: pick(SHARES) } };
  },
  artifact(ctx, token) {
    const table = token.params.table ?? 'CardHolders';
    return {
      hostname: tokenHostName(ctx.config.DNS_ZONE, token),
      filename: `${table}_install.sql`,
      contentType: 'application/sql',
      hint: `Run ${table}_install.sql in a production database on SQL Server for Windows (sqlcmd or SSMS; the server needs outbound DNS, xp_dirtree/xp_fileexist are allowed for every login by default). Reading the ${table} view or writing it fires. ${table}_remove.sql (?format=remove) takes it all out again.`,
    };
  },
  render(ctx, token, format) {
    const table = token.params.table ?? 'CardHolders';
    if (format === 'remove') return { filename: `${table}_remove.sql`, contentType: 'application/sql', body: Buffer.from(removalScript(table)) };
    const body = installScript(table, tokenHostName(ctx.config.DNS_ZONE, token), token.params.share ?? 'audit');
    return { filename: `${table}_install.sql`, contentType: 'application/sql', body: Buffer.from(body) };
  },
  explain(hit, token) {
    const op = typeof hit.details?.operation === 'string' ? hit.details.operation : 'touch';
    const who = hit.actorUser ? ` as ${hit.actorDomain ? `${hit.actorDomain}\\` : ''}${hit.actorUser}` : '';
    const where = hit.actorHost ? ` on ${hit.actorHost}` : '';
    const verb = op === 'select' ? 'read' : op === 'touch' ? 'touched' : `ran ${op.toUpperCase()} on`;
    return { action: `someone ${verb} the decoy table ${token.params.table ?? ''}${who}${where} (names reported by the lookup)`.replace(/\s+\(/, ' ('), evidence: 'touch', techniques: collectionTechniques(token) };
  },
  dns: {
    describe(query) {
      const d = decodeSqlLabels(query.rawDataLabels);
      if (!d) return { classification: 'noise', details: { reason: 'lookup without the SQL Server labels' } };
      const [domain, user] = d.login?.includes('\\') ? [d.login.slice(0, d.login.indexOf('\\')), d.login.slice(d.login.indexOf('\\') + 1)] : [null, d.login];
      return { actor: { user: user || null, host: d.machine, domain: domain || null }, details: { operation: d.op, login: d.login, machine: d.machine } };
    },
  },
});
