import type { AppDeps } from '../deps.ts';
import { tokenLookups } from '../db/queries/tokens.ts';
import type { Channel, TokenRow } from '../db/schema.ts';
import type { HitFacts, ServiceLoginInfo, Token, TokenKind } from '../tokens/kind.ts';
import { KINDS } from '../tokens/registry.ts';

/**
 * From a sign-in attempt on a honey service to a stored hit: the kinds with a `login` facet
 * name the lookup key the user name maps to; the token's kind describes the attempt (and checks
 * the client's proof against the planted password); the hit is committed before the listener
 * answers. Attempts naming no live token are not stored (they are the internet's background
 * scanning) and are logged at debug level only.
 */

const CHANNEL: Record<ServiceLoginInfo['service'], Channel> = { postgres: 'pgwire', mysql: 'mysql' };

/** Records one attempt; resolves true when it named a live token and was stored. */
export type LoginRecorder = (info: ServiceLoginInfo, sourcePort: number, userAgent: string | null) => Promise<boolean>;

export function createLoginRecorder(deps: AppDeps): LoginRecorder {
  const lookups = tokenLookups(deps.db);
  const kinds: TokenKind[] = KINDS.filter((k) => k.login !== undefined);
  return async (info, sourcePort, userAgent) => {
    for (const kind of kinds) {
      const key = kind.login?.lookupKey({ service: info.service, user: info.user });
      if (!key) continue;
      const row = await lookups.byLookupKey(key);
      if (!row || row.kind !== kind.id) continue;
      if (!isLive(row)) {
        deps.log.info({ event: 'unknown-token', channel: CHANNEL[info.service], tokenId: row.id, known: true, clientIp: info.sourceIp }, 'sign-in for an inactive token');
        return false;
      }
      const token = row as Token;
      const facts: HitFacts = kind.login?.describe(info, token) ?? {};
      await deps.recorder.record({ token, channel: CHANNEL[info.service], sourceIp: info.sourceIp, sourcePort, userAgent, facts });
      return true;
    }
    deps.log.debug({ event: 'unknown-login', channel: CHANNEL[info.service], user: info.user.slice(0, 64), clientIp: info.sourceIp }, 'sign-in as an unknown user');
    return false;
  };
}

function isLive(token: TokenRow): boolean {
  return token.enabled && (token.expiresAt === null || token.expiresAt.getTime() > Date.now());
}

/** Printable, bounded text from what a client sent (NUL-free already); control characters become `?`. */
export function cleanText(bytes: Buffer | string, max: number): string {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  return text.replace(/[\u0000-\u001f\u007f\ufffd]/g, '?').slice(0, max);
}
