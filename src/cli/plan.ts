import { Presets, SingleBar } from 'cli-progress';
import { parseCsv } from '../csv.ts';
import type { ApiClient } from './api-client.ts';
import { allTokens, locationOf, plantingKey, plantOne, type PlantOutcome, type PlantSpec } from './plant.ts';

export const PLAN_COLUMNS = ['kind', 'folder', 'host', 'name', 'location', 'filename', 'params', 'alert_emails'] as const;

export class PlanError extends Error {
  constructor(readonly problems: string[]) {
    super(`the plan has ${problems.length} invalid row(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * Parse a planting plan: CSV with a header naming `kind,folder,name` and optionally
 * `host,location,filename,params,alert_emails`. `params` is JSON (`{"target":"https://…"}`) or
 * `key=value;key=value`. Every invalid row is reported with its line before anything is planted.
 */
export function parsePlan(text: string): PlantSpec[] {
  const rows = parseCsv(text);
  const header = (rows.shift() ?? []).map((h) => h.toLowerCase());
  const problems: string[] = [];
  const unknown = header.filter((h) => !(PLAN_COLUMNS as readonly string[]).includes(h));
  if (unknown.length) problems.push(`header: unknown column(s) ${unknown.join(', ')}; known: ${PLAN_COLUMNS.join(', ')}`);
  for (const needed of ['kind', 'folder', 'name']) if (!header.includes(needed)) problems.push(`header: missing column ${needed}`);
  if (problems.length) throw new PlanError(problems);

  const specs: PlantSpec[] = [];
  rows.forEach((cells, i) => {
    const row = Object.fromEntries(header.map((h, j) => [h, cells[j] ?? '']));
    const where = `row ${i + 1}`;
    if (!row.kind || !row.folder || !row.name) {
      problems.push(`${where}: kind, folder and name are required`);
      return;
    }
    let params: Record<string, unknown> | undefined;
    try {
      params = parseParams(row.params ?? '');
    } catch (err) {
      problems.push(`${where}: params: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    specs.push({
      kind: row.kind,
      name: row.name,
      folder: row.folder,
      location: row.location || undefined,
      plantedHost: row.host || undefined,
      filename: row.filename || undefined,
      params,
      alertEmails: row.alert_emails ? row.alert_emails.split(/[;\s]+/).filter(Boolean) : undefined,
    });
  });
  if (problems.length) throw new PlanError(problems);
  return specs;
}

export function parseParams(text: string): Record<string, unknown> | undefined {
  const t = text.trim();
  if (!t) return undefined;
  if (t.startsWith('{')) {
    const v: unknown = JSON.parse(t);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be a JSON object');
    return v as Record<string, unknown>;
  }
  return Object.fromEntries(
    t.split(';').filter(Boolean).map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new Error(`"${pair}" is not key=value`);
      return [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
    }),
  );
}

export interface PlanResult {
  spec: PlantSpec;
  outcome: PlantOutcome;
}

/**
 * Plant every row, a few at a time, skipping rows already planted (same kind, name and
 * location), with a progress bar on a terminal or a line per 10% otherwise.
 */
export async function runPlan(
  api: ApiClient,
  specs: PlantSpec[],
  opts: { dryRun?: boolean; force?: boolean; concurrency?: number; out?: NodeJS.WriteStream } = {},
): Promise<PlanResult[]> {
  const out = opts.out ?? process.stderr;
  const existing = new Map((await allTokens(api)).map((t) => [plantingKey(t.kind, t.name, t.location), t.id]));
  const results: PlanResult[] = new Array(specs.length);
  const bar = out.isTTY ? new SingleBar({ format: 'planting [{bar}] {value}/{total} {eta_formatted} left', stream: out }, Presets.shades_classic) : null;
  bar?.start(specs.length, 0);
  let done = 0;
  let nextReport = 0.1;
  const tick = () => {
    done++;
    bar?.update(done);
    if (!bar && done / specs.length >= nextReport) {
      out.write(`planting: ${done}/${specs.length}\n`);
      while (done / specs.length >= nextReport) nextReport += 0.1;
    }
  };
  let cursor = 0;
  const worker = async () => {
    while (cursor < specs.length) {
      const i = cursor++;
      const spec = specs[i] as PlantSpec;
      const key = plantingKey(spec.kind, spec.name, locationOf(spec));
      let outcome: PlantOutcome;
      const already = existing.get(key);
      if (already) outcome = { status: 'skipped', reason: 'already planted', tokenId: already };
      else {
        existing.set(key, '(earlier row of this plan)');
        try {
          outcome = await plantOne(api, spec, opts);
          if (outcome.status === 'planted') existing.set(key, outcome.tokenId);
          else existing.delete(key);
        } catch (err) {
          existing.delete(key);
          outcome = { status: 'failed', error: err instanceof Error ? err.message : String(err) };
        }
      }
      results[i] = { spec, outcome };
      tick();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, specs.length)) }, worker));
  bar?.stop();
  return results;
}
