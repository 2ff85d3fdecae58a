import { guardedRouter } from './guard.ts';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Config } from '../config.ts';
import { isMultipart, readMultipart } from '../api/multipart.ts';
import type { UploadedFile } from '../tokens/kind.ts';
import { sessionOf } from './session.ts';
import { z } from 'zod';
import { tokenHits } from '../db/queries/admin-views.ts';
import { getToken as getTokenAnyState, listTokens } from '../db/queries/tokens.ts';
import { rotationDueAt } from '../tokens/freshness.ts';
import { replacementFor, rotateToken } from '../tokens/rotation.ts';
import type { TokenRow } from '../db/schema.ts';
import { AppError } from '../errors.ts';
import { isTokenId } from '../tokens/ids.ts';
import { findKind, KINDS } from '../tokens/registry.ts';
import {
  bulkTokenAction,
  createToken,
  createTokenInput,
  describeArtifact,
  patchToken,
  removeToken,
  renderArtifact,
  requireToken,
  updateTokenInput,
} from '../tokens/service.ts';
import { pager, uiActor, type UiContext } from './context.ts';
import { artifactView, assetLabeler, hitView, kindLabel } from './presenters.ts';
import { errorSummary } from './messages.ts';
import { commonFields, commonFromBody, COMMON_FIELDS, fieldErrors, fieldLabels, LEAD_FIELDS, ownValueProblems, paramFields, paramsFromBody, splitList } from './token-form.ts';

const PER_PAGE = 25;
const HITS_PER_PAGE = 50;

const listQuery = z.object({
  q: z.string().trim().max(200).optional().catch(undefined),
  kind: z.string().max(64).optional().catch(undefined),
  location: z.string().trim().max(1024).optional().catch(undefined),
  state: z.enum(['enabled', 'disabled']).optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(100_000).default(1).catch(1),
});

const idParam = z.object({ id: z.string().refine(isTokenId, 'is not a token id') });
const bulkInput = z.object({
  action: z.enum(['enable', 'disable', 'delete'], { message: 'choose enable, disable or delete' }),
  ids: z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]).filter(isTokenId)).pipe(z.array(z.string()).max(500, 'can change at most 500 tokens at once')),
  confirm: z.string().optional(),
});

function tokenRowView(t: TokenRow) {
  return { ...t, kindLabel: kindLabel(t.kind) };
}

/** Rotation and file-check state of a token, for its page. */
function freshnessView(t: TokenRow) {
  const due = t.rotatedTo ? null : rotationDueAt(t);
  return {
    generation: t.generation,
    rotatedFrom: t.rotatedFrom,
    rotatedTo: t.rotatedTo,
    rotatedAt: t.rotatedAt,
    due: due ? { at: due.at, past: due.at.getTime() <= Date.now(), why: due.why === 'expired' ? 'expires' : 'rotation due' } : null,
    missingAt: t.missingAt,
    verifiedAt: t.verifiedAt,
  };
}

function kindOptions(selected: string | undefined) {
  return KINDS.map((k) => ({ id: k.id, label: k.label, description: k.description, selected: k.id === selected }));
}

/**
 * Read the create form of a kind made from a document (multipart/form-data) for a signed-in
 * session: fields into `req.body` (for the CSRF check and the page), the file into
 * `res.locals.upload`, in memory only. Other forms pass through untouched.
 */
export function readUploadForm(config: Config): RequestHandler {
  return async (req, res, next) => {
    if (!isMultipart(req) || !sessionOf(res)) return next();
    const fields: Record<string, string | string[]> = {};
    try {
      // The hidden field carrying a kept file holds it base64-encoded.
      const { file } = await readMultipart(req, { maxFileBytes: config.UPLOAD_MAX_BYTES, maxFieldBytes: Math.ceil(config.UPLOAD_MAX_BYTES / 3) * 4 + 4, maxFields: 100, into: fields });
      req.body = fields;
      res.locals.upload = file;
      next();
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'payload_too_large' || !err.fields?.file) return next(err);
      // A file over the limit: the form comes back with what was typed before it (the CSRF field comes first) and the reason on the file field.
      req.body = fields;
      res.locals.uploadError = err.fields.file;
      next();
    }
  };
}

