import { desc } from 'drizzle-orm';
import { shared, type AnyDb } from '../store.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  targetType?: string;
  targetId?: string;
  ip?: string | null;
  details?: Record<string, unknown>;
}

/** Who created, downloaded, changed or deleted what. */
export async function audit(db: AnyDb, e: AuditEntry): Promise<void> {
  const { db: q, t } = shared(db);
  await q.insert(t.auditLog).values({ ...e, at: new Date() });
}

export async function listAudit(db: AnyDb, limit: number, offset: number) {
  const { db: q, t } = shared(db);
  return q.select().from(t.auditLog).orderBy(desc(t.auditLog.id)).limit(limit).offset(offset);
}
