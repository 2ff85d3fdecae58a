import { z } from 'zod';
import { DRILL_TAG_PREFIX } from '../drills/tag.ts';
import { audit, type AuditEntry } from '../db/queries/audit.ts';
import { deleteTokenFiles, getTokenFile, insertTokenFile } from '../db/queries/token-files.ts';
import { addTokenTerms, tokensWithoutTerms } from '../db/queries/token-terms.ts';
import { applyTokenAction, deleteToken, getToken, insertToken, liveTokenIds, updateToken, type TokenAction } from '../db/queries/tokens.ts';
import type { NewTokenRow, TokenRow } from '../db/schema.ts';
import { isUniqueViolation, type AnyDb } from '../db/store.ts';
import { AppError, notFound } from '../errors.ts';
import { HOST_NAME_MESSAGE, HOST_NAME_PATTERN, isCidr } from '../net.ts';
import { newHostLabel } from './addresses.ts';
import { newTokenId } from './ids.ts';
import type { ArtifactFile, ArtifactInfo, KindContext, Token, TokenKind, UploadedFile } from './kind.ts';
import { findKind, kindIds } from './registry.ts';

/**
 * Token use cases shared by the API, the admin UI and the CLI: validate, create, describe,
 * render. Routes stay thin; this is where the rules live.
 */

const text = (max: number) => z.string().trim().max(max, `must be at most ${max} characters`);
const email = z.string().trim().toLowerCase().email('must be an email address').max(254);
const cidr = z.string().trim().refine(isCidr, 'must be an IP address or CIDR such as 10.0.0.0/8');
const webhook = z
  .string()
  .trim()
  .url('must be a URL')
  .max(2048)
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL');

const days = z.coerce.number({ message: 'must be a number of days' }).int('must be a whole number of days').min(1, 'must be at least 1 day').max(3650, 'must be at most 3650 days');
/** A bare file name (no folders): the file the artifact was planted as in `location`. */
const plantedFile = text(255)
  .min(1)
  .refine((v) => !/[\\/\x00]/.test(v) && v !== '.' && v !== '..', 'must be a file name without folders');

/** Fields every token has, whatever its kind. */
export const tokenFields = {
  name: text(200).min(1, 'is required'),
  location: text(1024).optional(),
  plantedHost: text(255).regex(HOST_NAME_PATTERN, HOST_NAME_MESSAGE).optional(),
  tags: z
    .array(text(64).min(1).refine((t) => !t.startsWith(DRILL_TAG_PREFIX), `tags starting with "${DRILL_TAG_PREFIX}" are reserved for purple-team drills`))
    .max(20, 'at most 20 tags')
    .optional(),
  alertEmails: z.array(email).max(20, 'at most 20 recipients').optional(),
  webhooks: z.array(webhook).max(10, 'at most 10 webhooks').optional(),
  ignoreCidrs: z.array(cidr).max(100, 'at most 100 entries').optional(),
  expiresAt: z.coerce.date({ message: 'must be an ISO 8601 date' }).optional(),
  rotateEveryDays: days.optional(),
  expectSeenEveryDays: days.optional(),
  plantedFile: plantedFile.optional(),
};

