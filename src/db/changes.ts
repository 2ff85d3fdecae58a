/**
 * In-process notices that a table the hot path keeps a cache of has been written: the writing
 * process's caches drop what they hold at once, so disabling a token, adding an expected-activity
 * rule, importing intel or mapping an asset takes effect in this process on the next hit. Other processes on the
 * same database see the change within their caches' recheck interval (a second).
 *
 * Caches are held weakly: one that is no longer used (a stopped server) is forgotten.
 */
export type ChangeTopic = 'tokens' | 'expected' | 'intel' | 'assets';

interface Invalidatable {
  invalidate(): void;
}

const subscribers: Record<ChangeTopic, Set<WeakRef<Invalidatable>>> = { tokens: new Set(), expected: new Set(), intel: new Set(), assets: new Set() };

/** Have `cache.invalidate()` called whenever `topic` changes in this process. */
export function invalidateOn(topic: ChangeTopic, cache: Invalidatable): void {
  subscribers[topic].add(new WeakRef(cache));
}

/** Tell this process's caches that `topic` has changed (call after the write). */
export function changed(topic: ChangeTopic): void {
  for (const ref of subscribers[topic]) {
    const cache = ref.deref();
    if (cache) cache.invalidate();
    else subscribers[topic].delete(ref);
  }
}
