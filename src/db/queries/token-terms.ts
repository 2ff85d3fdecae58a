import { and, eq, inArray, isNull, notExists } from 'drizzle-orm';
import type { AnyDb } from '../store.ts';
import { shared } from '../store.ts';

/** Search terms of tokens (see `TokenKind.searchTerms`): written at creation, read by the tokens search. */

/** Normalise terms as stored: digests (`sha256:`) as they are, everything else lower-cased; blanks and duplicates dropped. */
export function normaliseTerms(terms: readonly string[]): string[] {
  return [...new Set(terms.map((t) => (t.startsWith('sha256:') ? t : t.trim().toLowerCase())).filter((t) => t.length > 0 && t.length <= 512 && t !== 'sha256:'))];
}

/** Store a token's terms (idempotent). */
export async function addTokenTerms(db: AnyDb, tokenId: string, terms: readonly string[]): Promise<void> {
  const rows = normaliseTerms(terms).map((term) => ({ tokenId, term }));
  if (!rows.length) return;
  const { db: q, t } = shared(db);
  await q.insert(t.tokenTerms).values(rows).onConflictDoNothing();
}

/** Live tokens of `kinds` without any stored term (made before search terms existed), a page at a time. */
export async function tokensWithoutTerms(db: AnyDb, kinds: readonly string[], limit: number) {
  if (!kinds.length) return [];
  const { db: q, t } = shared(db);
  return q
    .select()
    .from(t.tokens)
    .where(and(isNull(t.tokens.deletedAt), inArray(t.tokens.kind, [...kinds]), notExists(q.select({ x: t.tokenTerms.tokenId }).from(t.tokenTerms).where(eq(t.tokenTerms.tokenId, t.tokens.id)))))
    .limit(limit);
}
