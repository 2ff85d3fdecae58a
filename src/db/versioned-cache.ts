import { invalidateOn, type ChangeTopic } from './changes.ts';

/**
 * A value built from a table and kept in memory for the hot path, rebuilt when the table's
 * version changes; the version is checked at most every `recheckMs`. On SQLite the check and the
 * load run inline (they answer synchronously). On PostgreSQL they run in the background and
 * `get()` returns the value as it is meanwhile; the recorder awaits `refresh()` before each batch.
 *
 * `each` runs after every due check, with the value then current (for data the value's users
 * also read, such as the asset map the expected-activity rules consult).
 */
export type VersionedSource<T> = (
  | { sync: true; version: () => string; load: () => T; each?: (value: T) => void }
  | { sync: false; version: () => Promise<string>; load: () => Promise<T>; each?: (value: T) => Promise<void> }
) & {
  /** The table's change notices (src/db/changes.ts): a write in this process makes the next read check at once. */
  topic?: ChangeTopic;
};

export interface VersionedCache<T> {
  /** The value, rebuilt first when a check is due (SQLite) or in the background (PostgreSQL). */
  get(): T;
  /** Bring the value up to date when a check is due; resolves once it is. */
  refresh(): Promise<void>;
  /** Check on the next `get` or `refresh` (after a change made by this process). */
  invalidate(): void;
}

export function versionedCache<T>(initial: T, source: VersionedSource<T>, recheckMs = 1000): VersionedCache<T> {
  const cache = makeCache(initial, source, recheckMs);
  if (source.topic) invalidateOn(source.topic, cache);
  return cache;
}

function makeCache<T>(initial: T, source: VersionedSource<T>, recheckMs: number): VersionedCache<T> {
  let value = initial;
  let version = '';
  let checkedAt = 0;
  const due = () => Date.now() - checkedAt >= recheckMs;

  if (source.sync) {
    const check = () => {
      if (!due()) return;
      checkedAt = Date.now();
      const v = source.version();
      if (v !== version) {
        value = source.load();
        version = v;
      }
      source.each?.(value);
    };
    return {
      get() {
        check();
        return value;
      },
      refresh: async () => check(),
      invalidate: () => void (checkedAt = 0),
    };
  }

  let checking: Promise<void> | null = null;
  const refresh = (): Promise<void> => {
    if (!due()) return checking ?? Promise.resolve();
    checkedAt = Date.now();
    checking ??= (async () => {
      const v = await source.version();
      if (v !== version) {
        value = await source.load();
        version = v;
      }
      await source.each?.(value);
    })()
      // A failed check is retried on the next call rather than after `recheckMs`.
      .catch(() => void (checkedAt = 0))
      .finally(() => (checking = null));
    return checking;
  };
  return {
    get() {
      void refresh();
      return value;
    },
    refresh,
    invalidate: () => void (checkedAt = 0),
  };
}
