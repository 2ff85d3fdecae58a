import { existsSync } from 'node:fs';
import { sqlitePath } from '../env.ts';
import { isPostgresUrl, redactUrl } from '../db/url.ts';
import { roleNames, roleSwitches } from '../roles.ts';
import { err, out, str, UsageError, type Command } from './command.ts';

const roleList = roleNames().join(',');

/** Start a server process with the environment's configuration, optionally limited to some roles. */
async function serveWith(only: string | undefined): Promise<number> {
  let switches: Record<string, string> = {};
  try {
    if (only !== undefined) switches = roleSwitches(only);
  } catch (e) {
    throw new UsageError(`--only: ${(e as Error).message}`);
  }
  const { loadConfig } = await import('../config.ts');
  const config = loadConfig({ ...process.env, ...switches });
  const { serve } = await import('../serve.ts');
  await serve(config, only ? `honeytrail serve --only ${only}` : 'honeytrail serve');
  // Runs until SIGTERM/SIGINT, which exit the process.
  return new Promise<number>(() => undefined);
}

/** Running Honeytrail itself: all roles in one process, or some of them per machine. */
export const serverCommands: Record<string, Command> = {
  serve: {
    summary: 'run the server (listeners and alert worker), or only some roles of it',
    usage: `honeytrail serve [--only ROLE,...]   roles: ${roleList} (default: every role the environment enables)\n\n` +
      '  e.g. --only public,dns (or --only edge: every attacker-facing listener) on edge nodes, --only admin for the security team, --only worker for alert delivery.\n' +
      '  Configuration comes from the environment and .env, as for npm start; --only sets the *_ENABLED switches.',
    options: { only: { type: 'string' } },
    run: ({ values }) => serveWith(str(values.only)),
  },
  worker: {
    summary: 'run only the alert worker (same as serve --only worker)',
    usage: 'honeytrail worker',
    options: {},
    run: () => serveWith('worker'),
  },
};

/** `honeytrail db copy`: move a SQLite deployment to PostgreSQL. */
async function copyDatabase(from: string, to: string, json: boolean): Promise<number> {
  if (!isPostgresUrl(to)) throw new UsageError(`--to must be a postgres:// URL, not "${redactUrl(to)}"`);
  if (isPostgresUrl(from)) throw new UsageError('--from must be a SQLite database (file:./path.db); it is the PostgreSQL database that is filled');
  const [{ openDatabase, closeDatabase }, { openPostgres, closePostgres }, { copySqliteToPostgres }] = await Promise.all([
    import('../db/client.ts'),
    import('../db/pg.ts'),
    import('../db/copy.ts'),
  ]);
  const path = sqlitePath(from);
  if (path === ':memory:' || !existsSync(path)) throw new UsageError(`no SQLite database at ${path} (--from, or DATABASE_URL)`);
  const source = openDatabase({ path });
  try {
    const target = await openPostgres({ url: to, max: 2 });
    try {
      err(`copying ${path} -> ${redactUrl(to)}`);
      const tty = process.stderr.isTTY;
      let shown = '';
      const result = await copySqliteToPostgres(source, target, ({ table, copied, total }) => {
        const line = `  ${table.padEnd(17)} ${String(copied).padStart(9)} / ${total}`;
        if (tty) process.stderr.write(`\r${line}${copied === total ? '\n' : ''}`);
        else if (copied === total && shown !== table) {
          shown = table;
          err(line);
        }
      });
      if (json) out(JSON.stringify(result));
      else err(`copied ${result.rows} rows in ${result.seconds.toFixed(1)} s; every table's count verified. Point DATABASE_URL at the PostgreSQL database to use it.`);
      return 0;
    } finally {
      await closePostgres(target);
    }
  } finally {
    closeDatabase(source);
  }
}

serverCommands.db = {
  summary: 'database maintenance: copy a SQLite deployment into an empty PostgreSQL database',
  usage: 'honeytrail db copy --to postgres://user@host/db [--from file:./data/honeytrail.db]   (--from defaults to DATABASE_URL)\n\n' +
    '  Copies every table with its ids in one transaction and verifies the row counts; the target must be empty.\n' +
    '  Stop the listeners first for a cut-over: hits recorded after the copy started are not copied.',
  options: { to: { type: 'string' }, from: { type: 'string' } },
  async run({ values, positionals }) {
    if (positionals[0] !== 'copy') throw new UsageError('usage: honeytrail db copy --to postgres://...');
    const to = str(values.to);
    if (!to) throw new UsageError('db copy needs --to postgres://...');
    const from = str(values.from) ?? (await import('../config.ts')).loadConfig().DATABASE_URL;
    return copyDatabase(from, to, values.json === true);
  },
};