/** The file posted with the form, or the one kept from the previous attempt (bounded like an upload). */
function uploadOf(res: Response, body: Record<string, unknown>, max: number): UploadedFile | undefined {
  const posted = res.locals.upload as UploadedFile | undefined;
  if (posted) return posted;
  const data = typeof body.keptFile === 'string' ? Buffer.from(body.keptFile, 'base64') : undefined;
  if (!data || data.length === 0 || data.length > max) return undefined;
  return { filename: typeof body.keptFileName === 'string' ? body.keptFileName : '', body: data };
}

/** Tokens: list with filters and bulk actions, create form, detail with settings and hits, delete. */
export function tokenPages(ui: UiContext): Router {
  const { db, config } = ui.deps;
  const ctx = { config };
  const r = guardedRouter();

  r.get('/tokens', async (req, res) => {
    const q = listQuery.parse(req.query);
    const enabled = q.state === undefined ? undefined : q.state === 'enabled';
    const { items, total } = await listTokens(db, { q: q.q, kind: q.kind, location: q.location, enabled, limit: PER_PAGE, offset: (q.page - 1) * PER_PAGE });
    ui.views.render(res, 'tokens', {
      title: 'Tokens',
      nav: 'tokens',
      filter: q,
      kinds: kindOptions(q.kind),
      tokens: items.map(tokenRowView),
      pager: pager('/tokens', { q: q.q, kind: q.kind, location: q.location, state: q.state }, q.page, PER_PAGE, total),
    });
  });

  r.post('/tokens/bulk', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = bulkInput.safeParse({ ids: [], ...body });
    // Nothing ticked is a friendly note on the list, not an error page.
    if (!parsed.success || parsed.data.ids.length === 0) return res.redirect(303, '/tokens?msg=none_selected');
    const input = parsed.data;
    const actor = uiActor(req, res);
    if (input.action === 'delete' && input.confirm !== 'yes') {
      const tokens: TokenRow[] = [];
      for (const id of input.ids) tokens.push(await requireToken(db, id));
      return ui.views.render(res, 'token-delete', { title: 'Delete tokens', tokens: tokens.map(tokenRowView), bulk: true });
    }
    await bulkTokenAction(db, input.ids, input.action, actor);
    res.redirect(303, '/tokens?msg=bulk_done');
  });

  const renderNew = (res: Response, kindId: string | undefined, body: Record<string, unknown> | null, errors: Record<string, string>, status = 200, kept?: UploadedFile) => {
    const kind = kindId ? findKind(kindId) : undefined;
    const all = [...commonFields(body ?? {}, errors), ...(kind ? paramFields(kind, body, errors) : [])];
    const fileLabels: Record<string, { label: string; id: string }> = kind?.upload ? { file: { label: 'Document', id: 'f-file' } } : {};
    ui.views.render(
      res,
      'token-new',
      {
        title: 'New token',
        nav: 'tokens',
        kinds: kindOptions(kind?.id),
        kind: kind ? { id: kind.id, label: kind.label, description: kind.description } : null,
        lead: all.filter((f) => (LEAD_FIELDS as readonly string[]).includes(f.name)),
        common: all.filter((f) => !f.name.startsWith('params.') && !(LEAD_FIELDS as readonly string[]).includes(f.name)),
        summary: errorSummary(errors, { ...fieldLabels(all), ...fileLabels }),
        params: kind ? paramFields(kind, body, errors) : [],
        upload: kind?.upload
          ? {
              accept: kind.upload.accept,
              hint: `Your own ${kind.upload.accept.split(',').join(', ')} file, up to ${Math.floor(config.UPLOAD_MAX_BYTES / 1024 / 1024)} MiB. It comes back with the beacon added and nothing else changed.`,
              error: errors.file,
              // A good file survives a mistake elsewhere in the form, so it need not be chosen again.
              kept: kept && !errors.file ? { name: kept.filename, size: kept.body.length, data: kept.body.toString('base64') } : null,
            }
          : null,
        formError: errors['(form)'],
        hasErrors: Object.keys(errors).length > 0,
      },
      status,
    );
  };

  r.get('/tokens/new', (req, res) => {
    renderNew(res, typeof req.query.kind === 'string' ? req.query.kind : undefined, null, {});
  });

  r.post('/tokens/new', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const kind = typeof body.kind === 'string' ? findKind(body.kind) : undefined;
    if (!kind) return renderNew(res, undefined, body, { '(form)': 'Choose a token kind.' }, 400);
    const known = [...COMMON_FIELDS.map((f) => f.key), ...paramFields(kind, null, {}).map((f) => f.name), 'expiresAt', ...(kind.upload ? ['file'] : [])];
    const upload = uploadOf(res, body, config.UPLOAD_MAX_BYTES);
    const params = paramsFromBody(kind, body);
    const input = createTokenInput.safeParse({ kind: kind.id, ...commonFromBody(body), params });
    const checked = kind.params.safeParse(params);
    // Validate the common fields and the kind's params together, so every mistake shows at once.
    const problems = {
      ...(input.success ? {} : AppError.fromZod(input.error).fields),
      ...(checked.success ? {} : AppError.fromZod(checked.error, 'params').fields),
      ...ownValueProblems(kind, body),
    };
    const tooLarge = typeof res.locals.uploadError === 'string' ? res.locals.uploadError : undefined;
    if (kind.upload && !upload) problems.file = tooLarge ?? `is required: choose the document to beacon (${kind.upload.accept})`;
    if (!input.success || Object.keys(problems).length) return renderNew(res, kind.id, body, fieldErrors(problems, known), tooLarge ? 413 : 400, upload);
    try {
      const { token } = await createToken(db, ctx, input.data, uiActor(req, res), upload);
      res.redirect(303, `/tokens/${token.id}/created`);
    } catch (err) {
      if (!(err instanceof AppError) || err.code === 'internal') throw err;
      const errors = err.fields ? fieldErrors(err.fields, known) : { '(form)': err.message };
      renderNew(res, kind.id, body, errors, err.status, upload);
    }
  });

  // A malformed id names no token: 404, like an unknown one.
  const loadToken = (req: Request): Promise<TokenRow> => {
    const id = idParam.safeParse(req.params);
    if (!id.success) throw new AppError('not_found', 'There is no token at this address.');
    return requireToken(db, id.data.id);
  };

  r.get('/tokens/:id/created', async (req, res) => {
    const token = await loadToken(req);
    const previous = token.rotatedFrom ? await getTokenAnyState(db, token.rotatedFrom) : undefined;
    ui.views.render(res, 'token-created', {
      title: previous ? 'Token rotated' : 'Token created',
      nav: 'tokens',
      token: tokenRowView(token),
      artifact: artifactView(token.id, describeArtifact(ctx, token)),
      previous: previous ?? null,
      replace: previous ? replacementFor(ctx, previous, token) : null,
    });
  });

  const renderDetail = async (req: Request, res: Response, token: TokenRow, errors: Record<string, string> = {}, body?: Record<string, unknown>, status = 200) => {
    const before = Number(req.query.before);
    const beforeId = Number.isInteger(before) && before > 0 ? before : undefined;
    const hits = await tokenHits(db, token.id, HITS_PER_PAGE + 1, beforeId);
    const names = await assetLabeler(db);
    const page = hits.slice(0, HITS_PER_PAGE);
    const last = page[page.length - 1];
    ui.views.render(
      res,
      'token',
      {
        title: token.name,
        nav: 'tokens',
        token: tokenRowView(token),
        fresh: freshnessView(token),
        techniques: findKind(token.kind)?.techniques ?? [],
        params: Object.entries(token.params).filter(([k]) => !k.startsWith('_')).map(([k, v]) => ({ key: k, value: typeof v === 'string' ? v : JSON.stringify(v) })),
        artifact: artifactView(token.id, describeArtifact(ctx, token)),
        settings: commonFields(body ?? token, errors),
        formError: errors['(form)'],
        summary: errorSummary(errors, fieldLabels(commonFields(token, {}))),
        hits: page.map((h) => hitView(h, names, token)),
        newerLink: beforeId ? `/tokens/${token.id}#hits` : null,
        olderLink: hits.length > HITS_PER_PAGE && last ? `/tokens/${token.id}?before=${last.id}#hits` : null,
      },
      status,
    );
  };

  r.get('/tokens/:id', async (req, res) => renderDetail(req, res, await loadToken(req)));

  r.post('/tokens/:id', async (req, res) => {
    const token = await loadToken(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const fields = commonFromBody(body);
    const patch = {
      name: fields.name,
      location: typeof fields.location === 'string' ? fields.location : null,
      plantedHost: typeof fields.plantedHost === 'string' ? fields.plantedHost : null,
      tags: splitList(body.tags),
      alertEmails: splitList(body.alertEmails),
      webhooks: splitList(body.webhooks),
      ignoreCidrs: splitList(body.ignoreCidrs),
      // A blank box clears the expiry or policy.
      expiresAt: fields.expiresAt ?? null,
      rotateEveryDays: fields.rotateEveryDays ?? null,
      expectSeenEveryDays: fields.expectSeenEveryDays ?? null,
    };
    const parsed = updateTokenInput.safeParse(patch);
    if (!parsed.success) {
      const errors = fieldErrors(AppError.fromZod(parsed.error).fields, COMMON_FIELDS.map((f) => f.key));
      return renderDetail(req, res, token, errors, body, 400);
    }
    await patchToken(db, token.id, parsed.data, uiActor(req, res));
    res.redirect(303, `/tokens/${token.id}?msg=saved`);
  });

  r.post('/tokens/:id/state', async (req, res) => {
    const token = await loadToken(req);
    const enabled = (req.body as Record<string, unknown>)?.enabled === 'true';
    await patchToken(db, token.id, { enabled }, uiActor(req, res));
    res.redirect(303, `/tokens/${token.id}?msg=${enabled ? 'enabled' : 'disabled'}`);
  });

  r.get('/tokens/:id/delete', async (req, res) => {
    const token = await loadToken(req);
    ui.views.render(res, 'token-delete', { title: `Delete ${token.name}`, nav: 'tokens', tokens: [tokenRowView(token)], single: token });
  });

  r.post('/tokens/:id/delete', async (req, res) => {
    const token = await loadToken(req);
    await removeToken(db, token.id, uiActor(req, res));
    res.redirect(303, '/tokens?msg=deleted');
  });

  r.get('/tokens/:id/rotate', async (req, res) => {
    const token = await loadToken(req);
    if (token.rotatedTo) return res.redirect(303, `/tokens/${token.rotatedTo}`);
    const file = replacementFor(ctx, token, null);
    ui.views.render(res, 'confirm', {
      title: `Rotate ${token.name}`,
      nav: 'tokens',
      heading: `Rotate ${token.name}?`,
      text: `A new artifact with new secrets and a new URL is made for the same place${file.file ? ` (${file.file}${token.location ? ` in ${token.location}` : ''})` : ''}, and you replace the planted one with it. This one keeps firing, and its hits are marked as coming from an old artifact.`,
      action: `/tokens/${token.id}/rotate`,
      button: 'Rotate',
      cancel: `/tokens/${token.id}`,
    });
  });

  r.post('/tokens/:id/rotate', async (req, res) => {
    const token = await loadToken(req);
    const { token: fresh } = await rotateToken(db, ctx, token.id, uiActor(req, res));
    res.redirect(303, `/tokens/${fresh.id}/created`);
  });

  r.get('/tokens/:id/download', async (req, res) => {
    const format = typeof req.query.format === 'string' ? req.query.format.slice(0, 16) : undefined;
    const file = await renderArtifact(db, ctx, await loadToken(req), uiActor(req, res), format);
    res.status(200).type(file.contentType).attachment(file.filename).set('Cache-Control', 'no-store').send(file.body);
  });

  return r;
}
