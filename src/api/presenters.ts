import type { HitRow, TokenRow } from '../db/schema.ts';
import { rotationDueAt } from '../tokens/freshness.ts';
import type { ArtifactInfo } from '../tokens/kind.ts';

/** JSON shapes of the API (v1). Adding fields is fine; renaming breaks users' automation. */

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

export function tokenJson(t: TokenRow, artifact?: ArtifactInfo) {
  return {
    id: t.id,
    kind: t.kind,
    name: t.name,
    location: t.location,
    plantedHost: t.plantedHost,
    tags: t.tags,
    params: publicParams(t.params),
    alertEmails: t.alertEmails,
    webhooks: t.webhooks,
    ignoreCidrs: t.ignoreCidrs,
    enabled: t.enabled,
    expiresAt: iso(t.expiresAt),
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
    createdBy: t.createdBy,
    hitCount: t.hitCount,
    lastHitAt: iso(t.lastHitAt),
    rotateEveryDays: t.rotateEveryDays,
    expectSeenEveryDays: t.expectSeenEveryDays,
    plantedFile: t.plantedFile,
    generation: t.generation,
    rotatedFrom: t.rotatedFrom,
    rotatedTo: t.rotatedTo,
    rotatedAt: iso(t.rotatedAt),
    /** When this generation is due for rotation (its expiry or its rotation policy); null when neither is set or it was rotated. */
    rotationDueAt: t.rotatedTo ? null : iso(rotationDueAt(t)?.at),
    verifiedAt: iso(t.verifiedAt),
    missingAt: iso(t.missingAt),
    ...(artifact ? { artifact } : {}),
  };
}

/** Params keys starting with `_` are internal (e.g. stored secret hashes) and never leave the server. */
function publicParams(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([k]) => !k.startsWith('_')));
}

export function hitJson(h: HitRow) {
  return {
    id: h.id,
    tokenId: h.tokenId,
    channel: h.channel,
    at: h.at.toISOString(),
    sourceIp: h.sourceIp,
    sourcePort: h.sourcePort,
    forwardedFor: h.forwardedFor,
    userAgent: h.userAgent,
    referer: h.referer,
    actor: { user: h.actorUser, host: h.actorHost, domain: h.actorDomain },
    credential: h.credential,
    classification: h.classification,
    request: h.channel === 'http' ? { method: h.method, path: h.path, query: h.query, headers: h.headers } : undefined,
    dns: h.channel === 'dns' ? { qname: h.qname, qtype: h.qtype } : undefined,
    mail: h.channel === 'smtp' ? { from: h.mailFrom, to: h.mailTo, subject: h.mailSubject } : undefined,
    details: h.details,
    incidentId: h.incidentId,
    repeatCount: h.repeatCount,
    lastAt: h.lastAt ? h.lastAt.toISOString() : null,
    intel: h.intel ?? [],
    /** The expected-activity rule that covered this hit (classification `expected`), else null. */
    expectedRuleId: h.expectedRuleId,
  };
}
