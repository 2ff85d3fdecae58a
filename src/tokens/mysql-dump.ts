import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'fflate';
import { z } from 'zod';
import { collectionTechniques } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { organisationDomain, organisationName } from './organisation.ts';
import { pick } from './urls.ts';
import { tokenHostName } from './addresses.ts';

interface Table {
  name: string;
  rows: [number, number];
  /** [column, SQL type, generator] */
  columns: [string, string, string][];
  keys: string[];
}
interface Themes {
  firstNames: string[];
  lastNames: string[];
  cities: string[];
  companies: string[];
  products: string[];
  mailDomains: string[];
  themes: { databases: string[]; tables: Table[] }[];
}

const T = JSON.parse(readFileSync(new URL('../../templates/tokens/mysql-dump/themes.json', import.meta.url), 'utf8')) as Themes;
/**
 * What `mariadb-dump` on a Debian/Ubuntu database host writes in its header: the client's
 * Distrib and the server's version string, from the same package (backups run on the host).
 * Every one is 10.11.8 or later, so the dump starts with the sandbox-mode line those clients write.
 */
const BUILDS: readonly { client: string; server: string }[] = [
  { client: '10.11.11-MariaDB', server: '10.11.11-MariaDB-0+deb12u1' },
  { client: '10.11.13-MariaDB', server: '10.11.13-MariaDB-0+deb12u1' },
  { client: '10.11.13-MariaDB', server: '10.11.13-MariaDB-0ubuntu0.24.04.1' },
  { client: '10.11.14-MariaDB', server: '10.11.14-MariaDB-0+deb12u2' },
  { client: '10.11.19-MariaDB', server: '10.11.19-MariaDB-0+deb12u1' },
];
/** Names a multi-source replica gives its connections, and names of the primary it replicates from. */
const CONNECTIONS = ['dr_site', 'reporting', 'analytics', 'backup_src', 'primary', 'bi_sync', 'legacy_master'];
const PRIMARIES = ['db01', 'db-primary', 'mariadb01', 'sql-main', 'mysql-master', 'dbm1', 'db-prod-1'];
const BINLOGS = ['mysql-bin', 'mariadb-bin', 'binlog'];

const params = z.object({
  database: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a lower-case database name such as crm_prod')
    .optional()
    .describe('Database name shown in the dump header (default: matches the generated tables)'),
  gzip: z.boolean().default(false).describe('Deliver the dump gzipped (.sql.gz)'),
  dump: z
    .object({
      /** When the nightly backup job ran (its date names the file; the footer says when it completed). */
      at: z.iso.datetime(),
      build: z.number().int().min(0),
      connection: z.string().regex(/^[a-z0-9_]{1,40}$/),
      primary: z.string().regex(/^[a-z0-9-]{1,40}$/),
      logFile: z.string().regex(/^[a-z-]+\.\d{6}$/),
      logPos: z.number().int().min(4),
      gtid: z.string().regex(/^\d+-\d+-\d+$/),
      seconds: z.number().int().min(1).max(600),
    })
    .optional()
    .describe('Filled in at creation: when the dump was taken and the replication position it records'),
});

