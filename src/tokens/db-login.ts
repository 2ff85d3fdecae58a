import { randomInt } from 'node:crypto';
import { zipSync } from 'fflate';
import { z } from 'zod';
import { HOST_NAME_PATTERN } from '../net.ts';
import { detail } from './hit-words.ts';
import type { HitFacts, HitMeaning, ServiceLoginInfo, StoredHit } from './kind.ts';
import { BASE62, choose, randomString } from './secrets.ts';

/**
 * What the database credential kinds (postgres-credentials, mysql-credentials) share: plausible
 * account, database and password generation, the params every one of them has, and how a
 * sign-in attempt on a honey database becomes a hit and a sentence. The protocol lives in the
 * listener (src/listeners/); the planted secret and its meaning live here.
 */

const ROLES = ['svc_billing', 'app_reporting', 'etl_loader', 'crm_app', 'backup_ro', 'grafana_ro', 'payroll_sync', 'svc_inventory', 'analytics_rw', 'jira_db', 'metabase', 'airflow'];
const DATABASES = ['billing', 'crm_prod', 'reporting', 'payroll', 'inventory', 'analytics', 'orders', 'customers', 'ledger', 'hr_core'];
/** Characters a generated password uses: none needs escaping in .pgpass, service files, my.cnf or (after percent-encoding) URLs. */
const PASSWORD_EXTRA = '._-!*';

export function generateDbUser(): string {
  return `${choose(ROLES)}${randomInt(2) === 0 ? `_${choose(['prod', 'rw', 'ro', 'p01'])}` : String(randomInt(1, 9))}`;
}

export function generateDbDatabase(): string {
  return choose(DATABASES);
}

/** A 20-character password as password managers and `openssl rand` style generators make them. */
export function generateDbPassword(): string {
  return `${randomString(BASE62, 12)}${choose([...PASSWORD_EXTRA])}${randomString(BASE62, 7)}`;
}

/** A database name or account: letters, digits and underscores, as unquoted SQL identifiers are. */
export const dbIdentifier = z.string().trim().regex(/^[A-Za-z_][A-Za-z0-9_]{1,62}$/, 'must be 2-63 letters, digits or _, starting with a letter or _');

/** The params every database credential kind has (user, password, database, host, port). */
export const dbParams = {
  user: dbIdentifier.optional().describe('Planted account name (generated when empty)'),
  password: z.string().regex(/^[A-Za-z0-9._!*-]{8,64}$/, 'must be 8-64 letters, digits or . _ ! * -').optional().describe('Planted password (generated when empty)'),
  database: dbIdentifier.optional().describe('Database named in the files (random plausible name when empty)'),
  host: z.string().trim().regex(HOST_NAME_PATTERN, 'must be a host name or IPv4 address').optional().describe("Host the files point at: a name that reaches Honeytrail's listener (default: PUBLIC_URL's host)"),
  port: z.coerce.number().int().min(1).max(65535).optional().describe('Port the files point at (default: the listener port; 5432/3306 when forwarded)'),
};

/** What a sign-in attempt proved, as stored in the hit's details. */
export type LoginOutcome = 'password-used' | 'wrong-password' | 'no-password';

/** The hit facts of an attempt on the planted account: the proof says whether the planted password was used. */
export function describeLogin(login: ServiceLoginInfo, plantedUser: string, plantedPassword: string): HitFacts {
  const outcome: LoginOutcome = !login.answered ? 'no-password' : login.proves(plantedPassword) ? 'password-used' : 'wrong-password';
  const details = { service: login.service, user: login.user, database: login.database, method: login.method, outcome, attributes: login.attributes };
  return outcome === 'password-used' ? { credential: plantedUser, details } : { details };
}

/** What the client called itself (application_name, MySQL program_name / _client_name). */
function clientOf(hit: StoredHit): string {
  const attributes = (hit.details as { attributes?: Record<string, unknown> } | null)?.attributes ?? {};
  const named = [attributes.application_name, attributes.program_name, attributes._client_name].find((v) => typeof v === 'string' && v !== '');
  return typeof named === 'string' ? named : 'a client';
}

/** The sentence, evidence and ATT&CK techniques of a database sign-in hit. */
export function explainLogin(hit: StoredHit, product: string, plantedUser: string): HitMeaning {
  const user = detail(hit.details, 'user') ?? plantedUser;
  const database = detail(hit.details, 'database');
  const target = `${product}${database ? ` database ${database}` : ''} as ${user}`;
  const via = ` (${clientOf(hit)})`;
  switch (detail(hit.details, 'outcome')) {
    case 'password-used':
      return { action: `signed in to ${target} with the planted password${via}; refused`, evidence: 'credential-used', techniques: ['T1552.001', 'T1078'] };
    case 'wrong-password':
      return { action: `tried to sign in to ${target} with a wrong password${via}`, evidence: 'credential-found', techniques: ['T1552.001'] };
    default:
      return { action: `connected to ${target} and gave up at the password request${via}`, evidence: 'credential-found', techniques: ['T1552.001'] };
  }
}

/**
 * Files for a home folder, zipped with the Unix modes they have there (the clients ignore a
 * password file others can read) and one plausible modification time some days back.
 */
export function homeFolderZip(files: Readonly<Record<string, { text: string; mode: number }>>): Buffer {
  const mtime = new Date(Date.now() - randomInt(7, 400) * 86_400_000);
  const entries = Object.fromEntries(Object.entries(files).map(([path, f]) => [path, [Buffer.from(f.text), { mtime, os: 3, attrs: f.mode << 16 }] as [Buffer, { mtime: Date; os: number; attrs: number }]]));
  return Buffer.from(zipSync(entries, { level: 6 }));
}
