import { guardedRouter } from './guard.ts';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import { assertApiManaged, expectedRuleJson, expectedRuleList, ruleInputOf } from '../api/expected.ts';
import { audit } from '../db/queries/audit.ts';
import { absorbedByRule, deleteExpectedRule, getExpectedRule, getExpectedRuleByName, insertExpectedRule, updateExpectedRule } from '../db/queries/expected.ts';
import type { ExpectedRuleRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { expectedRuleInput } from '../hits/expected.ts';
import { uiActor, type UiContext } from './context.ts';
import { errorSummary, formParse } from './messages.ts';

const idParam = z.object({ id: z.coerce.number().int().positive() });
const LABELS = {
  name: { label: 'Name', id: 'r-name' },
  sources: { label: 'Source addresses', id: 'r-sources' },
  hosts: { label: 'Host names', id: 'r-hosts' },
  users: { label: 'User names', id: 'r-users' },
  decoys: { label: 'Decoys', id: 'r-decoys' },
  schedule: { label: 'When', id: 'r-schedule' },
  evidence: { label: 'What it may absorb', id: 'r-ev-touch' },
  tag: { label: 'Tag', id: 'r-tag' },
  note: { label: 'Note', id: 'r-note' },
};

const lines = (v: unknown): string[] =>
  typeof v === 'string'
    ? v
        .split(/[\r\n,]+/)
        .map((x) => x.trim())
        .filter(Boolean)
    : [];

/** Form body -> rule input (lists one per line; blanks omitted so the shared schema applies its rules). */
function ruleFromBody(body: Record<string, unknown>) {
  const text = (k: string) => (typeof body[k] === 'string' && (body[k] as string).trim() ? (body[k] as string).trim() : undefined);
  const evidence = ['touch', 'credential-found'].filter((e) => body[`evidence_${e}`] === 'on');
  return {
    name: text('name') ?? '',
    enabled: body.enabled === 'on',
    sources: lines(body.sources),
    hosts: lines(body.hosts),
    users: lines(body.users),
    decoys: lines(body.decoys),
    schedule: text('schedule') ?? null,
    evidence,
    tag: text('tag') ?? null,
    note: text('note') ?? null,
  };
}

/** A stored rule as the form shows it. */
function formOf(r: ExpectedRuleRow) {
  return {
    name: r.name,
    enabled: r.enabled,
    sources: r.sources.join('\n'),
    hosts: r.hosts.join('\n'),
    users: r.users.join('\n'),
    decoys: r.decoys.join('\n'),
    schedule: r.schedule ?? '',
    evidence_touch: r.evidence.includes('touch'),
    'evidence_credential-found': r.evidence.includes('credential-found'),
    tag: r.tag ?? '',
    note: r.note ?? '',
  };
}

/** The form as submitted, shown again with its errors. */
function formFromBody(body: Record<string, unknown>) {
  return { ...body, enabled: body.enabled === 'on', evidence_touch: body.evidence_touch === 'on', 'evidence_credential-found': body['evidence_credential-found'] === 'on' };
}

/** Expected activity: the rules, what each absorbed lately, add, edit, delete (with confirmation). */
export function expectedPages(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = guardedRouter();

  const renderList = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const rules = await expectedRuleList(ui.deps);
    ui.views.render(
      res,
      'expected-activity',
      { title: 'Expected activity', nav: 'expected', rules, stale: rules.filter((x) => x.stale).length, form: { enabled: true, evidence_touch: true }, fields: {}, ...extra },
      status,
    );
  };

  const nameTaken = async (name: string, except?: number): Promise<Record<string, string> | null> => {
    const other = await getExpectedRuleByName(db, name);
    return other && other.id !== except ? { name: `is taken by rule #${other.id}` } : null;
  };

  r.get('/expected-activity', async (_req, res) => {
    await renderList(res);
  });

  r.post('/expected-activity', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(expectedRuleInput, ruleFromBody(body));
    const fields = parsed.ok ? await nameTaken(parsed.data.name) : parsed.fields;
    if (!parsed.ok || fields) return renderList(res, { form: formFromBody(body), fields: fields ?? {}, summary: errorSummary(fields ?? {}, LABELS) }, 400);
    const actor = uiActor(req, res);
    const row = await insertExpectedRule(db, { ...parsed.data, managedBy: 'api', createdBy: actor.id });
    await audit(db, { actor: actor.id, action: 'expected.create', targetType: 'expected-rule', targetId: String(row.id), ip: actor.ip, details: { rule: ruleInputOf(row) } });
    res.redirect(303, '/expected-activity?msg=rule_added');
  });

  const load = async (id: unknown): Promise<ExpectedRuleRow> => {
    const parsed = idParam.safeParse({ id });
    const row = parsed.success ? await getExpectedRule(db, parsed.data.id) : undefined;
    if (!row) throw new AppError('not_found', 'There is no expected-activity rule at this address.');
    return row;
  };
  const editable = (row: ExpectedRuleRow) => {
    try {
      assertApiManaged(row);
      return true;
    } catch {
      return false;
    }
  };
  const renderRule = async (res: Response, row: ExpectedRuleRow, extra: Record<string, unknown> = {}, status = 200) => {
    const json = expectedRuleJson(row, (await absorbedByRule(db)).get(row.id));
    ui.views.render(res, 'expected-rule', { title: `Rule ${row.name}`, nav: 'expected', rule: json, editable: editable(row), form: formOf(row), fields: {}, ...extra }, status);
  };

  r.get('/expected-activity/:id', async (req, res) => {
    await renderRule(res, await load(req.params.id));
  });

  r.post('/expected-activity/:id', async (req: Request, res) => {
    const row = await load(req.params.id);
    assertApiManaged(row);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(expectedRuleInput, ruleFromBody(body));
    const fields = parsed.ok ? await nameTaken(parsed.data.name, row.id) : parsed.fields;
    if (!parsed.ok || fields) return renderRule(res, row, { form: formFromBody(body), fields: fields ?? {}, summary: errorSummary(fields ?? {}, LABELS) }, 400);
    const next = await updateExpectedRule(db, row.id, parsed.data);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'expected.update', targetType: 'expected-rule', targetId: String(row.id), ip: actor.ip, details: { before: ruleInputOf(row), after: next ? ruleInputOf(next) : null } });
    res.redirect(303, `/expected-activity/${row.id}?msg=saved`);
  });

  r.get('/expected-activity/:id/delete', async (req, res) => {
    const row = await load(req.params.id);
    assertApiManaged(row);
    ui.views.render(res, 'confirm', {
      title: `Delete ${row.name}`,
      nav: 'expected',
      heading: `Delete the expected-activity rule "${row.name}"?`,
      text: 'Hits it would have covered will page again from now on. Hits it already absorbed stay stored as expected.',
      action: `/expected-activity/${row.id}/delete`,
      button: 'Delete rule',
      cancel: `/expected-activity/${row.id}`,
    });
  });

  r.post('/expected-activity/:id/delete', async (req, res) => {
    const row = await load(req.params.id);
    assertApiManaged(row);
    await deleteExpectedRule(db, row.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'expected.delete', targetType: 'expected-rule', targetId: String(row.id), ip: actor.ip, details: { rule: ruleInputOf(row) } });
    res.redirect(303, '/expected-activity?msg=deleted');
  });

  return r;
}
