import type { EntityKind, HitRow } from '../db/schema.ts';
import { placeKey, placeKind, placeLabel } from '../tokens/hit-words.ts';
import type { HitMeaning, Token } from '../tokens/kind.ts';
import { hostKey, sameHost, type Actor, type AssetLookup } from './actor.ts';

/**
 * The entities one hit names (DESIGN section 5): the evidence graph's nodes. Link entities
 * (machines, user identities, and `via` for hits that name nothing else) tie hits into one
 * intrusion when two hits share one within TRAIL_WINDOW; the others (decoys, places, planted
 * hosts, credentials, relays) describe the intrusion and are counted, never linked on.
 */

/** Entity kinds an intrusion holds in full whenever it is loaded (they are few per intrusion); the others are looked up by key. */
export const LINK_KINDS: readonly EntityKind[] = ['host', 'ip', 'user', 'via', 'hop'];

/** An entity a hit names, before it is put on an intrusion. */
export interface EntityDraft {
  key: string;
  kind: EntityKind;
  label: string;
  claimed: boolean;
  /** Ties hits together (machines, linkable users, via). */
  link: boolean;
  data?: Record<string, unknown>;
}

/** What a hit names: its entities and, when the hit shows a planted secret or file travelled, the host it came from. */
export interface HitEntities {
  all: EntityDraft[];
  /** Keys hits link on, the actor's own first. */
  links: string[];
  /**
   * The decoy lived on this host's own storage (not a share) and the hit came from another
   * machine: the host it was taken from, which joins the intrusion (DESIGN rule a).
   */
  takenFrom: EntityDraft | null;
}

const kindOf = (key: string): EntityKind => key.slice(0, key.indexOf(':')) as EntityKind;

/**
 * The entities of a hit. Hits that do not count toward intrusions (scanners, echoes, probes,
 * ignored sources) name only who made them, so they can join an intrusion as context but add
 * no decoy, place or credential to it.
 */
export function entitiesOf(hit: Pick<HitRow, 'sourceIp' | 'credential'>, token: Token, actor: Actor, meaning: HitMeaning, counted: boolean, assets: AssetLookup): HitEntities {
  const all: EntityDraft[] = [];
  const m = actor.machine;
  if (m) all.push({ key: m.key, kind: kindOf(m.key), label: m.label, claimed: m.claimed, link: true, data: { host: m.host, ip: m.ip } });
  const u = actor.user;
  if (u) all.push({ key: u.key, kind: 'user', label: u.label, claimed: true, link: u.links });
  if (!m && !u?.links) all.push({ key: actor.key, kind: 'via', label: actor.label, claimed: false, link: true });
  if (actor.relay?.ip) all.push({ key: `relay:${actor.relay.ip}`, kind: 'relay', label: actor.relay.label, claimed: false, link: false, data: { kind: actor.relay.kind } });
  let takenFrom: EntityDraft | null = null;
  if (counted) {
    all.push({ key: `decoy:${token.id}`, kind: 'decoy', label: token.name, claimed: false, link: false, data: { kind: token.kind } });
    if (token.location) {
      all.push({ key: `place:${placeKey(token.location, token.plantedHost)}`, kind: 'place', label: placeLabel(token.location), claimed: false, link: false, data: { place: placeKind(token.location) } });
    }
    if (token.plantedHost) all.push({ key: `planted:${token.plantedHost.toLowerCase().split('.')[0]}`, kind: 'planted', label: token.plantedHost, claimed: false, link: false });
    if (meaning.evidence === 'credential-used') {
      all.push({ key: `cred:${token.id}`, kind: 'cred', label: hit.credential ?? token.name, claimed: false, link: false, data: { tokenId: token.id, kind: token.kind } });
    }
    takenFrom = awayFromHome(token, actor, meaning, assets);
    if (takenFrom) all.push(takenFrom);
  }
  const links = all.filter((e) => e.link).map((e) => e.key);
  return { all, links, takenFrom };
}

/**
 * The planted host, when the hit proves something planted on that host's own storage travelled:
 * a planted credential used, or a local decoy touched, from another machine (a share's files
 * are read from anywhere, so a share decoy proves nothing about its server). Only for
 * machines known apart: a bare address is "another machine" unless the asset map puts the
 * planted host at that address.
 */
function awayFromHome(token: Token, actor: Actor, meaning: HitMeaning, assets: AssetLookup): EntityDraft | null {
  const home = token.plantedHost;
  const m = actor.machine;
  const place = placeKind(token.location);
  if (!home || !m || place === 'share') return null;
  if (meaning.evidence === 'credential-found') return null;
  // A touch proves the file travelled only when it is known to live on the host's own disk (a wiki
  // page or a bookmark store says less); a used secret, wherever on the host it was.
  if (meaning.evidence === 'touch' && place !== 'local') return null;
  if (m.host && sameHost(m.host, home)) return null;
  const homeAsset = assets.host(home);
  if (!m.host && m.ip && homeAsset && assets.ip(m.ip)?.id === homeAsset.id) return null;
  return { key: hostKey(home), kind: 'host', label: home, claimed: false, link: true, data: { host: home, ip: null, plantedHere: token.id } };
}
