import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listHits } from '../../src/db/queries/hits.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { ask } from '../channels/dns-client.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Restores generated dumps into the real MariaDB on 127.0.0.1:3306 (root, no password), in a
 * uniquely named database that is dropped afterwards. The dump configures a named replication
 * connection. Connection names are server-wide and drawn from a small plausible list, so two
 * dumps may pick the same one: every connection whose source host lies under this test's zone
 * is stopped and removed before the suite, after each test and at the end, whatever the
 * outcome, so each restore meets the server as an operator's would and it is left as it was.
 */
const run = promisify(execFile);
const ZONE = 'dump.example.test';
const MARIADB = ['-h', '127.0.0.1', '-P', '3306', '-u', 'root', '--protocol=TCP'];
const databases: string[] = [];
let s: TestServer;

async function sql(statement: string, db?: string): Promise<string> {
  const { stdout } = await run('mariadb', [...MARIADB, ...(db ? [db] : []), '-e', statement], { encoding: 'utf8' });
  return stdout;
}

/** Feed a dump to `mariadb` on stdin, as an operator restoring a backup would. */
function restore(db: string, dump: Buffer): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('mariadb', [...MARIADB, db], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.end(dump);
  });
}

/** Replication connections as `SHOW ALL SLAVES STATUS` lists them: name and source host. */
async function replicationConnections(): Promise<{ name: string; host: string }[]> {
  const out = await sql('SHOW ALL SLAVES STATUS\\G');
  return out
    .split(/\*+ \d+\. row \*+/)
    .slice(1)
    .map((row) => ({ name: /Connection_name: (.*)/.exec(row)?.[1]?.trim() ?? '', host: /Master_Host: (.*)/.exec(row)?.[1]?.trim() ?? '' }));
}

async function cleanupReplication(): Promise<void> {
  for (const c of await replicationConnections()) {
    if (!c.host.endsWith(`.${ZONE}`)) continue;
    await sql(`STOP SLAVE '${c.name}'; RESET SLAVE '${c.name}' ALL;`);
  }
}

beforeAll(async () => {
  await cleanupReplication();
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterEach(cleanupReplication);
afterAll(async () => {
  await cleanupReplication();
  for (const db of databases) await sql(`DROP DATABASE IF EXISTS \`${db}\``);
  await s.stop();
});

/** A new token's dump. */
async function dumpOf(params: Record<string, unknown>) {
  const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'mysql-dump', params });
  return { token, file: await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }) };
}

/** A new token's dump and an empty database to restore it into. */
async function newDump(params: Record<string, unknown>) {
  const { token, file } = await dumpOf(params);
  const db = `ht_test_${randomBytes(6).toString('hex')}`;
  databases.push(db);
  await sql(`CREATE DATABASE \`${db}\``);
  return { token, file, db };
}

/** The rows of an INSERT's VALUES list, each as its field texts (quoted strings kept whole, escapes honoured). */
function sqlTuples(values: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < values.length; i++) {
    const c = values[i] ?? '';
    if (quoted) {
      field += c;
      if (c === '\\') field += values[++i] ?? '';
      else if (c === "'") quoted = false;
    } else if (c === "'") {
      quoted = true;
      field += c;
    } else if (c === '(') {
      row = [];
      field = '';
    } else if (c === ',') {
      // Between fields of a row; between rows (after a closing parenthesis) there is no field.
      if (field !== '') row.push(field);
      field = '';
    } else if (c === ')') {
      row.push(field);
      rows.push(row);
      field = '';
    } else field += c;
  }
  return rows;
}

