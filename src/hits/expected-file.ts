import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { basename } from 'node:path';
import { audit } from '../db/queries/audit.ts';
import { allExpectedRules, deleteExpectedRule, insertExpectedRule, updateExpectedRule } from '../db/queries/expected.ts';
import type { ExpectedRuleRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { expectedRuleInput, type ExpectedRuleInput } from './expected.ts';

/**
 * Expected-activity rules from a file (EXPECTED_ACTIVITY_FILE), for configuration management:
 * a JSON document `{ "rules": [ { "name": …, "sources": […], "decoys": […], … } ] }` (or the
 * bare array). The file owns the rules it names: they are created, updated and removed to
 * match it, marked `managedBy: file` and read-only in the console and the API. Every change is
 * in the audit log as `file:<name>`. A file with any invalid rule changes nothing and says
 * which rule and field are wrong.
 */

export class ExpectedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpectedFileError';
  }
}

/** Parse and validate the file's text; throws ExpectedFileError naming every problem. */
export function parseExpectedFile(text: string, file: string): ExpectedRuleInput[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ExpectedFileError(`${file} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const list = Array.isArray(doc) ? doc : doc && typeof doc === 'object' && Array.isArray((doc as { rules?: unknown }).rules) ? (doc as { rules: unknown[] }).rules : null;
  if (!list) throw new ExpectedFileError(`${file} must hold {"rules": [...]} or an array of rules`);
  const problems: string[] = [];
  const rules: ExpectedRuleInput[] = [];
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const parsed = expectedRuleInput.safeParse(raw);
    const label = raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string' ? `rule ${i + 1} ("${(raw as { name: string }).name}")` : `rule ${i + 1}`;
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${label}: ${issue.path.join('.') || 'rule'} ${issue.message}`);
      return;
    }
    if (names.has(parsed.data.name)) problems.push(`${label}: the name is used twice`);
    names.add(parsed.data.name);
    rules.push(parsed.data);
  });
  if (problems.length) throw new ExpectedFileError(`${file} has ${problems.length} problem(s), no rule was changed:\n  ${problems.join('\n  ')}`);
  return rules;
}

const same = (a: ExpectedRuleInput, b: ExpectedRuleRow) =>
  JSON.stringify([a.enabled, a.sources, a.hosts, a.users, a.decoys, a.schedule ?? null, a.evidence, a.tag ?? null, a.note ?? null]) ===
  JSON.stringify([b.enabled, b.sources, b.hosts, b.users, b.decoys, b.schedule, b.evidence, b.tag, b.note]);

/** Bring the file-managed rules in line with the file. Returns what changed. */
export async function syncExpectedFile(db: AnyDb, path: string): Promise<{ created: number; updated: number; removed: number }> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ExpectedFileError(`cannot read EXPECTED_ACTIVITY_FILE ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const wanted = parseExpectedFile(text, path);
  const have = await allExpectedRules(db);
  const byName = new Map(have.map((r) => [r.name, r]));
  const clash = wanted.filter((w) => byName.get(w.name)?.managedBy === 'api');
  if (clash.length) {
    throw new ExpectedFileError(`${path}: ${clash.map((c) => `"${c.name}"`).join(', ')} exist(s) already as console/API rules; rename them in the file or delete them in the console first`);
  }
  const actor = `file:${basename(path)}`;
  const out = { created: 0, updated: 0, removed: 0 };
  for (const w of wanted) {
    const old = byName.get(w.name);
    if (!old) {
      const row = await insertExpectedRule(db, { ...w, managedBy: 'file', createdBy: actor });
      await audit(db, { actor, action: 'expected.create', targetType: 'expected-rule', targetId: String(row.id), details: { rule: w } });
      out.created++;
    } else if (!same(w, old)) {
      await updateExpectedRule(db, old.id, { ...w, schedule: w.schedule ?? null, tag: w.tag ?? null, note: w.note ?? null });
      await audit(db, { actor, action: 'expected.update', targetType: 'expected-rule', targetId: String(old.id), details: { after: w } });
      out.updated++;
    }
  }
  const names = new Set(wanted.map((w) => w.name));
  for (const r of have) {
    if (r.managedBy !== 'file' || names.has(r.name)) continue;
    await deleteExpectedRule(db, r.id);
    await audit(db, { actor, action: 'expected.delete', targetType: 'expected-rule', targetId: String(r.id), details: { name: r.name } });
    out.removed++;
  }
  return out;
}

/**
 * Sync at start (an invalid file stops the start with the reasons) and again whenever the file
 * changes (checked every `intervalMs`; an invalid edit is logged and changes nothing).
 */
export async function watchExpectedFile(db: AnyDb, path: string, log: Logger, intervalMs = 5000): Promise<{ close(): void }> {
  const first = await syncExpectedFile(db, path);
  log.info({ file: path, ...first }, 'expected-activity rules loaded from file');
  let running: Promise<void> = Promise.resolve();
  const onChange = () => {
    running = running.then(async () => {
      try {
        const changed = await syncExpectedFile(db, path);
        log.info({ file: path, ...changed }, 'expected-activity file changed: rules updated');
      } catch (err) {
        log.error({ err: err instanceof Error ? err.message : String(err), file: path }, 'expected-activity file not applied; the rules stay as they were');
      }
    });
  };
  watchFile(path, { interval: intervalMs, persistent: false }, onChange);
  return {
    close() {
      unwatchFile(path, onChange);
    },
  };
}
