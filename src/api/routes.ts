import { guardedRouter } from '../admin/guard.ts';
import { Router } from 'express';
import { z } from 'zod';
import { listHits } from '../db/queries/hits.ts';
import { listTokens } from '../db/queries/tokens.ts';
import type { AppDeps } from '../deps.ts';
import { isTokenId } from '../tokens/ids.ts';
import { KINDS, paramsJsonSchema } from '../tokens/registry.ts';
import {
  createToken,
  createTokenInput,
  describeArtifact,
  patchToken,
  removeToken,
  renderArtifact,
  requireToken,
  updateTokenInput,
} from '../tokens/service.ts';
import { freshness } from '../tokens/freshness.ts';
import { recordVerification, rotateToken } from '../tokens/rotation.ts';
import { actorOf } from './auth.ts';
import { hitJson, tokenJson } from './presenters.ts';
import { isMultipart, readMultipart, tokenBodyFromFields } from './multipart.ts';
import { parse } from './validate.ts';

const limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max, `must be at most ${max}`).default(dflt);
const boolParam = z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true');

const tokenListQuery = z.object({
  kind: z.string().max(64).optional(),
  enabled: boolParam.optional(),
  location: z.string().max(1024).optional(),
  q: z.string().max(200).optional(),
  limit: limit(500, 50),
  offset: z.coerce.number().int().min(0).default(0),
});

const hitListQuery = z.object({
  since: z
    .string()
    .refine((v) => !Number.isNaN(toDate(v).getTime()), 'must be an ISO 8601 time or epoch milliseconds')
    .transform(toDate)
    .optional(),
  after: z.coerce.number().int().min(0).optional(),
  before: z.coerce.number().int().min(1).optional(),
  classification: z.string().max(32).optional(),
  limit: limit(1000, 100),
  order: z.enum(['asc', 'desc']).optional(),
});

function toDate(v: string): Date {
  return /^\d+$/.test(v) ? new Date(Number(v)) : new Date(v);
}

const idParam = z.object({ id: z.string().refine(isTokenId, 'is not a token id') });
const verificationInput = z.object({ present: z.boolean({ message: 'must be true or false' }) }).strict();
const artifactQuery = z.object({ format: z.string().max(16).optional() });

/** JSON API v1 routes (mounted at /api/v1 behind API-key auth). Each one: validate, call, present. */
export function apiRoutes(deps: AppDeps): Router {
  const { db, config } = deps;
  const ctx = { config };
  const r = guardedRouter('/api/v1');

  r.get('/kinds', (_req, res) => {
    res.json({
      items: KINDS.map((k) => ({
        id: k.id,
        label: k.label,
        description: k.description,
        channels: k.channels,
        techniques: k.techniques,
        params: paramsJsonSchema(k),
        // A kind made from the defender's own file takes it as the multipart field `file`.
        ...(k.upload ? { upload: { field: 'file', accept: k.upload.accept } } : {}),
      })),
    });
  });

  r.post('/tokens', async (req, res) => {
    // A document to beacon comes as multipart/form-data: the usual fields plus `file`.
    const upload = isMultipart(req) ? await readMultipart(req, { maxFileBytes: config.UPLOAD_MAX_BYTES }) : undefined;
    const input = parse(createTokenInput, upload ? tokenBodyFromFields(upload.fields) : (req.body ?? {}));
    const { token, artifact } = await createToken(db, ctx, input, actorOf(res.locals), upload?.file);
    res.status(201).location(`/api/v1/tokens/${token.id}`).json({ token: tokenJson(token), artifact });
  });

  r.get('/tokens', async (req, res) => {
    const q = parse(tokenListQuery, req.query);
    const { items, total } = await listTokens(db, q);
    const next = q.offset + items.length < total ? q.offset + items.length : null;
    res.json({ items: items.map((t) => tokenJson(t)), total, limit: q.limit, offset: q.offset, nextOffset: next });
  });

  r.get('/tokens/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const token = await requireToken(db, id);
    res.json(tokenJson(token, describeArtifact(ctx, token)));
  });

  r.patch('/tokens/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const input = parse(updateTokenInput, req.body ?? {});
    res.json(tokenJson(await patchToken(db, id, input, actorOf(res.locals))));
  });

  r.delete('/tokens/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    await removeToken(db, id, actorOf(res.locals));
    res.status(204).end();
  });

  r.get('/tokens/:id/artifact', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const { format } = parse(artifactQuery, req.query);
    const file = await renderArtifact(db, ctx, await requireToken(db, id), actorOf(res.locals), format);
    res
      .status(200)
      .type(file.contentType)
      .attachment(file.filename)
      .set('Cache-Control', 'no-store')
      .set('X-Content-Type-Options', 'nosniff')
      .send(file.body);
  });

  r.post('/tokens/:id/rotate', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const { token, previous, artifact, replace } = await rotateToken(db, ctx, id, actorOf(res.locals));
    res.status(201).location(`/api/v1/tokens/${token.id}`).json({ token: tokenJson(token), previous: tokenJson(previous), artifact, replace });
  });

  r.post('/tokens/:id/verification', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const { present } = parse(verificationInput, req.body ?? {});
    res.json(tokenJson(await recordVerification(db, id, present, actorOf(res.locals))));
  });

  r.get('/freshness', async (_req, res) => {
    const f = await freshness(db);
    res.json({
      due: f.due.map((d) => ({ token: tokenJson(d.token), why: d.why, since: d.since.toISOString() })),
      missing: f.missing.map((t) => tokenJson(t)),
      unseen: f.unseen.map((u) => ({ token: tokenJson(u.token), everyDays: u.everyDays, lastSeenAt: u.lastSeenAt?.toISOString() ?? null })),
    });
  });

  r.get('/tokens/:id/hits', async (req, res) => {
    const { id } = parse(idParam, req.params);
    await requireToken(db, id);
    const q = parse(hitListQuery, req.query);
    res.json(hitPage(await listHits(db, { ...q, afterId: q.after, beforeId: q.before, tokenId: id })));
  });

  r.get('/hits', async (req, res) => {
    const q = parse(hitListQuery, req.query);
    res.json(hitPage(await listHits(db, { ...q, afterId: q.after, beforeId: q.before })));
  });

  return r;
}

function hitPage(rows: Parameters<typeof hitJson>[0][]) {
  const items = rows.map(hitJson);
  const ids = items.map((h) => h.id);
  return {
    items,
    /** Poll with ?after=<maxId>&order=asc for new hits; page back with ?before=<minId>. */
    maxId: ids.length ? Math.max(...ids) : null,
    minId: ids.length ? Math.min(...ids) : null,
  };
}
