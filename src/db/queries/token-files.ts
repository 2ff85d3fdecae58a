import { eq } from 'drizzle-orm';
import type { AnyDb } from '../store.ts';
import { shared } from '../store.ts';

/** The files tokens were made from (own-document uploads): written at creation, read at download. */

export async function insertTokenFile(db: AnyDb, tokenId: string, body: Buffer): Promise<void> {
  const { db: q, t } = shared(db);
  await q.insert(t.tokenFiles).values({ tokenId, body });
}

export async function getTokenFile(db: AnyDb, tokenId: string): Promise<Buffer | undefined> {
  const { db: q, t } = shared(db);
  const [row] = await q.select({ body: t.tokenFiles.body }).from(t.tokenFiles).where(eq(t.tokenFiles.tokenId, tokenId)).limit(1);
  return row ? Buffer.from(row.body) : undefined;
}

/** Forget a token's file (the token was deleted: its document is not kept beyond it). */
export async function deleteTokenFiles(db: AnyDb, tokenIds: readonly string[]): Promise<void> {
  const { db: q, t } = shared(db);
  for (const id of tokenIds) await q.delete(t.tokenFiles).where(eq(t.tokenFiles.tokenId, id));
}
