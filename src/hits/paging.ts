import type { Config } from '../config.ts';
import type { AlertKind, AlertStatus, HitRow } from '../db/schema.ts';
import type { Token } from '../tokens/kind.ts';
import type { IntrusionState } from './intrusions.ts';

/**
 * The paging policy (DESIGN section 6), run in the correlation transaction: which outbox rows an
 * alerting hit writes. One intrusion is one thread per target (`incident:<id>`): its first hit
 * pages at once; later hits fold into the thread's waiting row or open a digest due
 * ALERT_DIGEST_SECONDS after the last mail was sent. A hit that escalates (the first use of a
 * planted credential, a new hop, a merge, a rise in severity) pages at once even in a busy
 * thread. Floods page once: when ALERT_GROUP_AFTER intrusions already opened on one decoy (or
 * through one resolver with names the attacker reported) within ALERT_GROUP_WINDOW, the next
 * ones open in a grouped thread (`group:decoy:<id>`) with counts and a sample, and beyond
 * ALERT_FIRST_PER_MINUTE new intrusions a minute, in `group:overflow`. Everything stays stored;
 * only paging is grouped, and an escalating hit always leaves the group.
 */

/** What a message reports: a range of an intrusion's hits (a digest grows until a worker claims it). */
export interface AlertPayload extends Record<string, unknown> {
  firstHitId: number;
  lastHitId: number;
  /** Hit rows folded into the message. */
  hitCount: number;
  /** Flood-folded repeats of rows the thread already reported, counted since the previous message. */
  repeats?: number;
  /** When the row was first due. */
  scheduledAt: number;
  /** Something in the message escalated the intrusion (it went out at once). */
  escalated?: boolean;
  /** Why it went out at once: `opened`, `credential`, `hop`, `merge`, `severity`. */
  urgent?: string[];
  /** Grouped alerts: the intrusions folded in (the first ones), and how many in all. */
  incidents?: number[];
  incidentCount?: number;
  /** Grouped alerts: the number the thread's subject carries (its first intrusion), stable across the thread. */
  groupRoot?: number;
  /** Incidents merged into this one since the previous message (their threads are referenced too). */
  mergedFrom?: number[];
}

/** The newest outbox row of a thread and target, as the pager reads it. */
export interface AlertTail {
  id: number;
  kind: string;
  status: AlertStatus;
  claimedBy: string | null;
  nextAttemptAt: number;
  sentAt: number | null;
  payload: AlertPayload;
}

/** A new outbox row. */
export interface NewOutboxRow {
  incidentId: number;
  thread: string;
  channel: 'email' | 'webhook';
  target: string;
  kind: Exclude<AlertKind, 'test'>;
  due: number;
  key: string;
  payload: AlertPayload;
}

/** The outbox writes of one batch: new rows, and waiting rows that took more hits (compare-and-swap on `claimed_by is null`). */
export interface PagerWrites {
  inserts: NewOutboxRow[];
  folds: { id: number; payload: AlertPayload; due: number }[];
  wake: boolean;
}

/** What the pager reads (a part of IntrusionReads). */
export interface PagerReads {
  tail(thread: string, channel: string, target: string): AlertTail | undefined;
  /** Unmerged intrusions that first named `key` at or after `since` (at most `limit` ids). */
  recentWith(key: string, since: number, limit: number): number[];
  pagedSince(since: number): number;
}

/** One place an alert goes: an email recipient or a webhook URL. */
export interface AlertTarget {
  channel: 'email' | 'webhook';
  target: string;
}

/** Recipients of a token's alerts: its own emails and webhooks plus ALERT_TO and WEBHOOK_URLS. */
export function targetsFor(token: { alertEmails: readonly string[]; webhooks: readonly string[] }, config: Pick<Config, 'ALERT_TO' | 'WEBHOOK_URLS'>): AlertTarget[] {
  const emails = new Set([...token.alertEmails, ...config.ALERT_TO].map((e) => e.trim().toLowerCase()).filter(Boolean));
  const hooks = new Set([...token.webhooks, ...config.WEBHOOK_URLS].map((u) => u.trim()).filter(Boolean));
  return [...[...emails].map((target) => ({ channel: 'email' as const, target })), ...[...hooks].map((target) => ({ channel: 'webhook' as const, target }))];
}

