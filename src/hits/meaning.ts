import type { Decoy, HitMeaning, StoredHit } from '../tokens/kind.ts';
import { collectionTechniques, describeClient } from '../tokens/hit-words.ts';
import { findKind } from '../tokens/registry.ts';
import { oneLine } from '../text.ts';

/**
 * What a stored hit means (action sentence, evidence, ATT&CK), in its kind's words: every
 * channel that shows a hit (mail, webhooks, the trail, exports, CEF) says the same thing. A
 * kind that cannot explain the hit (it was removed, or it threw on odd stored details) gets a
 * plain sentence from the channel fields instead; a hit is never left unexplained.
 */
export function explainHit(hit: StoredHit, token: Decoy): HitMeaning {
  const kind = findKind(token.kind);
  if (kind?.explain) {
    try {
      const m = kind.explain(hit, token);
      return { ...m, action: oneLine(m.action, 400) };
    } catch {
      // fall through to the plain sentence
    }
  }
  return { action: oneLine(plainAction(hit), 400), evidence: hit.credential ? 'credential-used' : 'touch', techniques: collectionTechniques(token) };
}

function plainAction(h: StoredHit): string {
  if (h.channel === 'dns') return `the name was resolved (${h.qtype ?? 'A'} ${h.qname ?? ''})`;
  if (h.channel === 'smtp') return `mail${h.mailFrom ? ` from ${h.mailFrom}` : ''} was delivered to ${h.mailTo ?? 'the planted address'}`;
  return `${describeClient(h.userAgent) ?? 'a client without a user agent'} requested ${h.method ?? 'GET'} ${h.path ?? '/'}`;
}
