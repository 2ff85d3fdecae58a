import { z } from 'zod';
import type { Config } from '../config.ts';
import { dbParams, describeLogin, explainLogin, generateDbDatabase, generateDbPassword, generateDbUser, homeFolderZip } from './db-login.ts';
import { defineKind, type ArtifactFile, type Token } from './kind.ts';
import { choose } from './secrets.ts';
import { renderTemplate } from './templates.ts';

/**
 * MySQL/MariaDB credentials as they sit on a server: a `~/.my.cnf` and an application `.env`
 * with the DB_* settings and a `mysql://` connection string, pointing at the MySQL protocol
 * listener (src/listeners/mysql.ts). A sign-in as the planted user is a hit; the
 * mysql_native_password response tells whether the planted password was used (credential use,
 * T1078) or not (the files were found, T1552.001). The token is found by the user name.
 */

const params = z.object({
  ...dbParams,
  format: z.enum(['bundle', 'mycnf', 'env']).default('bundle').describe('What to download: a zip of both files, or one of .my.cnf, .env'),
});
type MysqlParams = z.infer<typeof params>;

/** The lookup key of a planted user: the user name is what a sign-in names before its scramble. */
export function mysqlLookupKey(user: string): string {
  return `mysql-user:${user}`;
}

function target(config: Config, t: Token<MysqlParams>): { host: string; port: number } {
  return { host: t.params.host ?? new URL(config.PUBLIC_URL).hostname, port: t.params.port ?? config.MYSQL_PORT };
}

/** The two files, as an intruder finds them. */
export function mysqlFiles(config: Config, t: Token<MysqlParams>): { mycnf: string; env: string } {
  const { host, port } = target(config, t);
  const data = {
    host,
    port,
    database: t.params.database ?? '',
    user: t.params.user ?? '',
    password: t.params.password ?? '',
    comment: choose(['backup job credentials (see /etc/cron.d/db-backup)', 'ops access to the primary', 'read/write account for the app', 'managed by ansible']),
    url: `mysql://${encodeURIComponent(t.params.user ?? '')}:${encodeURIComponent(t.params.password ?? '')}@${host}:${port}/${t.params.database ?? ''}`,
  };
  return {
    mycnf: renderTemplate('tokens/mysql-credentials/my.cnf.hbs', data, 'text'),
    env: renderTemplate('tokens/mysql-credentials/env.hbs', data, 'text'),
  };
}

const FORMATS = {
  mycnf: { filename: '.my.cnf', contentType: 'text/plain; charset=utf-8' },
  env: { filename: '.env', contentType: 'text/plain; charset=utf-8' },
} as const;

function bundleName(t: Token<MysqlParams>): string {
  return `mysql-${t.params.database ?? 'db'}.zip`;
}

function render(config: Config, t: Token<MysqlParams>, format?: string): ArtifactFile {
  const files = mysqlFiles(config, t);
  const as = (format ?? t.params.format) as MysqlParams['format'];
  if (as !== 'bundle') return { ...FORMATS[as], body: Buffer.from(files[as]) };
  // The client ignores a world-writable .my.cnf.
  return { filename: bundleName(t), contentType: 'application/zip', body: homeFolderZip({ '.my.cnf': { text: files.mycnf, mode: 0o100600 }, 'app/.env': { text: files.env, mode: 0o100640 } }) };
}

/** MySQL .my.cnf / DB_* settings: a sign-in as the planted user is a hit (T1552.001, T1078). */
export const mysqlCredentials = defineKind<MysqlParams>({
  id: 'mysql-credentials',
  label: 'MySQL credentials',
  description:
    'A .my.cnf and an application .env (DB_* settings, mysql:// URL) pointing at Honeytrail\'s MySQL listener. Connecting as the planted user is recorded (client attributes, schema, source); signing in with the planted password is a credential-use alert.',
  channels: ['mysql'],
  techniques: ['T1552.001', 'T1078'],
  params,
  example: { database: 'orders' },
  generated: ['user', 'password'],
  formats: ['mycnf', 'env', 'bundle'],
  searchTerms: (t) => [t.params.user ?? ''],
  create(_ctx, _id, p) {
    const user = p.user ?? generateDbUser();
    return { params: { ...p, user, database: p.database ?? generateDbDatabase(), password: p.password ?? generateDbPassword() }, lookupKey: mysqlLookupKey(user) };
  },
  artifact(ctx, t) {
    const { host, port } = target(ctx.config, t);
    const format = t.params.format;
    return {
      hostname: host,
      filename: format === 'bundle' ? bundleName(t) : FORMATS[format].filename,
      contentType: format === 'bundle' ? 'application/zip' : FORMATS[format].contentType,
      hint: `Unzip in a home folder (.my.cnf) or an application folder (app/.env). User ${t.params.user ?? ''} on ${host}:${port}.`,
    };
  },
  render: (ctx, t, format) => render(ctx.config, t, format),
  explain: (hit, t) => explainLogin(hit, 'MySQL', t.params.user ?? ''),
  login: {
    lookupKey: (login) => (login.service === 'mysql' ? mysqlLookupKey(login.user) : null),
    describe: (login, t) => describeLogin(login, t.params.user ?? '', t.params.password ?? ''),
  },
});