type DumpParams = z.infer<typeof params>;

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const two = (n: number) => String(n).padStart(2, '0');
const sqlTime = (d: Date) => `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
const past = (base: Date, maxDays: number) => new Date(base.getTime() - randomInt(1, maxDays * 86_400) * 1000);

function value(gen: string, row: number, counts: Map<string, number>, person: { first: string; last: string }, at: Date, orgDomain: string): string {
  const [name = '', a = '', b = ''] = gen.split(':');
  switch (name) {
    case 'serial': return String(row + 1);
    case 'firstName': return q(person.first);
    case 'lastName': return q(person.last);
    case 'fullName': return q(`${person.first} ${person.last}`);
    case 'email': return q(`${person.first}.${person.last}${randomInt(2) ? randomInt(10, 99) : ''}@${pick(T.mailDomains)}`.toLowerCase());
    case 'workEmail': return q(`${person.first[0]}${person.last}@${orgDomain}`.toLowerCase());
    case 'username': return q(`${person.first[0]}${person.last}${randomInt(3) === 0 ? randomInt(2, 9) : ''}`.toLowerCase());
    case 'company': return q(pick(T.companies));
    case 'product': return q(pick(T.products));
    case 'city': return q(pick(T.cities));
    case 'phone': return q(`+1-${randomInt(200, 999)}-${randomInt(200, 999)}-${randomInt(1000, 9999)}`);
    case 'datetime': return q(sqlTime(past(at, 900)));
    case 'date': return q(sqlTime(past(at, 1500)).slice(0, 10));
    case 'money': return `${randomInt(Number(a), Number(b))}.${two(randomInt(100))}`;
    case 'int': return String(randomInt(Number(a), Number(b) + 1));
    case 'pick': {
      // A number column's value is written bare, as mariadb-dump writes numbers.
      const v = pick(gen.slice(5).split(','));
      return /^-?\d+(\.\d+)?$/.test(v) ? v : q(v);
    }
    case 'ref': return String(randomInt(1, (counts.get(a) ?? 1) + 1));
    case 'sku': return q(`${pick(['HW', 'AC', 'NT', 'PR'])}-${randomInt(1000, 9999)}`);
    case 'bcrypt': return q(`$2y$10$${randomBytes(40).toString('base64').replace(/[+=]/g, '.').slice(0, 53)}`);
    case 'iban': return q(`DE${randomInt(10, 99)}${Array.from({ length: 18 }, () => randomInt(10)).join('')}`);
    default: return 'NULL';
  }
}

function tableSql(t: Table, counts: Map<string, number>, at: Date, orgDomain: string): string {
  const n = randomInt(t.rows[0], t.rows[1] + 1);
  counts.set(t.name, n);
  // A real dump never repeats a UNIQUE key (MariaDB's bulk load into an empty table rejects the
  // whole INSERT at COMMIT), so a row whose unique columns repeat an earlier row's is drawn again.
  const unique = t.keys
    .map((k) => /^UNIQUE KEY `[^`]+` \((.+)\)$/.exec(k)?.[1])
    .filter((cols): cols is string => cols !== undefined)
    .map((cols) => ({ at: cols.split(',').map((c) => t.columns.findIndex(([name]) => `\`${name}\`` === c.trim())), seen: new Set<string>() }));
  const rows = Array.from({ length: n }, (_, i) => {
    for (let attempt = 1; ; attempt++) {
      const person = { first: pick(T.firstNames), last: pick(T.lastNames) };
      const values = t.columns.map(([, , gen]) => value(gen, i, counts, person, at, orgDomain));
      const keys = unique.map((u) => u.at.map((c) => values[c]).join('\u0000').toLowerCase());
      if (keys.some((k, u) => unique[u]?.seen.has(k))) {
        if (attempt < 100) continue;
        throw new Error(`mysql-dump: table ${t.name} has more rows than distinct unique values`);
      }
      keys.forEach((k, u) => unique[u]?.seen.add(k));
      return `(${values.join(',')})`;
    }
  });
  const cols = [...t.columns.map(([c, type]) => `  \`${c}\` ${type}`), ...t.keys.map((k) => `  ${k}`)].join(',\n');
  return `--
-- Table structure for table \`${t.name}\`
--

DROP TABLE IF EXISTS \`${t.name}\`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE \`${t.name}\` (
${cols}
) ENGINE=InnoDB AUTO_INCREMENT=${n + 1} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table \`${t.name}\`
--

LOCK TABLES \`${t.name}\` WRITE;
/*!40000 ALTER TABLE \`${t.name}\` DISABLE KEYS */;
INSERT INTO \`${t.name}\` VALUES
${rows.join(',\n')};
/*!40000 ALTER TABLE \`${t.name}\` ENABLE KEYS */;
UNLOCK TABLES;
`;
}

type DumpFacts = NonNullable<DumpParams['dump']>;

/** The facts of one backup run, drawn once so every download is the same dump of the same night. */
function newDumpFacts(created: Date): DumpFacts {
  // A nightly job: 0-2 days before the token was made, at a random time between 00:00 and 05:59.
  const day = new Date(created.getTime() - randomInt(0, 3) * 86_400_000);
  day.setUTCHours(randomInt(0, 6), randomInt(60), randomInt(60), 0);
  const at = day.getTime() > created.getTime() ? new Date(day.getTime() - 86_400_000) : day;
  const serverId = randomInt(1, 4);
  return {
    at: `${at.toISOString().slice(0, 19)}Z`,
    build: randomInt(BUILDS.length),
    connection: `${pick(CONNECTIONS)}${randomInt(2) ? randomInt(1, 4) : ''}`,
    primary: pick(PRIMARIES),
    logFile: `${pick(BINLOGS)}.${String(randomInt(1, 900)).padStart(6, '0')}`,
    logPos: randomInt(4, 90_000_000),
    gtid: `0-${serverId}-${randomInt(10_000, 90_000_000)}`,
    seconds: randomInt(2, 90),
  };
}

/**
 * The trap is what `mariadb-dump --dump-slave=1 --apply-slave-statements --include-master-host-port`
 * writes when the dumped server is a replica: stop replication, point a named connection at the
 * primary it replicates from, and (at the bottom) start replication again. Restoring it makes the
 * server resolve the primary's host name, which lies under the token's host. Wording, the stray
 * parentheses and the spacing are mariadb-dump's own (tests/tokens/mysql-dump-diff.test.ts).
 */
export function replicationHead(f: Pick<DumpFacts, 'connection' | 'primary' | 'logFile' | 'logPos'>, host: string): string {
  return `--
-- stop slave statement to make a recovery dump)
--

STOP ALL SLAVES;

--
-- The following is the SQL position of the replication taken from SHOW SLAVE STATUS at the time of backup.
-- Use this position when creating a clone of, or replacement server, from where the backup was taken.
-- This new server will connects to the same master server(s).
--

-- A corresponding to the below dump-slave CHANGE-MASTER settings to the slave gtid state is printed later in the file.
CHANGE MASTER '${f.connection}' TO MASTER_HOST='${f.primary}.${host}', MASTER_PORT=3306, MASTER_LOG_FILE='${f.logFile}', MASTER_LOG_POS=${f.logPos};


`;
}

