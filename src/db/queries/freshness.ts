import { and, desc, eq, gte, inArray, isNotNull, isNull, max, or } from 'drizzle-orm';
import type { TokenRow } from '../schema.ts';
import { shared, type AnyDb } from '../store.ts';

/**
 * Queries behind the freshness view (tokens/freshness.ts): current-generation tokens that have
 * a freshness policy or a failed file check, and the last expected-activity hit of tokens a
 * scheduled check should touch.
 */

/** Live, current-generation tokens with an expiry, a rotation policy, an expected-check interval or a missing file, newest first. */
export async function tokensWithFreshnessPolicy(db: AnyDb, limit: number): Promise<TokenRow[]> {
  const { db: q, t } = shared(db);
  return q
    .select()
    .from(t.tokens)
    .where(
      and(
        isNull(t.tokens.deletedAt),
        isNull(t.tokens.rotatedTo),
        or(isNotNull(t.tokens.expiresAt), isNotNull(t.tokens.rotateEveryDays), isNotNull(t.tokens.expectSeenEveryDays), isNotNull(t.tokens.missingAt)),
      ),
    )
    .orderBy(desc(t.tokens.createdAt), desc(t.tokens.id))
    .limit(limit);
}

/** The newest hit an expected-activity rule absorbed, per token, since `since`. */
export async function lastExpectedHits(db: AnyDb, tokenIds: readonly string[], since: Date): Promise<Map<string, Date>> {
  if (tokenIds.length === 0) return new Map();
  const { db: q, t } = shared(db);
  const rows = await q
    .select({ tokenId: t.hits.tokenId, at: max(t.hits.at) })
    .from(t.hits)
    .where(and(inArray(t.hits.tokenId, [...tokenIds]), eq(t.hits.classification, 'expected'), gte(t.hits.at, since)))
    .groupBy(t.hits.tokenId);
  return new Map(rows.filter((r) => r.at).map((r) => [r.tokenId, new Date(r.at as Date | number)]));
}

/** Record the outcome of a planted-file check: present clears `missingAt`, absent sets it (keeping the first time it was seen missing). */
export async function recordFileCheck(db: AnyDb, id: string, present: boolean, at: Date): Promise<TokenRow | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select().from(t.tokens).where(and(eq(t.tokens.id, id), isNull(t.tokens.deletedAt))).limit(1);
  if (!row) return undefined;
  const [updated] = await q
    .update(t.tokens)
    .set({ verifiedAt: at, missingAt: present ? null : (row.missingAt ?? at) })
    .where(eq(t.tokens.id, id))
    .returning();
  return updated;
}
