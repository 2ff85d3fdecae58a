import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, type TestServer } from '../helpers.ts';

/**
 * Side by side with the genuine article: our dump is restored into the MariaDB on 127.0.0.1:3306,
 * which builds the equivalent database (same tables, rows and replication connection), and the
 * real `mariadb-dump --dump-slave=1 --apply-slave-statements --include-master-host-port` dumps it
 * again. The two files must be the same line for line, except the values only the dumping
 * machine knows (client and server version, host, completion time, its GTID position), which
 * are compared by shape. docs/stealth.md lists what remains different and why.
 */
const run = promisify(execFile);
const ZONE = 'dumpdiff.example.test';
const MARIADB = ['-h', '127.0.0.1', '-P', '3306', '-u', 'root', '--protocol=TCP'];
let s: TestServer;
const databases: string[] = [];

async function sql(statement: string): Promise<string> {
  return (await run('mariadb', [...MARIADB, '-e', statement], { encoding: 'utf8' })).stdout;
}

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

/** Remove the replication connections this test's restores made (their source lies under ZONE). */
async function cleanupReplication(): Promise<void> {
  const out = await sql('SHOW ALL SLAVES STATUS\\G');
  for (const row of out.split(/\*+ \d+\. row \*+/).slice(1)) {
    const name = /Connection_name: (.*)/.exec(row)?.[1]?.trim() ?? '';
    const host = /Master_Host: (.*)/.exec(row)?.[1]?.trim() ?? '';
    if (host.endsWith(`.${ZONE}`)) await sql(`STOP SLAVE '${name}'; RESET SLAVE '${name}' ALL;`);
  }
}

beforeAll(async () => {
  await cleanupReplication();
  s = await startTestServer({ DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await cleanupReplication();
  for (const db of databases) await sql(`DROP DATABASE IF EXISTS \`${db}\``);
  await s.stop();
});

/** The values only the dumping machine knows, replaced by their shape; other connections on the server dropped. */
function normalise(text: string, connection: string): string[] {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('CHANGE MASTER ') || l.startsWith(`CHANGE MASTER '${connection}' `))
    .map((l) =>
      l
        .replace(/^(-- MariaDB dump 10\.19 {2}Distrib )10\.11\.\d+-MariaDB(, for debian-linux-gnu \(x86_64\))$/, '$1<client>$2')
        .replace(/^(-- Host: )(localhost|127\.0\.0\.1)( {4}Database: )ht_diff_[0-9a-f]+$/, '$1<host>$3<db>')
        .replace(/^(-- Server version\t)10\.11\.\d+-MariaDB-0(\+deb12u\d|ubuntu0\.24\.04\.1)$/, '$1<server>')
        .replace(/^(-- Dump completed on )\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, '$1<time>')
        .replace(/^(-- SET GLOBAL gtid_slave_pos=')(\d+-\d+-\d+)?(';)$/, '$1<gtid>$3'),
    );
}

describe('mysql-dump against the real mariadb-dump', () => {
  it.each(['crm_prod', 'shop', 'hr_portal'])('%s: re-dumping the restored database gives the same file, line for line', async (database) => {
    const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'mysql-dump', params: { database } });
    const ours = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body.toString();
    const db = `ht_diff_${randomBytes(6).toString('hex')}`;
    databases.push(db);
    await sql(`CREATE DATABASE \`${db}\``);
    const restored = await restore(db, Buffer.from(ours));
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);

    const { stdout: real } = await run('mariadb-dump', [...MARIADB, '--dump-slave=1', '--apply-slave-statements', '--include-master-host-port', db], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    const connection = /^CHANGE MASTER '(\w+)' TO /m.exec(ours)?.[1] ?? '';
    expect(connection).not.toBe('');
    const mine = normalise(ours.replace(`Database: ${database}`, `Database: ${db}`), connection);
    const theirs = normalise(real, connection);
    // Every line that differs, with its number, so a failure says exactly where the shapes part.
    const differing = mine.flatMap((l, i) => (l === theirs[i] ? [] : [`${i + 1}: ours ${JSON.stringify(l)} | mariadb-dump ${JSON.stringify(theirs[i])}`]));
    expect(differing.slice(0, 10)).toEqual([]);
    expect(mine.length).toBe(theirs.length);
    // And the shapes the placeholders stand for are there on both sides.
    for (const text of [mine, theirs]) {
      for (const placeholder of ['<client>', '<host>', '<server>', '<time>', '<gtid>']) expect(text.join('\n')).toContain(placeholder);
    }
  });
});
