import type { EntityRow } from '../db/schema.ts';
import { oneLine } from '../text.ts';

/**
 * The path of an intrusion between machines: its machine and hop entities as a chain of text
 * (`WS-22 (10.20.4.22) → JUMP01 (10.30.0.10)`, for mail and chat) and as a small SVG graph (for
 * the incident page, server-rendered, no script). Every label is attacker-influenced text and
 * is escaped for SVG here.
 */

export interface PathMachine {
  key: string;
  /** `WS-22 (10.20.4.22)`. */
  label: string;
  /** The name was reported by the attacker's machine, not observed. */
  claimed: boolean;
  /** A host the intrusion was inferred on (a planted secret of it was used elsewhere) rather than seen acting from. */
  inferred: boolean;
  firstAt: string;
  hits: number;
}

export interface PathHop {
  from: string;
  to: string;
  at: string;
  /** `credential`, `decoy` or `identity`: what shows the intrusion moved. */
  via: string;
  text: string;
  claimed: boolean;
}

export interface PathView {
  /** The hops as a chain, or the machines when there is no hop; empty when no machine is known. */
  text: string;
  hops: PathHop[];
  machines: PathMachine[];
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

/** The path from an intrusion's entities (any order). */
export function pathOf(entities: readonly EntityRow[]): PathView {
  const byKey = new Map<string, PathMachine>();
  for (const e of entities) {
    if (e.kind !== 'host' && e.kind !== 'ip') continue;
    const ip = str(e.data?.ip);
    const host = str(e.data?.host);
    byKey.set(e.key, {
      key: e.key,
      label: oneLine(host && ip ? `${e.label} (${ip})` : e.label, 120),
      claimed: e.claimed,
      inferred: e.data?.plantedHere !== undefined && e.hits <= 1 && !ip,
      firstAt: e.firstAt.toISOString(),
      hits: e.hits,
    });
  }
  const machines = [...byKey.values()].sort((a, b) => a.firstAt.localeCompare(b.firstAt));
  const hops = entities
    .filter((e) => e.kind === 'hop')
    .map((e): PathHop => {
      const from = byKey.get(str(e.data?.fromKey) ?? '')?.label ?? oneLine(str(e.data?.from) ?? '?', 120);
      const to = byKey.get(str(e.data?.toKey) ?? '')?.label ?? oneLine(str(e.data?.to) ?? '?', 120);
      return { from, to, at: e.firstAt.toISOString(), via: str(e.data?.via) ?? 'identity', text: oneLine(str(e.data?.text) ?? `${from} → ${to}`, 300), claimed: e.claimed };
    })
    .sort((a, b) => a.at.localeCompare(b.at));
  return { text: chain(hops, machines), hops, machines };
}

/** `A → B → C; D → E`: consecutive hops joined where one ends where the next begins. */
function chain(hops: readonly PathHop[], machines: readonly PathMachine[]): string {
  if (hops.length === 0) return machines.map((m) => m.label).join(', ');
  const parts: string[][] = [];
  for (const h of hops) {
    const last = parts[parts.length - 1];
    if (last && last[last.length - 1] === h.from) last.push(h.to);
    else parts.push([h.from, h.to]);
  }
  return oneLine(parts.map((p) => p.join(' → ')).join('; '), 600);
}

const MAX_NODES = 12;
const NODE_W = 170;
const GAP = 40;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * The path as an SVG picture: machines left to right in the order the intrusion reached them,
 * each hop an arrow above them labelled with its time (UTC) and what shows it. Null when the
 * intrusion names no machine.
 */
export function pathSvg(path: PathView): string | null {
  if (path.machines.length === 0) return null;
  // Left to right as the intrusion moved: each hop's source before its target, then the rest by first sight.
  const order: PathMachine[] = [];
  const byLabel = new Map(path.machines.map((m) => [m.label, m]));
  for (const h of path.hops) for (const l of [h.from, h.to]) {
    const m = byLabel.get(l);
    if (m && !order.includes(m)) order.push(m);
  }
  for (const m of path.machines) if (!order.includes(m)) order.push(m);
  const nodes = order.slice(0, MAX_NODES);
  const index = new Map(nodes.map((m, i) => [m.label, i]));
  const hops = path.hops.filter((h) => index.has(h.from) && index.has(h.to));
  const arcs = hops.length;
  const top = 30 + arcs * 26;
  const width = nodes.length * (NODE_W + GAP) + GAP;
  const height = top + 90;
  const x = (i: number) => GAP + i * (NODE_W + GAP);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="path-graph" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(path.text || 'machines of this intrusion')}</title>`,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c53030"/></marker></defs>',
  ];
  hops.forEach((h, k) => {
    const a = index.get(h.from) ?? 0;
    const b = index.get(h.to) ?? 0;
    const x1 = x(a) + NODE_W / 2;
    const x2 = x(b) + NODE_W / 2 + (a === b ? 20 : 0);
    const lift = top - 20 - k * 26;
    parts.push(
      `<path d="M${x1},${top} C${x1},${lift} ${x2},${lift} ${x2},${top}" fill="none" stroke="#c53030" stroke-width="2"${h.claimed ? ' stroke-dasharray="5,4"' : ''} marker-end="url(#arrow)"/>`,
      `<text x="${(x1 + x2) / 2}" y="${lift + 4}" text-anchor="middle" fill="#1b1f24">${esc(clip(`${h.at.slice(11, 19)} ${h.via}`, 40))}</text>`,
    );
  });
  nodes.forEach((m, i) => {
    const [name, ip] = m.label.includes(' (') ? [m.label.slice(0, m.label.indexOf(' (')), m.label.slice(m.label.indexOf(' (') + 2, -1)] : [m.label, ''];
    parts.push(
      `<g><rect x="${x(i)}" y="${top}" width="${NODE_W}" height="48" rx="6" fill="${m.inferred ? '#fff8e1' : '#f0f2f5'}" stroke="#5b6b7a"${m.claimed ? ' stroke-dasharray="4,3"' : ''}/>`,
      `<text x="${x(i) + NODE_W / 2}" y="${top + 20}" text-anchor="middle" font-weight="bold">${esc(clip(name, 24))}</text>`,
      `<text x="${x(i) + NODE_W / 2}" y="${top + 37}" text-anchor="middle" fill="#555">${esc(clip(ip || (m.inferred ? 'decoy taken from here' : ''), 28))}</text></g>`,
    );
  });
  if (path.machines.length > nodes.length) {
    parts.push(`<text x="${GAP}" y="${height - 8}" fill="#555">${path.machines.length - nodes.length} more machine(s) are listed below.</text>`);
  }
  if (nodes.some((m) => m.claimed) || hops.some((h) => h.claimed)) {
    parts.push(`<text x="${GAP}" y="${height - 8 - (path.machines.length > nodes.length ? 16 : 0)}" fill="#555">dashed: names reported by the attacker</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
