import type { EntityDraft, HitEntities } from '../hits/entities.ts';
import type { Actor } from '../hits/actor.ts';

/**
 * Purple-team drills (src/drills/run.ts) plant their own decoys tagged `drill:<run>`. The tag
 * is the defender's (the API refuses it on tokens it did not make for a drill), never the
 * request's: what an attacker sends cannot make a touch a drill. Every entity a drill hit
 * names is kept in the run's own namespace, so a drill's intrusion never joins, merges with or
 * marks as familiar anything real, and the reverse.
 */
export const DRILL_TAG_PREFIX = 'drill:';
const MARK = '#drill:';

/** The drill run a token belongs to, or null for every real decoy. */
export function drillRunOf(token: { tags?: readonly string[] | null }): string | null {
  const tag = token.tags?.find((t) => t.startsWith(DRILL_TAG_PREFIX));
  return tag ? tag.slice(DRILL_TAG_PREFIX.length) || null : null;
}

/** An entity or actor key inside a drill run's namespace (the kind prefix stays first). */
export function drillKey(key: string, run: string): string {
  return key.includes(MARK) ? key : `${key}${MARK}${run}`;
}

/** The run an incident's actor key belongs to, or null for a real incident. */
export function drillOfKey(key: string): string | null {
  const at = key.lastIndexOf(MARK);
  return at < 0 ? null : key.slice(at + MARK.length);
}

/** The actor of a drill hit, in the run's namespace and labelled as the drill. */
export function drillActor(actor: Actor, run: string | null): Actor {
  if (!run) return actor;
  return {
    ...actor,
    key: drillKey(actor.key, run),
    label: `${actor.label} [drill ${run}]`,
    machine: actor.machine ? { ...actor.machine, key: drillKey(actor.machine.key, run) } : null,
    user: actor.user ? { ...actor.user, key: drillKey(actor.user.key, run) } : null,
  };
}

/** A drill hit's entities, every key in the run's namespace. */
export function drillEntities(ents: HitEntities, run: string | null): HitEntities {
  if (!run) return ents;
  const ns = (d: EntityDraft): EntityDraft => ({ ...d, key: drillKey(d.key, run) });
  return { all: ents.all.map(ns), links: ents.links.map((k) => drillKey(k, run)), takenFrom: ents.takenFrom ? ns(ents.takenFrom) : null };
}
