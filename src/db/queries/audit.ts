import { desc } from 'drizzle-orm';
import type { Db } from '../client.ts';
import { auditLog } from '../schema.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  targetType?: string;
  targetId?: string;
  ip?: string | null;
  details?: Record<string, unknown>;
}

/** Who created, downloaded, changed or deleted what. */
export function audit(db: Db, e: AuditEntry): void {
  db.insert(auditLog).values({ ...e, at: new Date() }).run();
}

export function listAudit(db: Db, limit: number, offset: number) {
  return db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(limit).offset(offset).all();
}
