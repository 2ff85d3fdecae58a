import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadCliEnv, loadConfig, loadDotEnv, sqlitePath } from '../config.ts';
import type { Db } from '../db/client.ts';
import { ApiError, apiClient, type ApiClient } from './api-client.ts';
import { parseParams, parsePlan, PlanError, runPlan } from './plan.ts';
import { plantOne, type TokenJson } from './plant.ts';

/**
 * `honeytrail <command>`: plant tokens into folders and shares, watch hits, retire, export.
 * Remote commands talk to a running server's JSON API (`--server`, `--api-key` or
 * HONEYTRAIL_SERVER / HONEYTRAIL_API_KEY); `api-key create` works on the local database.
 */

class UsageError extends Error {}

const GLOBAL = {
  server: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

interface Command {
  summary: string;
  usage: string;
  options: ParseArgsConfig['options'];
  run(args: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] }): Promise<number>;
}

const out = (s: string) => process.stdout.write(`${s}\n`);
const err = (s: string) => process.stderr.write(`${s}\n`);

function connect(values: Record<string, unknown>): ApiClient {
  const env = loadCliEnv();
  const server = typeof values.server === 'string' ? values.server : env.HONEYTRAIL_SERVER;
  let key = typeof values['api-key'] === 'string' ? values['api-key'] : env.HONEYTRAIL_API_KEY;
  const keyFile = join(env.DATA_DIR, 'initial-api-key');
  if (!key && existsSync(keyFile)) key = readFileSync(keyFile, 'utf8').trim();
  if (!key) throw new UsageError('no API key: pass --api-key or set HONEYTRAIL_API_KEY');
  return apiClient(server, key);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const commands: Record<string, Command> = {
  plant: {
    summary: 'create a token and write its artifact into a folder (or bulk: --from plan.csv)',
    usage: [
      'honeytrail plant --kind KIND --name NAME --dir FOLDER [--host HOST] [--location LOC] [--filename F] [--param k=v ...] [--dry-run] [--force]',
      'honeytrail plant --from plan.csv [--dry-run] [--force] [--concurrency N]',
      '',
      'Plan CSV columns: kind,folder,name and optionally host,location,filename,params,alert_emails.',
      'params is JSON or key=value;key=value. Re-running a plan skips rows already planted (same kind, name, location).',
      'Existing files are never overwritten unless --force.',
    ].join('\n'),
    options: {
      kind: { type: 'string' },
      name: { type: 'string' },
      dir: { type: 'string' },
      host: { type: 'string' },
      location: { type: 'string' },
      filename: { type: 'string' },
      param: { type: 'string', multiple: true },
      from: { type: 'string' },
      'dry-run': { type: 'boolean' },
      force: { type: 'boolean' },
      concurrency: { type: 'string' },
    },
    async run({ values }) {
      const api = connect(values);
      const opts = { dryRun: values['dry-run'] === true, force: values.force === true };
      if (str(values.from)) {
        const specs = parsePlan(readFileSync(str(values.from) ?? '', 'utf8'));
        const results = await runPlan(api, specs, { ...opts, concurrency: Number(str(values.concurrency) ?? 4) });
        const count = (s: string) => results.filter((r) => r.outcome.status === s).length;
        results.forEach((r, i) => {
          const o = r.outcome;
          const detail = o.status === 'planted' ? `${o.tokenId} ${o.file ?? o.value ?? ''}` : o.status === 'failed' ? o.error : o.status === 'skipped' ? o.reason : (o.file ?? '');
          if (values.json) out(JSON.stringify({ row: i + 1, kind: r.spec.kind, name: r.spec.name, ...o }));
          else if (o.status !== 'skipped' || !opts.dryRun) out(`row ${i + 1}\t${o.status}\t${r.spec.kind}\t${r.spec.name}\t${detail}`);
        });
        err(`summary: ${count('planted')} planted, ${count('would-plant')} would be planted, ${count('skipped')} skipped, ${count('failed')} failed (${results.length} rows)`);
        return count('failed') > 0 ? 1 : 0;
      }
      const kind = str(values.kind);
      const name = str(values.name);
      const dir = str(values.dir);
      if (!kind || !name || !dir) throw new UsageError('plant needs --kind, --name and --dir (or --from plan.csv)');
      const params = Object.assign({}, ...((values.param as string[] | undefined) ?? []).map((p) => parseParams(p)));
      const outcome = await plantOne(
        api,
        { kind, name, folder: dir, plantedHost: str(values.host), location: str(values.location), filename: str(values.filename), params: Object.keys(params).length ? params : undefined },
        opts,
      );
      if (values.json) out(JSON.stringify(outcome));
      else if (outcome.status === 'planted') out(`planted ${outcome.tokenId}${outcome.file ? ` -> ${outcome.file}` : ''}${outcome.value ? `\n  plant this value: ${outcome.value}` : ''}`);
      else if (outcome.status === 'would-plant') out(`dry run: would create a ${kind} token and write ${outcome.file ?? 'nothing'}`);
      else if (outcome.status === 'skipped') err(`not planted: ${outcome.reason}`);
      return outcome.status === 'planted' || outcome.status === 'would-plant' ? 0 : 1;
    },
  },

  list: {
    summary: 'list tokens',
    usage: 'honeytrail list [--kind KIND] [--location TEXT] [--disabled] [--json]',
    options: { kind: { type: 'string' }, location: { type: 'string' }, disabled: { type: 'boolean' } },
    async run({ values }) {
      const api = connect(values);
      const q = new URLSearchParams({ limit: '500' });
      if (str(values.kind)) q.set('kind', str(values.kind) ?? '');
      if (str(values.location)) q.set('location', str(values.location) ?? '');
      if (values.disabled) q.set('enabled', 'false');
      const page = await api.get<{ items: TokenJson[]; total: number }>(`/tokens?${q}`);
      if (values.json) page.items.forEach((t) => out(JSON.stringify(t)));
      else {
        out(['id', 'kind', 'enabled', 'hits', 'last hit', 'name', 'location'].join('\t'));
        for (const t of page.items) out([t.id, t.kind, t.enabled ? 'yes' : 'no', t.hitCount, t.lastHitAt ?? '-', t.name, t.location ?? '-'].join('\t'));
        err(`${page.items.length} of ${page.total} tokens`);
      }
      return 0;
    },
  },

  hits: {
    summary: 'show hits; --follow keeps printing new ones',
    usage: 'honeytrail hits [--token ID] [--since ISO] [--follow] [--interval SECONDS] [--json]',
    options: { token: { type: 'string' }, since: { type: 'string' }, follow: { type: 'boolean' }, interval: { type: 'string' } },
    async run({ values }) {
      const api = connect(values);
      const base = str(values.token) ? `/tokens/${str(values.token)}/hits` : '/hits';
      type Hit = { id: number; at: string; tokenId: string; channel: string; sourceIp: string | null; userAgent: string | null; classification: string; actor: { user: string | null; host: string | null; domain: string | null } };
      const print = (h: Hit) => {
        if (values.json) return out(JSON.stringify(h));
        const actor = h.actor.user ? `${h.actor.domain ? `${h.actor.domain}\\` : ''}${h.actor.user}@${h.actor.host ?? '?'}` : '';
        out([h.at, h.tokenId, h.channel, h.classification, h.sourceIp ?? '-', actor || '-', h.userAgent ?? '-'].join('\t'));
      };
      const first = new URLSearchParams({ limit: '100', order: 'asc' });
      if (str(values.since)) first.set('since', str(values.since) ?? '');
      let page = await api.get<{ items: Hit[]; maxId: number | null }>(`${base}?${first}`);
      page.items.forEach(print);
      if (!values.follow) return 0;
      let after = page.maxId ?? (await api.get<{ maxId: number | null }>(`${base}?limit=1&order=desc`)).maxId ?? 0;
      const interval = Math.max(0.2, Number(str(values.interval) ?? 2)) * 1000;
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      process.once('SIGTERM', () => (stop = true));
      while (!stop) {
        await new Promise((r) => setTimeout(r, interval));
        page = await api.get(`${base}?after=${after}&order=asc&limit=500`);
        page.items.forEach(print);
        after = page.maxId ?? after;
      }
      return 0;
    },
  },

  retire: {
    summary: 'disable a token (and optionally delete it and its planted file)',
    usage: 'honeytrail retire TOKEN_ID [--delete] [--remove-file PATH]',
    options: { delete: { type: 'boolean' }, 'remove-file': { type: 'string' } },
    async run({ values, positionals }) {
      const id = positionals[0];
      if (!id) throw new UsageError('retire needs a token id');
      const api = connect(values);
      if (values.delete) await api.delete(`/tokens/${id}`);
      else await api.patch(`/tokens/${id}`, { enabled: false });
      out(`${values.delete ? 'deleted' : 'disabled'} ${id}`);
      const file = str(values['remove-file']);
      if (file) {
        if (existsSync(file)) {
          await unlink(file);
          out(`removed ${file}`);
        } else err(`${file} does not exist; nothing removed`);
      }
      return 0;
    },
  },

  export: {
    summary: 'export hits or incidents as csv, jsonl or stix',
    usage: 'honeytrail export [hits|incidents] [--format csv|jsonl|stix] [--since ISO] [--token ID] [--status open|acknowledged|closed] [--out FILE]',
    options: { format: { type: 'string' }, since: { type: 'string' }, token: { type: 'string' }, status: { type: 'string' }, out: { type: 'string' } },
    async run({ values, positionals }) {
      const what = positionals[0] ?? 'hits';
      if (what !== 'hits' && what !== 'incidents') throw new UsageError(`export what? "hits" or "incidents", not "${what}"`);
      const api = connect(values);
      const q = new URLSearchParams({ format: str(values.format) ?? 'jsonl' });
      if (str(values.since)) q.set('since', str(values.since) ?? '');
      if (str(values.token)) q.set('tokenId', str(values.token) ?? '');
      if (str(values.status)) q.set('status', str(values.status) ?? '');
      const body = await api.download(`/exports/${what}?${q}`);
      if (str(values.out)) {
        await writeFile(str(values.out) ?? '', body);
        err(`wrote ${body.length} bytes to ${str(values.out)}`);
      } else process.stdout.write(body);
      return 0;
    },
  },

  drill: {
    summary: 'send a test alert through every configured channel and report each result',
    usage: 'honeytrail drill [--email ADDRESS ...] [--webhook URL ...]',
    options: { email: { type: 'string', multiple: true }, webhook: { type: 'string', multiple: true } },
    async run({ values }) {
      const api = connect(values);
      type Drill = { ok: boolean; results: { channel: string; target: string; ok: boolean; status?: string; error?: string }[] };
      let result: Drill;
      try {
        result = await api.post<Drill>('/alerts/test', { emails: values.email ?? [], webhooks: values.webhook ?? [] });
      } catch (e) {
        // 502 carries the per-channel results too: show them rather than only the summary.
        if (!(e instanceof ApiError) || e.status !== 502 || !e.body) throw e;
        result = e.body as Drill;
      }
      if (values.json) out(JSON.stringify(result));
      else for (const r of result.results) out(`${r.ok ? 'ok    ' : 'FAILED'} ${r.channel}\t${r.target}${r.ok ? '' : `\t${r.error ?? r.status ?? ''}`}`);
      if (result.results.length === 0) err('no alert channel is configured on the server (ALERT_TO, WEBHOOK_URLS) and none was given');
      return result.ok && result.results.length > 0 ? 0 : 1;
    },
  },

  'api-key': {
    summary: 'local admin: create an API key in the database (printed once)',
    usage: 'honeytrail api-key create --name NAME   (reads DATABASE_URL like the server)',
    options: { name: { type: 'string' } },
    async run({ values, positionals }) {
      if (positionals[0] !== 'create') throw new UsageError('usage: honeytrail api-key create --name NAME');
      const name = str(values.name);
      if (!name) throw new UsageError('api-key create needs --name');
      const { createApiKey } = await import('../db/queries/api-keys.ts');
      await withLocalDb((db) => {
        const { key, row } = createApiKey(db, name, 'cli');
        if (values.json) out(JSON.stringify({ id: row.id, name: row.name, key }));
        else out(`${key}\n(id ${row.id}; store it now, it is not shown again)`);
      });
      return 0;
    },
  },

  admin: {
    summary: 'local admin: create an admin user for the web UI',
    usage: 'honeytrail admin create --email ADDRESS [--password-stdin]   (without it a strong password is generated and printed once)',
    options: { email: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
    async run({ values, positionals }) {
      if (positionals[0] !== 'create') throw new UsageError('usage: honeytrail admin create --email ADDRESS');
      const email = str(values.email)?.trim().toLowerCase();
      if (!email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new UsageError('admin create needs --email with a valid address');
      const generated = !values['password-stdin'];
      const password = generated ? randomBytes(18).toString('base64url') : readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      const { MIN_PASSWORD_LENGTH, hashPassword } = await import('../admin/passwords.ts');
      if (password.length < MIN_PASSWORD_LENGTH) throw new UsageError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters`);
      const { findUserByEmail, insertUser } = await import('../db/queries/users.ts');
      const hash = await hashPassword(password);
      await withLocalDb((db) => {
        if (findUserByEmail(db, email)) throw new UsageError(`an admin ${email} already exists`);
        insertUser(db, email, hash);
      });
      out(generated ? `created admin ${email}\npassword: ${password}\n(shown once; change it after signing in)` : `created admin ${email}`);
      return 0;
    },
  },
};

/** Run `fn` on the local database named by DATABASE_URL (for admin commands run on the server host). */
async function withLocalDb(fn: (db: Db) => void): Promise<void> {
  const config = loadConfig();
  const { openDatabase, closeDatabase } = await import('../db/client.ts');
  const db = openDatabase({ path: sqlitePath(config.DATABASE_URL) });
  try {
    fn(db);
  } finally {
    closeDatabase(db);
  }
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return [
    'usage: honeytrail <command> [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'global options: --server URL (HONEYTRAIL_SERVER, default http://127.0.0.1:3000)',
    '                --api-key KEY (HONEYTRAIL_API_KEY, else DATA_DIR/initial-api-key)',
    '                --json  machine-readable output     -h, --help',
    '',
    'run "honeytrail <command> --help" for a command\'s options.',
  ].join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(help());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    err(`honeytrail: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    const parsed = parseArgs({ args: rest, options: { ...GLOBAL, ...command.options }, allowPositionals: true, strict: true });
    if (parsed.values.help) {
      out(`${command.summary}\n\nusage: ${command.usage}`);
      return 0;
    }
    return await command.run(parsed as Parameters<Command['run']>[0]);
  } catch (e) {
    if (e instanceof ApiError) {
      err(`honeytrail ${name}: ${e.message}${e.fields ? `\n${Object.entries(e.fields).map(([k, v]) => `  ${k}: ${v}`).join('\n')}` : ''}`);
      return 1;
    }
    if (e instanceof PlanError || e instanceof ConfigError) {
      err(`honeytrail ${name}: ${e.message}`);
      return 1;
    }
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      err(`honeytrail ${name}: ${e.message}\n\nusage: ${command.usage}`);
      return 2;
    }
    err(`honeytrail ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

loadDotEnv();
runCli(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    err(`honeytrail: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
