import { existsSync, readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { jsonLineSafe, printable } from '../text.ts';
import { connect, err, out, str, UsageError, type Command } from './command.ts';
import { documentSpecs } from './documents.ts';
import { parseParams, parsePlan, runPlan } from './plan.ts';
import { plantOne, type TokenJson } from './plant.ts';
import { rotateOne, verifyPlanted } from './rotate.ts';

/**
 * One tab-separated output line. Values come from hits and tokens (user agents, decoded user
 * names, token names): each is neutralised (printable), so no escape sequence, C1 control or
 * tab from an intruder reaches the terminal or shifts a column.
 */
const row = (values: readonly (string | number)[]): string => values.map((v) => printable(String(v))).join('\t');

/** Commands that plant, list, watch and retire tokens through a server's API. */
export const tokenCommands: Record<string, Command> = {
  plant: {
    summary: 'create a token and write its artifact into a folder (or bulk: --from plan.csv)',
    usage: [
      'honeytrail plant --kind KIND --name NAME --dir FOLDER [--host HOST] [--location LOC] [--filename F] [--param k=v ...]',
      '                 [--expires ISO_DATE] [--rotate-every DAYS] [--expect-seen-every DAYS] [--dry-run] [--force]',
      'honeytrail plant --from plan.csv [--dry-run] [--force] [--concurrency N]',
      'honeytrail plant --from-file FILE_OR_FOLDER [--dir OUT] [--location SHARE_PATH] [--host HOST] [--name NAME] [--dry-run] [--force]',
      '',
      '--from-file beacons your own .docx, .xlsx, .pptx and .pdf files (own-document tokens): a file, or every',
      'one under a folder (subfolders mirrored), one token per file named by its path, recorded at SHARE_PATH',
      '(or the output folder). The beaconed copy keeps the file name; without --dir it goes beside the',
      'original, which is replaced only with --force. Re-running skips documents already planted.',
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
      'from-file': { type: 'string' },
      'dry-run': { type: 'boolean' },
      force: { type: 'boolean' },
      concurrency: { type: 'string' },
      expires: { type: 'string' },
      'rotate-every': { type: 'string' },
      'expect-seen-every': { type: 'string' },
    },
    async run({ values }) {
      const api = await connect(values);
      const opts = { dryRun: values['dry-run'] === true, force: values.force === true };
      const fromFile = str(values['from-file']);
      if (str(values.from) || fromFile) {
        if (fromFile && !existsSync(fromFile)) throw new UsageError(`--from-file: ${fromFile} does not exist`);
        const specs = fromFile
          ? documentSpecs(fromFile, { dir: str(values.dir), location: str(values.location), plantedHost: str(values.host), name: str(values.name) })
          : parsePlan(readFileSync(str(values.from) ?? '', 'utf8'));
        if (fromFile && specs.length === 0) throw new UsageError(`--from-file: no .docx, .xlsx, .pptx or .pdf under ${fromFile}`);
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
        {
          kind,
          name,
          folder: dir,
          plantedHost: str(values.host),
          location: str(values.location),
          filename: str(values.filename),
          params: Object.keys(params).length ? params : undefined,
          expiresAt: str(values.expires),
          rotateEveryDays: days(values['rotate-every'], '--rotate-every'),
          expectSeenEveryDays: days(values['expect-seen-every'], '--expect-seen-every'),
        },
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
      const api = await connect(values);
      const q = new URLSearchParams({ limit: '500' });
      if (str(values.kind)) q.set('kind', str(values.kind) ?? '');
      if (str(values.location)) q.set('location', str(values.location) ?? '');
      if (values.disabled) q.set('enabled', 'false');
      const page = await api.get<{ items: TokenJson[]; total: number }>(`/tokens?${q}`);
      if (values.json) page.items.forEach((t) => out(jsonLineSafe(JSON.stringify(t))));
      else {
        out(['id', 'kind', 'enabled', 'hits', 'last hit', 'name', 'location'].join('\t'));
        for (const t of page.items) out(row([t.id, t.kind, t.enabled ? 'yes' : 'no', t.hitCount, t.lastHitAt ?? '-', t.name, t.location ?? '-']));
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
      const api = await connect(values);
      const base = str(values.token) ? `/tokens/${str(values.token)}/hits` : '/hits';
      type Hit = { id: number; at: string; tokenId: string; channel: string; sourceIp: string | null; userAgent: string | null; classification: string; actor: { user: string | null; host: string | null; domain: string | null } };
      const print = (h: Hit) => {
        if (values.json) return out(jsonLineSafe(JSON.stringify(h)));
        const actor = h.actor.user ? `${h.actor.domain ? `${h.actor.domain}\\` : ''}${h.actor.user}@${h.actor.host ?? '?'}` : '';
        out(row([h.at, h.tokenId, h.channel, h.classification, h.sourceIp ?? '-', actor || '-', h.userAgent ?? '-']));
      };
      const first = new URLSearchParams({ limit: '100', order: 'asc' });
      if (str(values.since)) first.set('since', str(values.since) ?? '');
      let page = await api.get<{ items: Hit[]; maxId: number | null }>(`${base}?${first}`);
      page.items.forEach(print);
      if (!values.follow) return 0;
      // Nothing matched yet: follow from the start of the same filter, rather than from the newest
      // id read by a second request (a hit stored between the two was never printed).
      let after = page.maxId ?? 0;
      const interval = Math.max(0.2, Number(str(values.interval) ?? 2)) * 1000;
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      process.once('SIGTERM', () => (stop = true));
      while (!stop) {
        await new Promise((r) => setTimeout(r, interval));
        const next = new URLSearchParams({ after: String(after), order: 'asc', limit: '500' });
        if (str(values.since)) next.set('since', str(values.since) ?? '');
        page = await api.get(`${base}?${next}`);
        page.items.forEach(print);
        after = page.maxId ?? after;
      }
      return 0;
    },
  },

  rotate: {
    summary: 'make a new artifact for a token\'s placement; --write DIR overwrites the planted file there',
    usage: [
      'honeytrail rotate TOKEN_ID [--write DIR] [--json]',
      '',
      'The old artifact keeps firing (its hits are marked stale). With --write, the new artifact',
      'replaces the planted file in DIR (the file name recorded at planting); without it, the',
      'command says which file to replace where.',
    ].join('\n'),
    options: { write: { type: 'string' } },
    async run({ values, positionals }) {
      const id = positionals[0];
      if (!id) throw new UsageError('rotate needs a token id');
      const api = await connect(values);
      const { rotation, file } = await rotateOne(api, id, str(values.write));
      const { token, previous, replace } = rotation;
      if (values.json) out(JSON.stringify({ token: token.id, previous: previous.id, generation: token.generation, replace, written: file }));
      else {
        out(`rotated ${previous.id} -> ${token.id} (generation ${token.generation ?? '?'})`);
        if (file) out(`  wrote ${file}`);
        else out(`  ${replace.text}${replace.download ? `\n  download the new file: GET ${replace.download} (or run again with --write DIR)` : ''}`);
      }
      return 0;
    },
  },

  verify: {
    summary: 'check that planted files under a folder are still there, and tell the server',
    usage: [
      'honeytrail verify --root DIR [--json]',
      '',
      'Checks every current token whose location is under DIR and whose planted file name is recorded',
      '(tokens planted with `plant`); missing files show on the dashboard. Exit 1 when any is missing.',
    ].join('\n'),
    options: { root: { type: 'string' } },
    async run({ values }) {
      const root = str(values.root);
      if (!root) throw new UsageError('verify needs --root DIR');
      const api = await connect(values);
      const checks = await verifyPlanted(api, root);
      for (const c of checks) {
        if (values.json) out(jsonLineSafe(JSON.stringify({ token: c.token.id, file: c.file, present: c.present })));
        else out(row([c.present ? 'present' : 'MISSING', c.token.id, c.file]));
      }
      const missing = checks.filter((c) => !c.present).length;
      err(`${checks.length} planted files checked, ${missing} missing`);
      return missing > 0 ? 1 : 0;
    },
  },

  retire: {
    summary: 'disable a token (and optionally delete it and its planted file)',
    usage: 'honeytrail retire TOKEN_ID [--delete] [--remove-file PATH]',
    options: { delete: { type: 'boolean' }, 'remove-file': { type: 'string' } },
    async run({ values, positionals }) {
      const id = positionals[0];
      if (!id) throw new UsageError('retire needs a token id');
      const api = await connect(values);
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

};

/** A whole number of days from a flag, or undefined when absent. */
function days(v: unknown, flag: string): number | undefined {
  const t = str(v);
  if (t === undefined) return undefined;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a whole number of days (1 or more)`);
  return n;
}