describe('mysql-dump artifact', () => {
  it('reads like a mariadb-dump file, varies between tokens, and its file name and footer tell the same night', async () => {
    const { token, file } = await newDump({ database: 'crm_prod' });
    const text = file.body.toString();
    expect(file.filename).toMatch(/^crm_prod-\d{4}-\d{2}-\d{2}\.sql$/);
    expect(text.split('\n')[1]).toMatch(/^-- MariaDB dump 10\.19  Distrib 10\.11\.\d+-MariaDB/);
    const completed = /^-- Dump completed on (\d{4}-\d{2}-\d{2}) (\d{2}):/m.exec(text);
    expect(file.filename).toBe(`crm_prod-${completed?.[1]}.sql`);
    // No dynamic SQL: no statement is built at restore time.
    expect(text).not.toMatch(/\bPREPARE\b|\bEXECUTE\b|CONCAT\(|@@hostname|0x[0-9a-f]{20,}/i);
    expect(text).toContain('Database: crm_prod');
    expect(text).toMatch(/CREATE TABLE `customers`/);
    expect(text).toMatch(/-- Dump completed on \d{4}-\d{2}-\d{2} /);
    // The token host appears once, as the primary a replica's dump names (no other plain trace).
    expect(text.split(token.hostLabel ?? '-')).toHaveLength(2);
    expect(text).toMatch(new RegExp(`^CHANGE MASTER '\\w+' TO MASTER_HOST='[a-z0-9-]+\\.${token.hostLabel}\\.${ZONE.replace(/\./g, '\\.')}', MASTER_PORT=3306, MASTER_LOG_FILE='[a-z-]+\\.\\d{6}', MASTER_LOG_POS=\\d+;$`, 'm'));
    const other = await newDump({ database: 'crm_prod' });
    expect(other.file.body.equals(file.body)).toBe(false);
  });

  it('never repeats a UNIQUE key in its data (MariaDB rejects such an INSERT at COMMIT): 60 dumps of each theme', async () => {
    for (const database of ['crm_prod', 'shop', 'hr_portal']) {
      for (let n = 0; n < 60; n++) {
        const { file } = await dumpOf({ database });
        const text = file.body.toString();
        for (const [, table, body] of text.matchAll(/CREATE TABLE `(\w+)` \(\n([\s\S]*?)\n\) ENGINE/g)) {
          const columns = [...(body ?? '').matchAll(/^ {2}`(\w+)` /gm)].map((m) => m[1]);
          for (const [, cols] of (body ?? '').matchAll(/UNIQUE KEY `\w+` \(([^)]+)\)/g)) {
            const at = (cols ?? '').split(',').map((c) => columns.indexOf(c.trim().replace(/`/g, '')));
            const insert = new RegExp(`^INSERT INTO \`${table}\` VALUES\n([\\s\\S]*?);$`, 'm').exec(text)?.[1] ?? '';
            const keys = sqlTuples(insert).map((row) => at.map((c) => row[c]).join('\u0000').toLowerCase());
            expect(keys.length, `${table} rows`).toBeGreaterThan(0);
            expect(new Set(keys).size, `${database}.${table} (${cols}) repeats a key`).toBe(keys.length);
          }
        }
      }
    }
  });

  it.each([
    ['plain .sql', { database: 'shop', gzip: false }],
    ['gzipped .sql.gz', { database: 'hr_portal', gzip: true }],
  ])('%s restores into MariaDB without errors and points replication at the primary it names, under the token host', async (_label, params) => {
    const { token, file, db } = await newDump(params);
    const dump = params.gzip ? gunzipSync(file.body) : file.body;
    if (params.gzip) expect(file.filename).toMatch(/\.sql\.gz$/);
    const { code, stderr } = await restore(db, dump);
    expect(stderr).toBe('');
    expect(code).toBe(0);

    const tables = (await sql('SHOW TABLES', db)).trim().split('\n').slice(1);
    expect(tables.length).toBeGreaterThanOrEqual(2);
    for (const t of tables) {
      const count = Number((await sql(`SELECT COUNT(*) FROM \`${t}\``, db)).trim().split('\n')[1]);
      expect(count).toBeGreaterThan(5);
    }

    const primary = (token.params as { dump?: { primary?: string } }).dump?.primary ?? '';
    expect(primary).toMatch(/^[a-z][a-z0-9-]+$/);
    const lookup = `${primary}.${token.hostLabel}.${ZONE}`;
    const conn = (await replicationConnections()).find((c) => c.host.includes(token.hostLabel ?? '-'));
    expect(conn?.host).toBe(lookup);
    expect(conn?.name).not.toBe('');

    // The server would now resolve `lookup`; ask our DNS channel exactly that.
    const reply = await ask(s.app.port('dns'), lookup, 'A');
    expect(reply?.rcode).toBe('NOERROR');
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hit).toMatchObject({ channel: 'dns', actorHost: null, qname: lookup.toLowerCase(), classification: 'alert' });
    expect(hit?.details).toMatchObject({ replicationFrom: primary, primaryNamedInDump: true });
  });

  it('a lookup without a host name label is noise', async () => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'mysql-dump' });
    expect(describeArtifact({ config: s.config }, token).hostname).toBe(`${token.hostLabel}.${ZONE}`);
    await ask(s.app.port('dns'), `${token.hostLabel}.${ZONE}`, 'A');
    const [hit] = await listHits(s.app.deps.db, { tokenId: token.id, limit: 5 });
    expect(hit?.classification).toBe('noise');
  });
});
