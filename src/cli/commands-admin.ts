import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { printable } from '../text.ts';
import { ApiError } from './api-client.ts';
import { connect, err, out, str, UsageError, withLocalDb, type Command } from './command.ts';
import type { DrillReport } from '../drills/run.ts';

/** Exports and drills (through the API), and local admin commands (on the database). */
export const adminCommands: Record<string, Command> = {
  export: {
    summary: 'export hits or incidents as csv, jsonl or stix',
    usage: 'honeytrail export [hits|incidents] [--format csv|jsonl|stix] [--since ISO] [--token ID] [--status open|acknowledged|closed] [--out FILE]',
    options: { format: { type: 'string' }, since: { type: 'string' }, token: { type: 'string' }, status: { type: 'string' }, out: { type: 'string' } },
    async run({ values, positionals }) {
      const what = positionals[0] ?? 'hits';
      if (what !== 'hits' && what !== 'incidents') throw new UsageError(`export what? "hits" or "incidents", not "${what}"`);
      const api = await connect(values);
      const q = new URLSearchParams({ format: str(values.format) ?? 'jsonl' });
      if (str(values.since)) q.set('since', str(values.since) ?? '');
      if (str(values.token)) q.set('tokenId', str(values.token) ?? '');
      if (str(values.status)) q.set('status', str(values.status) ?? '');
      const body = await api.download(`/exports/${what}?${q}`);
      if (str(values.out)) {
        await writeFile(str(values.out) ?? '', body, { mode: 0o600 }); // hits and incidents: owner-only
        err(`wrote ${body.length} bytes to ${str(values.out)}`);
      } else if (process.stdout.isTTY) {
        // Shown on a terminal: control characters from hits are neutralised (piped output stays byte for byte).
        process.stdout.write(printable(body.toString('utf8'), true));
      } else process.stdout.write(body);
      return 0;
    },
  },

  drill: {
    summary: 'send a test alert through every channel, or replay a purple-team scenario (--scenario) and report what fired and alerted',
    usage:
      'honeytrail drill [--email ADDRESS ...] [--webhook URL ...]\n       honeytrail drill --scenario NAME [--wait SECONDS]   (plants the scenario\'s own decoys, replays it against the listeners, reports decoys fired, alerts sent and latencies)\n       honeytrail drill --list',
    options: { email: { type: 'string', multiple: true }, webhook: { type: 'string', multiple: true }, scenario: { type: 'string' }, wait: { type: 'string' }, list: { type: 'boolean' } },
    async run({ values }) {
      const api = await connect(values);
      if (values.list) {
        const { scenarios } = await api.get<{ scenarios: { name: string; title: string; techniques: string[]; summary: string }[] }>('/drills');
        if (values.json) out(JSON.stringify(scenarios));
        else for (const sc of scenarios) out(`${sc.name}\t${sc.title} (${sc.techniques.join(', ')})\n    ${sc.summary}`);
        return 0;
      }
      const scenario = str(values.scenario);
      if (scenario !== undefined) {
        const wait = str(values.wait);
        if (wait !== undefined && !/^\d{1,3}$/.test(wait)) throw new UsageError('--wait takes whole seconds (0-120)');
        const run = await api.post<{ id: string; status: string; report: DrillReport }>('/drills', { scenario, ...(wait !== undefined ? { alertWaitSeconds: Number(wait) } : {}) });
        if (values.json) out(JSON.stringify(run));
        else out(drillReportText(run.id, run.report));
        return run.status === 'passed' ? 0 : 1;
      }
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

  intel: {
    summary: 'import threat-intel indicators under a label (APT group, feed), list or remove labels',
    usage:
      'honeytrail intel import FILE|- --label LABEL [--source NAME] [--purpose threat|scanner]   (IP/CIDR/domain/email per line, .csv, or a STIX 2.1 bundle .json;\n         --purpose scanner: the published ranges of a link-checking service, whose hits are stored as scanner)\n       honeytrail intel list\n       honeytrail intel remove --label LABEL',
    options: { label: { type: 'string' }, source: { type: 'string' }, purpose: { type: 'string' } },
    async run({ values, positionals }) {
      const [action, file] = positionals;
      const api = await connect(values);
      if (action === 'list') {
        const { items } = await api.get<{ items: { label: string; type: string; count: number; purpose?: string }[] }>('/intel');
        if (values.json) out(JSON.stringify(items));
        else if (items.length === 0) err('no indicators imported');
        else for (const i of items) out(`${i.label}\t${i.type}\t${i.count}${i.purpose === 'scanner' ? '\tscanner' : ''}`);
        return 0;
      }
      const label = str(values.label);
      if (action === 'remove') {
        if (!label) throw new UsageError('intel remove needs --label');
        const { removed } = await api.delete<{ removed: number }>(`/intel?${new URLSearchParams({ label })}`);
        out(`removed ${removed} indicators labelled ${label}`);
        return 0;
      }
      if (action !== 'import') throw new UsageError(`intel what? "import", "list" or "remove", not "${action ?? ''}"`);
      if (!file) throw new UsageError('intel import needs a FILE (or - for standard input)');
      if (!label) throw new UsageError('intel import needs --label (the group or feed the indicators belong to)');
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      const type = /\.json$/i.test(file) || /^\s*\{/.test(text) ? 'application/json' : /\.csv$/i.test(file) ? 'text/csv' : 'text/plain';
      const q = new URLSearchParams({ label, ...(str(values.source) ? { source: str(values.source) ?? '' } : {}), ...(str(values.purpose) ? { purpose: str(values.purpose) ?? '' } : {}) });
      const r = await api.postRaw<{ label: string; received: number; added: number }>(`/intel/import?${q}`, text, type);
      if (values.json) out(JSON.stringify(r));
      else out(`${r.label}: ${r.received} indicators read, ${r.added} new`);
      return 0;
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
      await withLocalDb(async (db) => {
        const { key, row } = await createApiKey(db, name, 'cli');
        if (values.json) out(JSON.stringify({ id: row.id, name: row.name, key }));
        else out(`${key}\n(id ${row.id}; store it now, it is not shown again)`);
      });
      return 0;
    },
  },

  admin: {
    summary: 'local admin: create an account for the web UI, or reset its password or authenticator',
    usage:
      'honeytrail admin create --email ADDRESS [--role admin|responder|viewer] [--password-stdin]\n       honeytrail admin reset-password --email ADDRESS [--password-stdin]\n       honeytrail admin reset-mfa --email ADDRESS\n       (without --password-stdin a strong password is generated and printed once; reads DATABASE_URL like the server)',
    options: { email: { type: 'string' }, role: { type: 'string' }, 'password-stdin': { type: 'boolean' } },
    async run({ values, positionals }) {
      const action = positionals[0];
      if (action !== 'create' && action !== 'reset-password' && action !== 'reset-mfa') throw new UsageError('admin what? "create", "reset-password" or "reset-mfa"');
      const email = str(values.email)?.trim().toLowerCase();
      if (!email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new UsageError(`admin ${action} needs --email with a valid address`);
      const users = await import('../db/queries/users.ts');
      if (action === 'reset-mfa') {
        await withLocalDb(async (db) => {
          const user = await users.findUserByEmail(db, email);
          if (!user) throw new UsageError(`there is no account ${email}`);
          await users.clearTotp(db, user.id);
          const { audit } = await import('../db/queries/audit.ts');
          await audit(db, { actor: 'cli', action: 'user.mfa_reset', targetType: 'user', targetId: email });
        });
        out(`removed the authenticator of ${email}; they set up a new one at their next sign-in if it is required`);
        return 0;
      }
      const role = str(values.role) ?? 'admin';
      if (role !== 'admin' && role !== 'responder' && role !== 'viewer') throw new UsageError('--role must be admin, responder or viewer');
      const generated = !values['password-stdin'];
      const password = generated ? randomBytes(18).toString('base64url') : readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      const { hashPassword } = await import('../admin/passwords.ts');
      const { passwordProblem } = await import('../admin/password-policy.ts');
      const problem = passwordProblem(password, [email]);
      if (problem) throw new UsageError(`the password ${problem}`);
      const hash = await hashPassword(password);
      await withLocalDb(async (db) => {
        const existing = await users.findUserByEmail(db, email);
        const { audit } = await import('../db/queries/audit.ts');
        if (action === 'create') {
          if (existing) throw new UsageError(`an account ${email} already exists`);
          await users.insertUserWithRole(db, email, hash, role);
          await audit(db, { actor: 'cli', action: 'user.create', targetType: 'user', targetId: email, details: { role } });
        } else {
          if (!existing) throw new UsageError(`there is no account ${email}`);
          await users.setPassword(db, existing.id, hash);
          await audit(db, { actor: 'cli', action: 'user.password_reset', targetType: 'user', targetId: email });
        }
      });
      const did = action === 'create' ? `created ${role} ${email}` : `reset the password of ${email} (their sessions were ended)`;
      out(generated ? `${did}\npassword: ${password}\n(shown once; change it after signing in)` : did);
      return 0;
    },
  },
};

/** A drill report for a terminal: one line per decoy and per alert, then what was missed. */
export function drillReportText(id: string, r: DrillReport): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  const lines = [`drill ${id} (${r.scenario.name}): ${r.status.toUpperCase()}`, '', 'decoys:'];
  for (const s of r.steps) {
    lines.push(`  ${s.outcome.padEnd(7)} ${s.technique.padEnd(9)} ${s.decoy.name} (${s.decoy.kind}) recorded ${ms(s.recordedMs)}, correlated ${ms(s.correlatedMs)}${s.incidentId ? `, incident #${s.incidentId}` : ''}${s.note ? `  ${s.note}` : ''}`);
  }
  lines.push('', 'alerts:');
  if (!r.alertsConfigured) lines.push('  none: no alert channel is configured on the server (ALERT_TO, WEBHOOK_URLS)');
  else if (r.alerts.length === 0) lines.push('  none was made');
  for (const a of r.alerts) lines.push(`  ${a.status.padEnd(7)} ${a.channel.padEnd(7)} ${a.target} (${a.kind}) ${a.sentAfterMs === null ? 'not sent yet' : `sent ${ms(a.sentAfterMs)} after the first step`}${a.error ? `  ${a.error}` : ''}`);
  lines.push('', 'incidents:');
  for (const i of r.incidents) lines.push(`  #${i.id} ${i.severity}${i.lateral ? ', lateral movement' : ''}: ${i.summary ?? ''} [${i.techniques.join(', ')}] (closed: the drill's)`);
  if (r.gaps.length) lines.push('', 'gaps:', ...r.gaps.map((g) => `  ${g}`));
  return lines.join('\n');
}
