import { audit } from '../db/queries/audit.ts';
import { recordFileCheck } from '../db/queries/freshness.ts';
import { deleteToken, markRotated } from '../db/queries/tokens.ts';
import type { TokenRow } from '../db/schema.ts';
import type { AnyDb } from '../db/store.ts';
import { AppError, notFound } from '../errors.ts';
import type { ArtifactInfo, KindContext, Token } from './kind.ts';
import { getTokenFile } from '../db/queries/token-files.ts';
import { describeArtifact, insertMade, kindOf, requireToken, storeUpload, type Actor } from './service.ts';

/**
 * Rotation: a new artifact for the same placement. The new artifact is a new token (fresh id,
 * secrets and URL, one generation higher) with the old one's name, location, planted host,
 * tags, recipients and policies; the old token stays enabled and points to its successor, so
 * a copy of the old file an intruder took still fires, and its hits say they came from a stale
 * artifact (hits/record-hit.ts `staleFacts`).
 */

/** Which file to swap where, so the person rotating knows what to replace. */
export interface Replacement {
  location: string | null;
  plantedHost: string | null;
  /** The planted file to overwrite (the file name recorded at planting, else the old artifact's own name); null for a value (URL, host name, address) planted elsewhere. */
  file: string | null;
  /** The new artifact's own file name. */
  newFilename: string | null;
  /** Admin API path that downloads the new file. */
  download: string | null;
  /** The new value to plant instead of the old one, for kinds without a file. */
  value: string | null;
  /** The same in one sentence. */
  text: string;
}

export interface Rotation {
  token: TokenRow;
  previous: TokenRow;
  artifact: ArtifactInfo;
  replace: Replacement;
}

const DAY = 86_400_000;

export async function rotateToken(db: AnyDb, ctx: KindContext, id: string, actor: Actor): Promise<Rotation> {
  const old = await requireToken(db, id);
  if (old.rotatedTo) throw new AppError('conflict', `this token was already rotated; rotate its newest generation (${old.rotatedTo}) instead`);
  const kind = kindOf(old);
  // What the kind made or generated (secrets, paths, names chosen for the defender) is made anew; what the defender chose stays.
  const fresh = new Set([...(kind.internalParams ?? []), ...(kind.generated ?? [])]);
  const chosen = kind.rotationParams?.(old as Token) ?? Object.fromEntries(Object.entries(old.params).filter(([k]) => !fresh.has(k) && !k.startsWith('_')));
  const parsed = kind.params.safeParse(chosen);
  if (!parsed.success) throw AppError.fromZod(parsed.error, 'params');
  // A token made from the defender's own file is made again from the same file.
  const file = kind.upload ? await getTokenFile(db, old.id) : undefined;
  const params = kind.upload && file ? await kind.upload.check(ctx, { filename: String(old.params.filename ?? ''), body: file }, parsed.data) : parsed.data;
  const now = Date.now();
  // A decoy with an expiry gets the same lifetime again from now.
  const lifetime = old.expiresAt ? Math.max(DAY, old.expiresAt.getTime() - old.createdAt.getTime()) : null;
  const token = await insertMade(db, ctx, kind, params, {
    kind: old.kind,
    name: old.name,
    location: old.location,
    plantedHost: old.plantedHost,
    tags: old.tags,
    alertEmails: old.alertEmails,
    webhooks: old.webhooks,
    ignoreCidrs: old.ignoreCidrs,
    enabled: old.enabled,
    expiresAt: lifetime === null ? null : new Date(now + lifetime),
    rotateEveryDays: old.rotateEveryDays,
    expectSeenEveryDays: old.expectSeenEveryDays,
    plantedFile: old.plantedFile,
    generation: old.generation + 1,
    rotatedFrom: old.id,
    createdBy: actor.id,
  });
  if (file) await storeUpload(db, token.id, file);
  const previous = await markRotated(db, old.id, token.id, new Date(now));
  if (!previous) {
    // Someone rotated it at the same moment: theirs stands, this one is withdrawn.
    await deleteToken(db, token.id);
    throw new AppError('conflict', 'this token was rotated at the same moment by someone else; reload to see its newest generation');
  }
  const artifact = describeArtifact(ctx, token);
  const replace = replacementFor(ctx, old, token);
  await audit(db, {
    actor: actor.id,
    action: 'token.rotate',
    targetType: 'token',
    targetId: old.id,
    ip: actor.ip,
    details: { newId: token.id, generation: token.generation, file: replace.file, location: old.location },
  });
  return { token, previous, artifact, replace };
}

/** Which file of `old`'s placement to replace with `fresh`'s artifact (`fresh` null: the same kind of artifact, before rotating). */
export function replacementFor(ctx: KindContext, old: TokenRow, fresh: TokenRow | null): Replacement {
  const was = describeArtifact(ctx, old);
  return replacement(old, was, fresh ? describeArtifact(ctx, fresh) : was);
}

function replacement(old: TokenRow, was: ArtifactInfo, now: ArtifactInfo): Replacement {
  const file = was.download || now.download ? (old.plantedFile ?? was.filename ?? null) : old.plantedFile;
  const value = now.url ?? now.hostname ?? now.email ?? null;
  const where = [old.location ? `in ${old.location}` : null, old.plantedHost ? `on ${old.plantedHost}` : null].filter(Boolean).join(' ') || 'where it is planted';
  const text = file
    ? `replace ${file} ${where} with the new ${now.filename ?? 'file'}${now.filename && now.filename !== file ? ` (keep the name ${file})` : ''}`
    : `replace the old ${was.url ? 'URL' : was.hostname ? 'host name' : was.email ? 'address' : 'value'} ${where} with ${value ?? 'the new one'}`;
  return { location: old.location, plantedHost: old.plantedHost, file, newFilename: now.filename ?? null, download: now.download ?? null, value, text };
}

/**
 * Record what `honeytrail verify` found at the planted file: present or missing. Audited when
 * the answer changes (a file that goes missing, or comes back).
 */
export async function recordVerification(db: AnyDb, id: string, present: boolean, actor: Actor): Promise<TokenRow> {
  const before = await requireToken(db, id);
  const row = await recordFileCheck(db, id, present, new Date());
  if (!row) throw notFound('token');
  if (present === !!before.missingAt || before.verifiedAt === null) {
    await audit(db, { actor: actor.id, action: present ? 'token.file_present' : 'token.file_missing', targetType: 'token', targetId: id, ip: actor.ip, details: { location: row.location, file: row.plantedFile } });
  }
  return row;
}
