import { cidrMatcher } from '../net.ts';
import type { Classification } from '../db/schema.ts';
import type { Token } from '../tokens/kind.ts';

/**
 * Decide how a hit is treated by the alert pipeline. Every hit is stored whatever this says;
 * anything but `alert` only means "do not alert". Kinds can decide first (HitFacts.classification).
 */
export function classify(token: Token, sourceIp: string | null): Classification {
  if (sourceIp && token.ignoreCidrs.length > 0 && cidrMatcher(token.ignoreCidrs)(sourceIp)) return 'ignored';
  return 'alert';
}
