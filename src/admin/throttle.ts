/**
 * Login throttling: failed attempts are counted per account and per client address in a
 * sliding window; past the limit, logins are refused (even with the right password) until
 * the window has passed. In memory: an attacker cannot fill it beyond `maxKeys`, and a
 * restart forgets it, which only gives back a few guesses.
 */
export interface ThrottleOptions {
  /** Failures allowed per account within the window. @default 5 */
  perAccount?: number;
  /** Failures allowed per client address within the window. @default 20 */
  perIp?: number;
  /** @default 15 minutes */
  windowMs?: number;
  /** Most keys tracked; the oldest are dropped first. @default 10000 */
  maxKeys?: number;
}

/** Failure counting for sign-in attempts. */
export interface LoginThrottle {
  /** Seconds until the next attempt is allowed, or 0 when it may go ahead. */
  retryAfter(email: string, ip: string): number;
  fail(email: string, ip: string): void;
  succeed(email: string): void;
}

/** One throttle per admin app (per process). */
export function createLoginThrottle(opts: ThrottleOptions = {}): LoginThrottle {
  const perAccount = opts.perAccount ?? 5;
  const perIp = opts.perIp ?? 20;
  const windowMs = opts.windowMs ?? 15 * 60_000;
  const maxKeys = opts.maxKeys ?? 10_000;
  const failures = new Map<string, number[]>();

  const recent = (key: string, now: number): number[] => {
    const list = (failures.get(key) ?? []).filter((t) => t > now - windowMs);
    if (list.length) failures.set(key, list);
    else failures.delete(key);
    return list;
  };
  const wait = (list: number[], limit: number, now: number): number => {
    if (list.length < limit) return 0;
    const oldest = list[list.length - limit] ?? now;
    return Math.max(1, Math.ceil((oldest + windowMs - now) / 1000));
  };
  const add = (key: string, now: number) => {
    const list = recent(key, now);
    list.push(now);
    failures.delete(key);
    failures.set(key, list.slice(-Math.max(perAccount, perIp)));
    while (failures.size > maxKeys) {
      const first = failures.keys().next().value;
      if (first === undefined) break;
      failures.delete(first);
    }
  };

  return {
    retryAfter(email, ip) {
      const now = Date.now();
      return Math.max(wait(recent(`a:${email.toLowerCase()}`, now), perAccount, now), wait(recent(`i:${ip}`, now), perIp, now));
    },
    fail(email, ip) {
      const now = Date.now();
      add(`a:${email.toLowerCase()}`, now);
      add(`i:${ip}`, now);
    },
    succeed(email) {
      failures.delete(`a:${email.toLowerCase()}`);
    },
  };
}
