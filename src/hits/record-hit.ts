import type { Db } from '../db/client.ts';
import { hitWriter, unstoredHit } from '../db/queries/hits.ts';
import type { Channel, HitRow, NewHitRow } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import type { HitFacts, Token } from '../tokens/kind.ts';
import { classify, type HitClassifier } from './classify.ts';
import type { FloodGate } from './flood.ts';
import type { Correlator } from './correlate.ts';
import type { Recorded } from './intrusions.ts';

/** A trigger as a channel saw it, before it is stored. */
export interface HitEvent {
  token: Token;
  channel: Channel;
  at?: Date;
  sourceIp?: string | null;
  sourcePort?: number | null;
  forwardedFor?: string | null;
  userAgent?: string | null;
  referer?: string | null;
  method?: string | null;
  path?: string | null;
  query?: string | null;
  qname?: string | null;
  qtype?: string | null;
  mailFrom?: string | null;
  mailTo?: string | null;
  mailSubject?: string | null;
  headers?: Record<string, string> | null;
  /** What the token's kind decoded from the event. */
  facts?: HitFacts;
}

/**
 * Runs in the hit's transaction just before the insert and may fill derived columns (the
 * threat-intel matcher labels the source here).
 */
export type HitPrepare = ((row: NewHitRow, token: Token) => void) & {
  /** PostgreSQL: load what the step reads before a batch is prepared synchronously (absent on SQLite). */
  warm?: () => Promise<void>;
};

/** What the listeners and the server need of a recorder, on either database. */
export interface HitRecorder {
  /** Store the hit; resolves once it is committed (answer the client only after that). */
  record(event: HitEvent): Promise<HitRow>;
  /**
   * Correlate stored hits that are on no trail yet, in the background; resolves with how
   * many. Runs at start-up and after a failed correlation.
   */
  catchUp(): Promise<number>;
  /** Commit what is queued and stop correlating in the background (shutdown; the next start catches up). */
  close(): void | Promise<void>;
  readonly stats: RecorderStats;
}

/** The SQLite recorder, which can also commit its queue on demand. */
export interface SqliteHitRecorder extends HitRecorder {
  /** Commit whatever is queued now. */
  flush(): void;
  close(): void;
}

/** Counters of one recorder; `lastFailureAt` lets /healthz report a database that stopped taking writes. */
export interface RecorderStats {
  batches: number;
  hits: number;
  failed: number;
  lastFailureAt: number | null;
  lastFailure: string | null;
}

const MAX_TEXT = 2048;
const MAX_JSON = 8192;
/** Group commit bounds: hits per commit, event-loop turns a commit may wait for more. */
const MAX_BATCH = 1000;
const MAX_DEFERRALS = 8;

/** Retry delays for correlating hits after a failed correlation (the hits are stored meanwhile). */
const CATCH_UP_DELAYS_MS = [1000, 5000, 30_000];

/** How long to wait before catching up after the `attempt`-th failed correlation (0-based). */
export function catchUpDelay(attempt: number): number {
  return CATCH_UP_DELAYS_MS[Math.min(attempt, CATCH_UP_DELAYS_MS.length - 1)] ?? 30_000;
}

/** Hits per token in a batch and the newest hit's time: what the token list shows without scanning hits. */
export function perTokenCounts(rows: readonly { tokenId: string; at: Date }[]): Map<string, { n: number; at: Date }> {
  const out = new Map<string, { n: number; at: Date }>();
  for (const r of rows) {
    const t = out.get(r.tokenId);
    out.set(r.tokenId, { n: (t?.n ?? 0) + 1, at: t && t.at > r.at ? t.at : r.at });
  }
  return out;
}

/** What both recorders (SQLite here, PostgreSQL in record-hit-pg.ts) take besides their database and correlator. */
export interface RecorderOptions {
  log: Logger;
  classify?: HitClassifier;
  prepare?: readonly HitPrepare[];
  /** Fold repeated identical hits (see hits/flood.ts); off when absent. */
  flood?: FloodGate;
}

/**
 * Group commit: hits that arrive in the same event-loop turn are written in one SQLite
 * transaction (one WAL append instead of one per hit), and each caller is answered after
 * that commit. Should the batch fail, hits are retried one by one so a single bad row cannot
 * lose the others. Record first, correlate right after: the written hits go to the
 * correlator (trail and outbox) in a savepoint, batched per actor. A failed correlation is
 * logged and retried from the database later; it never fails the hits, which still commit.
 */