/** The bottom half of the `--dump-slave --apply-slave-statements` output. */
export function replicationTail(f: Pick<DumpFacts, 'gtid'>): string {
  return `
-- The deferred gtid setting for slave corresponding to the dump-slave CHANGE-MASTER follows
-- GTID position to start replication:
-- SET GLOBAL gtid_slave_pos='${f.gtid}';

--
-- start slave statement to make a recovery dump)
--

START ALL SLAVES;
`;
}

/** A mysqldump-style SQL file; restoring it makes the database server look up a token host that names it. */
export const mysqlDump = defineKind<DumpParams>({
  id: 'mysql-dump',
  label: 'MySQL/MariaDB dump',
  description: 'A plausible mariadb-dump .sql file of a replica, with realistic tables. Restoring it into MariaDB makes the server start replication from the primary the dump names, whose host name is a token host.',
  channels: ['dns'],
  techniques: ['T1005', 'T1213', 'T1039'],
  params,
  example: { database: 'crm_prod', gzip: false },
  internalParams: ['dump'],
  create(_ctx, _id, p) {
    return { params: { ...p, database: p.database ?? pick(pick(T.themes).databases), dump: p.dump ?? newDumpFacts(new Date()) } };
  },
  artifact(ctx, token) {
    return {
      hostname: tokenHostName(ctx.config.DNS_ZONE, token),
      filename: fileName(token.params, dumpDate(token.params, token.createdAt)),
      contentType: token.params.gzip ? 'application/gzip' : 'application/sql',
      hint: 'Leave the dump where backups live (a share, a bucket, a backup folder). Restoring it into MariaDB makes the database server look up the replication primary the dump names.',
    };
  },
  render(ctx, token) {
    const p = token.params;
    const db = p.database ?? 'app';
    // The tables match the database name when it is one of ours, else any theme.
    const theme = T.themes.find((t) => t.databases.includes(db)) ?? pick(T.themes);
    const counts = new Map<string, number>();
    const f = p.dump ?? newDumpFacts(token.createdAt);
    const build = BUILDS[f.build % BUILDS.length] ?? { client: '10.11.19-MariaDB', server: '10.11.19-MariaDB-0+deb12u1' };
    const started = new Date(f.at);
    const done = new Date(started.getTime() + f.seconds * 1000);
    const body = `/*M!999999\\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib ${build.client}, for debian-linux-gnu (x86_64)
--
-- Host: ${pick(['localhost', 'localhost', '127.0.0.1'])}    Database: ${db}
-- ------------------------------------------------------
-- Server version\t${build.server}

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

${replicationHead(f, tokenHostName(ctx.config.DNS_ZONE, token))}${theme.tables
      .map((t) => ({ name: t.name, sql: tableSql(t, counts, started, organisationDomain(organisationName(ctx.config))) }))
      // Generated in dependency order (rows refer to earlier tables), written in SHOW TABLES order as mariadb-dump does.
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((t) => t.sql)
      .join('\n')}${replicationTail(f)}/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on ${sqlTime(done)}
`;
    const sql = Buffer.from(body);
    const file = fileName(p, started);
    if (!p.gzip) return { filename: file, contentType: 'application/sql', body: sql };
    const gz = gzipSync(sql, { level: 9, mtime: done, filename: file.replace(/\.gz$/, '') });
    return { filename: file, contentType: 'application/gzip', body: Buffer.from(gz) };
  },
  explain(hit, token) {
    // Hits of dumps made before the replication trap named the restoring host (its @@hostname).
    const host = hit.actorHost ? ` on database host ${hit.actorHost} (name reported by the lookup)` : '';
    const how = host ? '' : ' and its server started replication from the primary the dump names';
    return { action: `the dump was restored into MySQL/MariaDB${host}${how}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  dns: {
    describe(query, token) {
      const name = query.rawDataLabels.join('.');
      if (!name) return { classification: 'noise', details: { reason: 'lookup without the replication primary name' } };
      // Dumps made before the named primary carried the restoring server's @@hostname here.
      if (!token.params.dump) return { actor: { host: name }, details: { restoredOn: name } };
      return { details: { replicationFrom: name, primaryNamedInDump: name.toLowerCase() === token.params.dump.primary } };
    },
  },
});

/** The day the backup ran: it names the file, as a nightly job's `$(date +%F)` would. */
function dumpDate(p: DumpParams, created: Date): Date {
  return p.dump ? new Date(p.dump.at) : created;
}

function fileName(p: DumpParams, at: Date): string {
  return `${p.database ?? 'backup'}-${at.toISOString().slice(0, 10)}${p.gzip ? '.sql.gz' : '.sql'}`;
}