export const createTokenInput = z
  .object({
    kind: z.string({ message: 'is required' }).refine((k) => findKind(k) !== undefined, {
      message: `must be one of: ${kindIds().join(', ')}`,
    }),
    ...tokenFields,
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type CreateTokenInput = z.infer<typeof createTokenInput>;

export const updateTokenInput = z
  .object({
    name: tokenFields.name.optional(),
    location: text(1024).nullable().optional(),
    plantedHost: text(255).regex(HOST_NAME_PATTERN, HOST_NAME_MESSAGE).nullable().optional(),
    tags: tokenFields.tags,
    alertEmails: tokenFields.alertEmails,
    webhooks: tokenFields.webhooks,
    ignoreCidrs: tokenFields.ignoreCidrs,
    enabled: z.boolean({ message: 'must be true or false' }).optional(),
    expiresAt: z.coerce.date({ message: 'must be an ISO 8601 date' }).nullable().optional(),
    rotateEveryDays: days.nullable().optional(),
    expectSeenEveryDays: days.nullable().optional(),
    plantedFile: plantedFile.nullable().optional(),
  })
  .strict();
export type UpdateTokenInput = z.infer<typeof updateTokenInput>;

export interface Actor {
  /** `api-key:<id>`, `user:<email>`, `cli` … */
  id: string;
  ip?: string | null;
}

export function kindOf(token: Pick<TokenRow, 'kind'>): TokenKind {
  const kind = findKind(token.kind);
  if (!kind) throw new AppError('internal', `token kind ${token.kind} is not installed`);
  return kind;
}

/** Validate a kind's params; errors name `params.<field>`. */
export function parseParams(kind: TokenKind, params: unknown): Record<string, unknown> {
  // What the kind makes itself is never taken from input: refused, not silently replaced.
  const given = params && typeof params === 'object' ? Object.keys(params) : [];
  const internal = given.filter((k) => kind.internalParams?.includes(k));
  if (internal.length) {
    const fields = Object.fromEntries(internal.map((k) => [`params.${k}`, 'is made by Honeytrail when the token is created; it cannot be chosen']));
    throw new AppError('invalid_request', `Invalid request: ${internal.map((k) => `params.${k}`).join(', ')} cannot be chosen`, fields);
  }
  const parsed = kind.params.safeParse(params ?? {});
  if (!parsed.success) throw AppError.fromZod(parsed.error, 'params');
  return parsed.data;
}

/**
 * Check an uploaded file for a kind made from one (and refuse a file for a kind that takes
 * none): the params to store, or an `invalid_request` on field `file`. Nothing is written.
 */
export async function checkUpload(ctx: KindContext, kind: TokenKind, params: Record<string, unknown>, upload: UploadedFile | undefined): Promise<Record<string, unknown>> {
  if (!kind.upload) {
    if (upload) throw new AppError('invalid_request', `Invalid request: file: a ${kind.id} token is not made from a file`, { file: `a ${kind.id} token is not made from a file` });
    return params;
  }
  if (!upload || upload.body.length === 0) {
    const need = `is required: upload the document to beacon (${kind.upload.accept})`;
    throw new AppError('invalid_request', `Invalid request: file: ${need}`, { file: need });
  }
  return kind.upload.check(ctx, upload, params);
}

export async function createToken(
  db: AnyDb,
  ctx: KindContext,
  input: CreateTokenInput,
  actor: Actor,
  upload?: UploadedFile,
): Promise<{ token: TokenRow; artifact: ArtifactInfo }> {
  const kind = kindOf(input);
  const params = await checkUpload(ctx, kind, parseParams(kind, input.params), upload);
  const row = await insertMade(db, ctx, kind, params, {
    kind: kind.id,
    name: input.name,
    location: input.location || null,
    plantedHost: input.plantedHost || null,
    tags: input.tags ?? [],
    alertEmails: input.alertEmails ?? [],
    webhooks: input.webhooks ?? [],
    ignoreCidrs: input.ignoreCidrs ?? [],
    expiresAt: input.expiresAt ?? null,
    rotateEveryDays: input.rotateEveryDays ?? null,
    expectSeenEveryDays: input.expectSeenEveryDays ?? null,
    plantedFile: input.plantedFile ?? null,
    createdBy: actor.id,
  });
  if (kind.upload && upload) await storeUpload(db, row.id, upload.body);
  await audit(db, { actor: actor.id, action: 'token.create', targetType: 'token', targetId: row.id, ip: actor.ip, details: { kind: kind.id, name: input.name } });
  return { token: row, artifact: describeArtifact(ctx, row) };
}

/** Everything of a new token row but what the kind makes (id, params, lookup key, URL path). */
export type TokenPlacement = Omit<NewTokenRow, 'id' | 'params' | 'lookupKey' | 'urlPath'>;

/**
 * Let the kind make a new token (fresh id, secrets and URL) and store it with `placement`;
 * indexes its search terms. Used by creation and by rotation (tokens/rotation.ts).
 */
export async function insertMade(db: AnyDb, ctx: KindContext, kind: TokenKind, params: Record<string, unknown>, placement: TokenPlacement): Promise<TokenRow> {
  const id = newTokenId();
  let row: TokenRow | undefined;
  // A generated credential (a realistic mailbox name, say) can collide with an existing token's;
  // generate again. A value the defender chose collides every time and is reported as a conflict.
  for (let attempt = 1; !row; attempt++) {
    const created = await kind.create(ctx, id, params);
    try {
      row = await insertToken(db, { ...placement, id, params: created.params, lookupKey: created.lookupKey ?? null, urlPath: created.urlPath ?? null, hostLabel: kind.channels.includes('dns') ? newHostLabel() : null });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (attempt >= 8) throw new AppError('conflict', 'a token with that credential already exists', undefined, { cause: err });
    }
  }
  await addTokenTerms(db, id, kind.searchTerms?.(row as Token, ctx) ?? []);
  return row;
}

/** Store the file a token was made from; a failure withdraws the token, so nothing half-made stays. */
export async function storeUpload(db: AnyDb, tokenId: string, body: Buffer): Promise<void> {
  try {
    await insertTokenFile(db, tokenId, body);
  } catch (err) {
    await deleteToken(db, tokenId);
    throw err;
  }
}

export async function requireToken(db: AnyDb, id: string): Promise<TokenRow> {
  const token = await getToken(db, id);
  if (!token) throw notFound('token');
  return token;
}

export function describeArtifact(ctx: KindContext, token: TokenRow): ArtifactInfo {
  const kind = kindOf(token);
  const info = kind.artifact(ctx, token as Token);
  if (!kind.render) return info;
  const download = `/api/v1/tokens/${token.id}/artifact`;
  const formats = kind.formats?.map((format) => ({ format, download: `${download}?format=${format}` }));
  return { ...info, download, ...(formats ? { formats } : {}) };
}

/** The token's downloadable file; `format` (validated against the kind's `formats`) picks another rendering of it. */
export async function renderArtifact(db: AnyDb, ctx: KindContext, token: TokenRow, actor: Actor, format?: string): Promise<ArtifactFile> {
  const kind = kindOf(token);
  if (!kind.render) throw new AppError('not_found', `a ${kind.id} token has no downloadable artifact; plant its ${kind.artifact(ctx, token as Token).url ? 'URL' : 'value'} instead`);
  if (format !== undefined && !kind.formats?.includes(format)) {
    const choice = kind.formats ? `must be one of ${kind.formats.join(', ')}` : `a ${kind.id} artifact comes in one format only`;
    throw new AppError('invalid_request', `Invalid request: format: ${choice}`, { format: choice });
  }
  const upload = kind.upload ? await getTokenFile(db, token.id) : undefined;
  const file = await kind.render(ctx, token as Token, format, upload && { filename: String(token.params.filename ?? ''), body: upload });
  await audit(db, { actor: actor.id, action: 'token.download', targetType: 'token', targetId: token.id, ip: actor.ip, details: { filename: file.filename } });
  return file;
}

export async function patchToken(db: AnyDb, id: string, input: UpdateTokenInput, actor: Actor): Promise<TokenRow> {
  await requireToken(db, id);
  const updated = await updateToken(db, id, input);
  if (!updated) throw notFound('token');
  await audit(db, { actor: actor.id, action: 'token.update', targetType: 'token', targetId: id, ip: actor.ip, details: { fields: Object.keys(input) } });
  return updated;
}

export async function removeToken(db: AnyDb, id: string, actor: Actor): Promise<void> {
  if (!(await deleteToken(db, id))) throw notFound('token');
  await deleteTokenFiles(db, [id]);
  await audit(db, { actor: actor.id, action: 'token.delete', targetType: 'token', targetId: id, ip: actor.ip });
}

/**
 * Enable, disable or delete several tokens at once, all or none: an id that is not a live
 * token fails the whole action before anything changes. Audited per token as the single
 * actions are.
 */
export async function bulkTokenAction(db: AnyDb, ids: readonly string[], action: TokenAction, actor: Actor): Promise<void> {
  const unique = [...new Set(ids)];
  if ((await liveTokenIds(db, unique)).length < unique.length) throw notFound('token');
  const entries = unique.map(
    (id): AuditEntry =>
      action === 'delete'
        ? { actor: actor.id, action: 'token.delete', targetType: 'token', targetId: id, ip: actor.ip }
        : { actor: actor.id, action: 'token.update', targetType: 'token', targetId: id, ip: actor.ip, details: { fields: ['enabled'] } },
  );
  await applyTokenAction(db, unique, action, entries);
  if (action === 'delete') await deleteTokenFiles(db, unique);
}

/**
 * Index the search terms of tokens made before search terms existed (start-up, a page at a
 * time); returns how many tokens it indexed.
 */
export async function indexSearchTerms(db: AnyDb, ctx: KindContext, page = 500): Promise<number> {
  const kinds = kindIds().filter((k) => findKind(k)?.searchTerms);
  let done = 0;
  for (;;) {
    const rows = await tokensWithoutTerms(db, kinds, page);
    for (const row of rows) {
      const terms = findKind(row.kind)?.searchTerms?.(row as Token, ctx) ?? [];
      // A token whose kind names nothing gets a placeholder term, so it is not visited again.
      await addTokenTerms(db, row.id, terms.some((t) => t.trim()) ? terms : [`token:${row.id}`]);
    }
    done += rows.length;
    if (rows.length < page) return done;
  }
}
