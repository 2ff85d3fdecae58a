/**
 * Sign-in throttling after the OWASP Authentication Cheat Sheet ("protect against automated
 * attacks", account lockout, device cookies). Every attempt is counted the moment it starts,
 * before the ~50 ms scrypt check, in one synchronous step, so a burst of parallel requests
 * cannot slip past the limit while the first ones are still hashing; a success takes its own
 * count back. What is limited:
 *
 * - each (account, client address) pair: `perAccountAddress` failures per window, then that
 *   address is refused for that account (the address is not locked out of other accounts, nor
 *   the account out of other addresses);
 * - each client address: `perAddress` failures per window over all accounts (spraying);
 * - each account, from contexts not known to be good: after `slowdownAfter` failures in the
 *   window, one attempt per exponentially growing delay (1 s, 2 s, 4 s … capped at
 *   `slowdownMaxMs`): guessing from many addresses is slowed without ever locking the owner out;
 * - a known-good context skips the account slowdown: a device cookie this browser received at a
 *   successful sign-in (which then has its own `perDevice` failure limit, and skips the address
 *   limits too), or a client address the account signed in from before.
 *
 * In memory, per admin app: bounded by `maxKeys`; a restart forgets counts (a few guesses back).
 */
export interface ThrottleOptions {
  /** Failures per (account, client address) within the window. @default 5 */
  perAccountAddress?: number;
  /** Failures per client address within the window, all accounts together. @default 20 */
  perAddress?: number;
  /** Failures per device cookie within the window before the cookie stops counting as known-good. @default 5 */
  perDevice?: number;
  /** Failures per account from unknown contexts before each further attempt waits (above perAccountAddress, so one address alone never slows anyone else). @default 10 */
  slowdownAfter?: number;
  /** Longest wait between attempts on a slowed-down account. @default 5 minutes */
  slowdownMaxMs?: number;
  /** @default 15 minutes */
  windowMs?: number;
  /** Most keys tracked; the least recently used are dropped first. @default 10000 */
  maxKeys?: number;
  now?: () => number;
}

/** How the attempt's context is known to the account (see known-good.ts). */
export interface LoginContext {
  account: string;
  address: string;
  /** Digest of a valid device cookie of this account, when the browser sent one. */
  device?: string | null;
  /** The account signed in from this address before. */
  knownAddress?: boolean;
}

/** A started attempt: report its outcome once the password was checked. */
export interface LoginAttempt {
  /** The password was right: the attempt's counts are taken back and its pair and device forgiven. */
  succeeded(): void;
}

export type LoginGate = { ok: true; attempt: LoginAttempt } | { ok: false; retryAfter: number };

/** Counts sign-in attempts (see the module comment). */
export interface LoginThrottle {
  /** Count the attempt now, or refuse it with the seconds to wait. Synchronous: nothing can interleave. */
  begin(ctx: LoginContext): LoginGate;
}

interface State {
  hits: Map<string, number[]>;
  o: Required<Omit<ThrottleOptions, 'now'>>;
  now: () => number;
}

/** One throttle per admin app (per process). */
export function createLoginThrottle(opts: ThrottleOptions = {}): LoginThrottle {
  const state: State = {
    hits: new Map(),
    o: {
      perAccountAddress: opts.perAccountAddress ?? 5,
      perAddress: opts.perAddress ?? 20,
      perDevice: opts.perDevice ?? 5,
      slowdownAfter: opts.slowdownAfter ?? 10,
      slowdownMaxMs: opts.slowdownMaxMs ?? 5 * 60_000,
      windowMs: opts.windowMs ?? 15 * 60_000,
      maxKeys: opts.maxKeys ?? 10_000,
    },
    now: opts.now ?? Date.now,
  };
  return { begin: (ctx) => begin(state, ctx) };
}

function begin(s: State, ctx: LoginContext): LoginGate {
  const t = s.now();
  const account = ctx.account.toLowerCase();
  const keys = { pair: `p:${account}\u0000${ctx.address}`, address: `i:${ctx.address}`, account: `a:${account}`, device: ctx.device ? `d:${ctx.device}` : null };
  const device = keys.device !== null && recent(s, keys.device, t).length < s.o.perDevice ? keys.device : null;
  const counted: string[] = [];
  if (device) {
    // A known device: only its own count applies (an attacker elsewhere cannot lock its owner out).
    counted.push(device);
  } else {
    const wait = Math.max(
      overLimit(s, recent(s, keys.pair, t), s.o.perAccountAddress, t),
      overLimit(s, recent(s, keys.address, t), s.o.perAddress, t),
      ctx.knownAddress ? 0 : slowdown(s, recent(s, keys.account, t), t),
    );
    if (wait > 0) return { ok: false, retryAfter: Math.max(1, Math.ceil(wait / 1000)) };
    counted.push(keys.pair, keys.address);
    if (!ctx.knownAddress) counted.push(keys.account);
  }
  for (const key of counted) add(s, key, t);
  return {
    ok: true,
    attempt: {
      succeeded() {
        for (const key of counted) take(s, key, t);
        s.hits.delete(keys.pair);
        if (keys.device) s.hits.delete(keys.device);
      },
    },
  };
}

/** Timestamps of `key` within the window (pruned in place). */
function recent(s: State, key: string, t: number): number[] {
  const list = (s.hits.get(key) ?? []).filter((x) => x > t - s.o.windowMs);
  if (list.length) s.hits.set(key, list);
  else s.hits.delete(key);
  return list;
}

/** Milliseconds until the oldest counted failure leaves the window, when `limit` are counted. */
function overLimit(s: State, list: readonly number[], limit: number, t: number): number {
  if (list.length < limit) return 0;
  const oldest = list[list.length - limit] ?? t;
  return oldest + s.o.windowMs - t;
}

/** Milliseconds an unknown context waits on an account with `list` recent failures. */
function slowdown(s: State, list: readonly number[], t: number): number {
  const over = list.length - s.o.slowdownAfter;
  if (over < 0) return 0;
  const delay = Math.min(s.o.slowdownMaxMs, 1000 * 2 ** Math.min(over, 30));
  const last = list[list.length - 1] ?? t;
  return Math.max(0, last + delay - t);
}

function add(s: State, key: string, t: number): void {
  const list = recent(s, key, t);
  list.push(t);
  // Keep only what a limit can look at, and move the key to the newest end (least recently used go first).
  s.hits.delete(key);
  s.hits.set(key, list.slice(-Math.max(s.o.perAccountAddress, s.o.perAddress, s.o.perDevice, s.o.slowdownAfter + 32)));
  while (s.hits.size > s.o.maxKeys) {
    const first = s.hits.keys().next().value;
    if (first === undefined) break;
    s.hits.delete(first);
  }
}

/** Take back one count of `key` made at `t` (a successful attempt was not a failure). */
function take(s: State, key: string, t: number): void {
  const list = s.hits.get(key);
  const i = list ? list.lastIndexOf(t) : -1;
  if (!list || i < 0) return;
  list.splice(i, 1);
  if (list.length === 0) s.hits.delete(key);
}
