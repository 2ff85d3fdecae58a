import { guardedRouter } from '../admin/guard.ts';
import type { Router } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { absorbedByRule, allExpectedRules, deleteExpectedRule, getExpectedRule, getExpectedRuleByName, insertExpectedRule, updateExpectedRule, type Absorbed } from '../db/queries/expected.ts';
import type { ExpectedRuleRow } from '../db/schema.ts';
import type { AppDeps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { expectedRuleInput, expectedRulePatch } from '../hits/expected.ts';
import { actorOf } from './auth.ts';
import { parse } from './validate.ts';

const DAY = 24 * 3600 * 1000;
/** A rule that absorbed nothing for this long is flagged: the job it describes may have moved or stopped. */
export const STALE_AFTER_DAYS = 30;

const idParam = z.object({ id: z.coerce.number().int().positive('is not a rule id') });

/** A rule as the API and the console show it, with what it absorbed lately. */
export function expectedRuleJson(r: ExpectedRuleRow, absorbed: Absorbed | undefined, now = Date.now()) {
  const a = absorbed ?? { last7d: 0, last30d: 0, lastAt: null };
  const old = now - r.createdAt.getTime() >= STALE_AFTER_DAYS * DAY;
  return {
    id: r.id,
    name: r.name,
    enabled: r.enabled,
    sources: r.sources,
    hosts: r.hosts,
    users: r.users,
    decoys: r.decoys,
    schedule: r.schedule,
    evidence: r.evidence,
    tag: r.tag,
    note: r.note,
    managedBy: r.managedBy,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    absorbed: { last7d: a.last7d, last30d: a.last30d, lastAt: a.lastAt?.toISOString() ?? null },
    /** Enabled, older than 30 days, and absorbed nothing in the last 30: the job it describes may be gone. */
    stale: r.enabled && old && a.last30d === 0,
  };
}

/** Every rule with its counts, for the API list and the console page. */
export async function expectedRuleList(deps: Pick<AppDeps, 'db'>) {
  const [rules, absorbed] = await Promise.all([allExpectedRules(deps.db), absorbedByRule(deps.db)]);
  const now = Date.now();
  return rules.map((r) => expectedRuleJson(r, absorbed.get(r.id), now));
}

/** A rule the file owns is changed in the file. */
export function assertApiManaged(r: ExpectedRuleRow): void {
  if (r.managedBy === 'file') throw new AppError('conflict', `rule "${r.name}" is managed by EXPECTED_ACTIVITY_FILE: change it in that file`);
}

export async function assertNameFree(deps: Pick<AppDeps, 'db'>, name: string, except?: number): Promise<void> {
  const other = await getExpectedRuleByName(deps.db, name);
  if (other && other.id !== except) throw new AppError('conflict', `a rule named "${name}" exists already (#${other.id})`, { name: 'is taken' });
}

/** /api/v1/expected-activity: rules that make a touch expected rather than paged (src/hits/expected.ts). */
export function expectedRoutes(deps: AppDeps): Router {
  const { db } = deps;
  const r = guardedRouter('/api/v1');
  r.get('/expected-activity', async (_req, res) => {
    res.json({ items: await expectedRuleList(deps) });
  });
  r.post('/expected-activity', async (req, res) => {
    const input = parse(expectedRuleInput, req.body ?? {});
    await assertNameFree(deps, input.name);
    const actor = actorOf(res.locals);
    const row = await insertExpectedRule(db, { ...input, managedBy: 'api', createdBy: actor.id });
    await audit(db, { actor: actor.id, action: 'expected.create', targetType: 'expected-rule', targetId: String(row.id), details: { rule: expectedRuleJson(row, undefined) } });
    res.status(201).location(`/api/v1/expected-activity/${row.id}`).json(expectedRuleJson(row, undefined));
  });
  r.get('/expected-activity/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const row = await getExpectedRule(db, id);
    if (!row) throw notFound('expected-activity rule');
    res.json(expectedRuleJson(row, (await absorbedByRule(db)).get(id)));
  });
  r.patch('/expected-activity/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const row = await getExpectedRule(db, id);
    if (!row) throw notFound('expected-activity rule');
    assertApiManaged(row);
    // The patch applied to the rule must still be a valid rule (who, what, evidence).
    const merged = parse(expectedRuleInput, { ...ruleInputOf(row), ...parse(expectedRulePatch, req.body ?? {}) });
    if (merged.name !== row.name) await assertNameFree(deps, merged.name, id);
    const next = await updateExpectedRule(db, id, merged);
    if (!next) throw notFound('expected-activity rule');
    await audit(db, { actor: actorOf(res.locals).id, action: 'expected.update', targetType: 'expected-rule', targetId: String(id), details: { before: ruleInputOf(row), after: ruleInputOf(next) } });
    res.json(expectedRuleJson(next, (await absorbedByRule(db)).get(id)));
  });
  r.delete('/expected-activity/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const row = await getExpectedRule(db, id);
    if (!row) throw notFound('expected-activity rule');
    assertApiManaged(row);
    await deleteExpectedRule(db, id);
    await audit(db, { actor: actorOf(res.locals).id, action: 'expected.delete', targetType: 'expected-rule', targetId: String(id), details: { rule: ruleInputOf(row) } });
    res.status(204).end();
  });
  return r;
}

/** The writable fields of a stored rule, as input (for merging a patch and for the audit trail). */
export function ruleInputOf(r: ExpectedRuleRow) {
  return { name: r.name, enabled: r.enabled, sources: r.sources, hosts: r.hosts, users: r.users, decoys: r.decoys, schedule: r.schedule, evidence: r.evidence, tag: r.tag, note: r.note };
}