/** An alerting hit placed on its intrusion. */
export interface PageRequest {
  hit: HitRow;
  token: Token;
  incident: IntrusionState;
  /** Why this hit must go out at once (empty for routine hits). */
  urgent: string[];
  /** Flood keys this intrusion's opening may be grouped under: `decoy:<id>`, `relay:<ip>`. */
  groupKeys: string[];
  /** Intrusions this hit merged into `incident`. */
  mergedFrom: number[];
}

/** Most intrusions listed by id in one grouped message (the count goes on). */
const GROUP_LISTED = 200;
/** Reasons that do not by themselves keep an opening hit out of a group. */
const ROUTINE = new Set(['opened', 'severity']);

export type PagerConfig = Pick<Config, 'ALERT_TO' | 'WEBHOOK_URLS' | 'ALERT_DIGEST_SECONDS' | 'ALERT_GROUP_AFTER' | 'ALERT_GROUP_WINDOW' | 'ALERT_FIRST_PER_MINUTE'>;

/** The pager of one batch: outbox rows as the batch leaves them, over what the database held before it. */
export function createPager(reads: PagerReads, config: PagerConfig, now: number) {
  const digestMs = config.ALERT_DIGEST_SECONDS * 1000;
  const tails = new Map<string, AlertTail & { insert?: number }>();
  const inserts: NewOutboxRow[] = [];
  const folds = new Map<number, { id: number; payload: AlertPayload; due: number }>();
  const pagedHere = new Set<number>();
  const groupedHere = new Map<string, Set<number>>();
  let wake = false;

  const tailOf = (thread: string, t: AlertTarget) => {
    const k = `${thread}\u0000${t.channel}\u0000${t.target}`;
    if (!tails.has(k)) {
      const db = reads.tail(thread, t.channel, t.target);
      if (db) tails.set(k, { ...db, payload: { ...db.payload } });
    }
    return { k, tail: tails.get(k) };
  };

  /** The group an intrusion's opening page goes to, or null to page it on its own thread. */
  function groupFor(r: PageRequest): string | null {
    const since = now - config.ALERT_GROUP_WINDOW;
    for (const key of r.groupKeys) {
      const others = new Set([...reads.recentWith(key, since, config.ALERT_GROUP_AFTER + 2), ...(groupedHere.get(key) ?? [])]);
      others.delete(r.incident.id);
      if (others.size >= config.ALERT_GROUP_AFTER) return `group:${key}`;
    }
    if (reads.pagedSince(now - 60_000) + pagedHere.size >= config.ALERT_FIRST_PER_MINUTE) return 'group:overflow';
    return null;
  }

  function write(thread: string, t: AlertTarget, r: Pick<PageRequest, 'hit' | 'incident' | 'urgent'>, opts: { repeat?: boolean; mergedFrom?: number[] } = {}): void {
    const { k, tail } = tailOf(thread, t);
    const group = thread.startsWith('group:');
    const atOnce = !tail || r.urgent.length > 0;
    if (tail && tail.claimedBy === null && (tail.status === 'pending' || tail.status === 'failed')) {
      const p = tail.payload;
      if (opts.repeat) p.repeats = (p.repeats ?? 0) + 1;
      else {
        p.lastHitId = Math.max(p.lastHitId, r.hit.id);
        p.firstHitId = Math.min(p.firstHitId, r.hit.id);
        p.hitCount += 1;
      }
      if (r.urgent.length) {
        p.escalated = true;
        p.urgent = [...new Set([...(p.urgent ?? []), ...r.urgent])];
      }
      if (group) addIncident(p, r.incident.id);
      if (opts.mergedFrom?.length) p.mergedFrom = [...new Set([...(p.mergedFrom ?? []), ...opts.mergedFrom])];
      if (atOnce && tail.nextAttemptAt > now) {
        tail.nextAttemptAt = now;
        wake = true;
      }
      if (tail.insert !== undefined) {
        const row = inserts[tail.insert];
        if (row) inserts[tail.insert] = { ...row, payload: p, due: tail.nextAttemptAt };
      } else folds.set(tail.id, { id: tail.id, payload: p, due: tail.nextAttemptAt });
      return;
    }
    const kind: NewOutboxRow['kind'] = group ? 'group' : tail ? 'digest' : 'first';
    const due = atOnce ? now : tail?.status === 'sent' && tail.sentAt !== null ? Math.max(now, tail.sentAt + digestMs) : now + digestMs;
    const payload: AlertPayload = {
      firstHitId: r.hit.id,
      lastHitId: r.hit.id,
      hitCount: opts.repeat ? 0 : 1,
      ...(opts.repeat ? { repeats: 1 } : {}),
      scheduledAt: due,
      escalated: r.urgent.length > 0,
      ...(r.urgent.length ? { urgent: [...r.urgent] } : {}),
      ...(opts.mergedFrom?.length ? { mergedFrom: opts.mergedFrom } : {}),
    };
    if (group) {
      payload.groupRoot = tail?.payload.groupRoot ?? r.incident.id;
      addIncident(payload, r.incident.id);
    }
    const row: NewOutboxRow = { incidentId: r.incident.id, thread, channel: t.channel, target: t.target, kind, due, key: `${kind}:${thread}:${t.channel}:${t.target}:${r.hit.id}${opts.repeat ? ':r' : ''}`, payload };
    inserts.push(row);
    if (kind === 'first') pagedHere.add(r.incident.id);
    if (due <= now) wake = true;
    tails.set(k, { id: -inserts.length, kind, status: 'pending', claimedBy: null, nextAttemptAt: due, sentAt: null, payload, insert: inserts.length - 1 });
  }

  return {
    /** Page one alerting hit (after the intrusion logic placed it). */
    page(r: PageRequest): void {
      const targets = targetsFor(r.token, config);
      if (targets.length === 0) return;
      const own = `incident:${r.incident.id}`;
      const fresh = targets.every((t) => !tailOf(own, t).tail);
      const urgent = fresh ? [...new Set(['opened', ...r.urgent])] : r.urgent;
      let thread = own;
      if (r.incident.alertGroup) {
        // A grouped intrusion pages on its own once it escalates; routine hits stay in the group.
        if (urgent.some((u) => !ROUTINE.has(u))) r.incident.alertGroup = null;
        else thread = r.incident.alertGroup;
      } else if (fresh && urgent.every((u) => ROUTINE.has(u))) {
        const group = groupFor(r);
        if (group) {
          r.incident.alertGroup = group;
          thread = group;
        }
      }
      for (const key of r.groupKeys) {
        const set = groupedHere.get(key) ?? new Set<number>();
        set.add(r.incident.id);
        groupedHere.set(key, set);
      }
      for (const t of targets) write(thread, t, { ...r, urgent: thread === own ? urgent : [] }, { mergedFrom: r.mergedFrom });
    },
    /** Count a flood-folded repeat in the message that will report its row. */
    repeat(r: Pick<PageRequest, 'hit' | 'token' | 'incident'>): void {
      const thread = r.incident.alertGroup ?? `incident:${r.incident.id}`;
      for (const t of targetsFor(r.token, config)) write(thread, t, { ...r, urgent: [] }, { repeat: true });
    },
    writes(): PagerWrites {
      return { inserts, folds: [...folds.values()], wake };
    },
  };
}

function addIncident(p: AlertPayload, id: number): void {
  const list = p.incidents ?? [];
  if (list.includes(id)) return;
  p.incidentCount = (p.incidentCount ?? list.length) + 1;
  if (list.length < GROUP_LISTED) p.incidents = [...list, id];
}