export function createHitRecorder(
  deps: RecorderOptions & {
    db: Db;
    /** Puts committed hits on their trails and queues their alerts (the alert pipeline); hits stay uncorrelated when absent. */
    correlator?: Correlator;
  },
): SqliteHitRecorder {
  const { db, log, correlator } = deps;
  let queue: { event: HitEvent; resolve: (h: HitRow) => void; reject: (e: unknown) => void }[] = [];
  let scheduled = false;
  const stats: RecorderStats = { batches: 0, hits: 0, failed: 0, lastFailureAt: null, lastFailure: null };

  const writer = hitWriter(db);
  const persist = (event: HitEvent): Recorded => {
    const row = toRow(event);
    const decision = deps.flood?.decide(row) ?? { store: true };
    if ('fold' in decision) return { hit: writer.repeat(decision.fold, row.at), token: event.token, repeat: true };
    if ('drop' in decision) return { hit: unstoredHit(row), token: event.token };
    if (deps.classify) row.classification = deps.classify(row, event.token);
    for (const p of deps.prepare ?? []) p(row, event.token);
    const hit = writer.insert(row);
    deps.flood?.stored(row, hit);
    return { hit, token: event.token };
  };
  const persistBatch = db.$client.transaction((events: HitEvent[]) => {
    const stored = events.map(persist);
    for (const [tokenId, t] of perTokenCounts(stored.map((r) => r.hit))) writer.touchToken(tokenId, t.n, t.at);
    // A hit over the storage budget (id 0) is counted on its token but is no row an intrusion can hold.
    correlate(stored.filter((r) => r.hit.id !== 0));
    return stored.map((r) => r.hit);
  });

  /**
   * The trail and outbox for hits just written, in a savepoint of their transaction: one
   * commit carries both (the hit pages reach the WAL once), yet a failure here rolls back
   * only the savepoint and the hits still commit, uncorrelated, for a later catch-up.
   */
  function correlate(recorded: Recorded[]): void {
    if (!correlator || recorded.length === 0) return;
    try {
      correlator.correlate(recorded);
    } catch (err) {
      log.error({ err, hits: recorded.length }, 'correlating hits failed; they are stored and will be correlated on retry');
      catchUpLater(0);
    }
  }
  const persistOne = db.$client.transaction((event: HitEvent) => persistBatch([event])[0] as HitRow);

  let retry: { timer: NodeJS.Timeout; attempt: number } | null = null;
  let catching: Promise<number> | null = null;
  let closed = false;

  /**
   * Correlate from the database what is stored but not on a trail (left by a failed
   * correlation, or by a process that stopped between the two steps), one bounded batch per
   * event-loop turn so listeners keep answering meanwhile. Failures retry with backoff.
   */
  function catchUp(attempt = 0): Promise<number> {
    if (!correlator) return Promise.resolve(0);
    catching ??= (async () => {
      let total = 0;
      try {
        while (!closed) {
          await new Promise((next) => setImmediate(next));
          const n = await correlator.catchUpSome();
          if (n === 0) break;
          total += n;
          if (total % 50_000 < n) log.info({ hits: total }, 'correlating stored hits that had no trail yet');
        }
      } catch (err) {
        log.error({ err, attempt: attempt + 1 }, 'correlating stored hits failed; retrying');
        catchUpLater(attempt + 1);
      } finally {
        catching = null;
      }
      if (total > 0) log.warn({ hits: total }, 'correlated stored hits that had no trail yet');
      return total;
    })();
    return catching;
  }


  /** Catch up after a delay (after a failed correlation), with backoff. */
  function catchUpLater(attempt: number): void {
    if (!correlator || retry || closed) return;
    const delay = catchUpDelay(attempt);
    const timer = setTimeout(() => {
      retry = null;
      void catchUp(attempt);
    }, delay);
    timer.unref();
    retry = { timer, attempt };
  }

  // Under load, wait a few event-loop turns while hits keep arriving: libuv reads at most 32
  // datagrams per socket per turn, and a commit costs about the same for 32 hits as for 200
  // (the pages it touches), so waiting one more turn is cheaper than committing now. When no
  // new hit arrived since the last turn (a lone hit, or every client waiting for its answer)
  // it commits at once.
  let seenLength = 0;
  let deferrals = 0;
  function scheduledFlush(): void {
    if (queue.length > seenLength && queue.length < MAX_BATCH && deferrals < MAX_DEFERRALS) {
      seenLength = queue.length;
      deferrals++;
      setImmediate(scheduledFlush);
      return;
    }
    seenLength = 0;
    deferrals = 0;
    flush();
  }

  function flush(): void {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    stats.batches++;
    let stored: HitRow[] | undefined;
    try {
      stored = persistBatch(batch.map((p) => p.event));
    } catch (err) {
      deps.flood?.reset();
      log.warn({ err, size: batch.length }, 'hit batch failed; retrying hits one by one');
    }
    const results = batch.map((pending, i): HitRow | { error: unknown } => {
      try {
        return stored?.[i] ?? persistOne(pending.event);
      } catch (error) {
        return { error };
      }
    });
    batch.forEach((pending, i) => {
      const r = results[i] as HitRow | { error: unknown };
      if ('error' in r) {
        stats.failed++;
        stats.lastFailureAt = Date.now();
        stats.lastFailure = r.error instanceof Error ? r.error.message : String(r.error);
        log.error({ err: r.error, tokenId: pending.event.token.id }, 'hit could not be stored');
        pending.reject(r.error);
        return;
      }
      stats.hits++;
      logHit(log, r, pending.event.token);
      pending.resolve(r);
    });
  }

  return {
    record(event) {
      return new Promise<HitRow>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(scheduledFlush);
        }
      });
    },
    flush,
    catchUp: () => catchUp(),
    close() {
      flush();
      closed = true;
      if (retry) clearTimeout(retry.timer);
      retry = null;
    },
    stats,
  };
}

