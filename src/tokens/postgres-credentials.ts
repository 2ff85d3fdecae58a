import { z } from 'zod';
import type { Config } from '../config.ts';
import { dbParams, describeLogin, explainLogin, generateDbDatabase, generateDbPassword, generateDbUser, homeFolderZip } from './db-login.ts';
import { defineKind, type ArtifactFile, type Token } from './kind.ts';
import { choose } from './secrets.ts';
import { renderTemplate } from './templates.ts';

/**
 * PostgreSQL credentials as they sit on a server or a developer's machine: a `.pgpass` line, a
 * `pg_service.conf` entry and an application `.env` with a `DATABASE_URL`, all pointing at the
 * PostgreSQL wire listener (src/listeners/pgwire.ts). A sign-in as the planted role is a hit;
 * the SCRAM proof tells whether the planted password was used (credential use, T1078) or not
 * (the files were found, T1552.001). The token is found by the role name alone.
 */

const params = z.object({
  ...dbParams,
  service: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . or -').optional().describe('Service name in pg_service.conf (generated when empty)'),
  format: z.enum(['bundle', 'pgpass', 'service', 'env']).default('bundle').describe('What to download: a zip of all three files, or one of .pgpass, pg_service.conf, .env'),
});
type PgParams = z.infer<typeof params>;

/** The lookup key of a planted role: the role name is all a sign-in reveals before its proof. */
export function pgLookupKey(user: string): string {
  return `pg-user:${user}`;
}

interface Files {
  pgpass: string;
  service: string;
  env: string;
}

function target(config: Config, t: Token<PgParams>): { host: string; port: number } {
  return { host: t.params.host ?? new URL(config.PUBLIC_URL).hostname, port: t.params.port ?? config.PGWIRE_PORT };
}

/** The three files, as an intruder finds them. */
export function pgFiles(config: Config, t: Token<PgParams>): Files {
  const { host, port } = target(config, t);
  const data = {
    host,
    port,
    database: t.params.database ?? '',
    user: t.params.user ?? '',
    password: t.params.password ?? '',
    service: t.params.service ?? '',
    comment: choose(['connection services for the reporting jobs', 'primary cluster (see runbook)', 'managed by ops, do not edit by hand', 'read/write role for the app']),
    url: `postgresql://${encodeURIComponent(t.params.user ?? '')}:${encodeURIComponent(t.params.password ?? '')}@${host}:${port}/${t.params.database ?? ''}`,
    pool: choose([5, 10, 20]),
  };
  return {
    pgpass: renderTemplate('tokens/postgres-credentials/pgpass.hbs', data, 'text'),
    service: renderTemplate('tokens/postgres-credentials/pg_service.conf.hbs', data, 'text'),
    env: renderTemplate('tokens/postgres-credentials/env.hbs', data, 'text'),
  };
}

const FORMATS = {
  pgpass: { filename: '.pgpass', contentType: 'text/plain; charset=utf-8' },
  service: { filename: 'pg_service.conf', contentType: 'text/plain; charset=utf-8' },
  env: { filename: '.env', contentType: 'text/plain; charset=utf-8' },
} as const;

function bundleName(t: Token<PgParams>): string {
  return `pg-${t.params.service ?? 'service'}.zip`;
}

function render(config: Config, t: Token<PgParams>, format?: string): ArtifactFile {
  const files = pgFiles(config, t);
  const as = (format ?? t.params.format) as PgParams['format'];
  if (as !== 'bundle') return { ...FORMATS[as], body: Buffer.from(files[as]) };
  // libpq ignores a .pgpass others can read.
  const body = homeFolderZip({ '.pgpass': { text: files.pgpass, mode: 0o100600 }, '.pg_service.conf': { text: files.service, mode: 0o100644 }, 'app/.env': { text: files.env, mode: 0o100640 } });
  return { filename: bundleName(t), contentType: 'application/zip', body };
}

/** PostgreSQL .pgpass / pg_service.conf / DATABASE_URL: a sign-in as the planted role is a hit (T1552.001, T1078). */
export const postgresCredentials = defineKind<PgParams>({
  id: 'postgres-credentials',
  label: 'PostgreSQL credentials',
  description:
    'A .pgpass line, a pg_service.conf entry and a DATABASE_URL pointing at Honeytrail\'s PostgreSQL listener. Connecting as the planted role is recorded (client, database, source); signing in with the planted password is a credential-use alert.',
  channels: ['pgwire'],
  techniques: ['T1552.001', 'T1078'],
  params,
  example: { database: 'billing', service: 'billing-prod' },
  generated: ['user', 'password'],
  formats: ['pgpass', 'service', 'env', 'bundle'],
  searchTerms: (t) => [t.params.user ?? '', t.params.service ?? ''],
  create(_ctx, _id, p) {
    const user = p.user ?? generateDbUser();
    const database = p.database ?? generateDbDatabase();
    const service = p.service ?? `${database.replace(/_/g, '-')}-${choose(['prod', 'primary', 'rw', 'main'])}`;
    return { params: { ...p, user, database, service, password: p.password ?? generateDbPassword() }, lookupKey: pgLookupKey(user) };
  },
  artifact(ctx, t) {
    const { host, port } = target(ctx.config, t);
    const format = t.params.format;
    return {
      hostname: host,
      filename: format === 'bundle' ? bundleName(t) : FORMATS[format].filename,
      contentType: format === 'bundle' ? 'application/zip' : FORMATS[format].contentType,
      hint: `Unzip in a home folder (.pgpass, .pg_service.conf) or an application folder (app/.env). Role ${t.params.user ?? ''} on ${host}:${port}, service "${t.params.service ?? ''}".`,
    };
  },
  render: (ctx, t, format) => render(ctx.config, t, format),
  explain: (hit, t) => explainLogin(hit, 'PostgreSQL', t.params.user ?? ''),
  login: {
    lookupKey: (login) => (login.service === 'postgres' ? pgLookupKey(login.user) : null),
    describe: (login, t) => describeLogin(login, t.params.user ?? '', t.params.password ?? ''),
  },
});