/** The row a channel's event becomes: fields clipped, JSON bounded, classification defaulted. */
export function toRow(e: HitEvent): NewHitRow {
  const facts = e.facts ?? {};
  const at = e.at ?? new Date();
  return {
    tokenId: e.token.id,
    channel: e.channel,
    at,
    sourceIp: clip(e.sourceIp),
    sourcePort: e.sourcePort ?? null,
    forwardedFor: clip(e.forwardedFor),
    userAgent: clip(e.userAgent),
    referer: clip(e.referer),
    method: clip(e.method),
    path: clip(e.path),
    query: clip(e.query),
    qname: clip(e.qname),
    qtype: clip(e.qtype),
    mailFrom: clip(e.mailFrom),
    mailTo: clip(e.mailTo),
    mailSubject: clip(e.mailSubject),
    actorUser: clip(facts.actor?.user),
    actorHost: clip(facts.actor?.host),
    actorDomain: clip(facts.actor?.domain),
    credential: clip(facts.credential),
    headers: boundJson(e.headers ?? null) as Record<string, string> | null,
    details: boundJson(withStale(facts.details ?? null, e.token)),
    classification: facts.classification ?? classify(e.token, e.sourceIp ?? null),
  };
}

/**
 * A hit on a rotated token came from an old artifact (a copy taken before the rotation): its
 * details say when it was rotated and which token replaced it; the intrusion names it as a
 * reason ("old artifact (rotated on …)").
 */
export function staleFacts(token: Pick<Token, 'rotatedAt' | 'rotatedTo' | 'generation'>): Record<string, unknown> | null {
  if (!token.rotatedAt) return null;
  return { rotatedAt: token.rotatedAt.toISOString(), current: token.rotatedTo, generation: token.generation };
}

function withStale(details: Record<string, unknown> | null, token: Token): Record<string, unknown> | null {
  const stale = staleFacts(token);
  return stale ? { ...details, stale } : details;
}

function clip(v: string | null | undefined): string | null {
  if (v === undefined || v === null) return null;
  return v.length > MAX_TEXT ? `${v.slice(0, MAX_TEXT)}…[truncated ${v.length - MAX_TEXT} chars]` : v;
}

/** JSON columns are size-bounded: an oversized document is replaced by a truncated preview. */
function boundJson(value: Record<string, unknown> | null): Record<string, unknown> | null {
  if (value === null) return null;
  const text = JSON.stringify(value);
  if (text.length <= MAX_JSON) return value;
  return { truncated: true, originalSize: text.length, preview: text.slice(0, MAX_JSON / 2) };
}

export function logHit(log: Logger, hit: HitRow, token: Token): void {
  // One info line per stored hit, whatever its classification (echoes, scanners and noise too:
  // the log is a record). A repeat folded into an earlier row (flood control) logs at debug:
  // the row's count tells the rest, and a flood must not flood the log. So does a hit over the
  // storage budget (id 0): the budget's counts and its warn line per minute tell those.
  const quiet = hit.repeatCount > 1 || hit.id === 0;
  if (quiet && !log.isLevelEnabled('debug')) return;
  log[quiet ? 'debug' : 'info'](
    {
      event: 'hit',
      hitId: hit.id,
      tokenId: hit.tokenId,
      kind: token.kind,
      channel: hit.channel,
      sourceIp: hit.sourceIp,
      userAgent: hit.userAgent,
      actor: hit.actorUser || hit.actorHost ? { user: hit.actorUser, host: hit.actorHost, domain: hit.actorDomain } : undefined,
      classification: hit.classification,
      incidentId: hit.incidentId,
    },
    'token triggered',
  );
}
