/**
 * What one source has changed on a decoy share (webdav-share kind): its writes (the
 * quarantine), deletions, dead properties and locks. Keyed by token and source address, so a
 * write is seen only by the source that made it and never served to anyone else. Everything is
 * bounded: nodes and bytes per session (past them a write gets 507 Insufficient Storage), and
 * sessions overall (the least recently used goes first). Kept in memory: a restart or another
 * listener process starts from the generated tree again, as a share restored from backup would.
 */

export interface OverlayNode {
  /** Share-relative path as the client spelled it. */
  path: string;
  dir: boolean;
  /** Bytes written by the client (quarantined), or the generated file a COPY/MOVE took. */
  data?: Buffer;
  ref?: string;
  size: number;
  modified: Date;
  etag: string;
}

export interface DeadProp {
  ns: string;
  name: string;
  inner: string;
  scope: Record<string, string>;
}

export interface Lock {
  token: string;
  path: string;
  depth: '0' | 'infinity';
  scope: 'exclusive' | 'shared';
  owner: string;
  timeout: number;
  expires: number;
}

export interface Session {
  nodes: Map<string, OverlayNode>;
  gone: Set<string>;
  props: Map<string, Map<string, DeadProp>>;
  locks: Map<string, Lock>;
  bytes: number;
  /** Times of recent writes, moves and deletes (the ransomware canary's window). */
  writes: number[];
  burstAt: number;
  credentialAt: number;
}

export const SESSION_LIMITS = {
  /** Overlay nodes (files and folders written, copied or made) per session. */
  nodes: 512,
  /** Quarantined bytes per session. */
  bytes: 8 * 1024 * 1024,
  /** Sessions kept (least recently used dropped first). */
  sessions: 512,
  /** Locks and deletion marks per session. */
  marks: 2048,
} as const;

const sessions = new Map<string, Session>();

/** The session of (token, source), made on first use; touching it makes it the most recent. */
export function sessionOf(tokenId: string, sourceIp: string): Session {
  const key = `${tokenId}\u0000${sourceIp}`;
  let s = sessions.get(key);
  if (s) sessions.delete(key);
  else {
    if (sessions.size >= SESSION_LIMITS.sessions) {
      const oldest = sessions.keys().next().value;
      if (oldest !== undefined) sessions.delete(oldest);
    }
    s = { nodes: new Map(), gone: new Set(), props: new Map(), locks: new Map(), bytes: 0, writes: [], burstAt: 0, credentialAt: 0 };
  }
  sessions.set(key, s);
  return s;
}

export const keyOf = (path: string): string => path.toLowerCase();

/** Store a node if the session has room; false when full (the caller answers 507). */
export function putNode(s: Session, node: OverlayNode): boolean {
  const key = keyOf(node.path);
  const old = s.nodes.get(key);
  const bytes = s.bytes - (old?.data?.length ?? 0) + (node.data?.length ?? 0);
  if ((!old && s.nodes.size >= SESSION_LIMITS.nodes) || bytes > SESSION_LIMITS.bytes) return false;
  s.bytes = bytes;
  s.nodes.set(key, node);
  return true;
}

/** Remove a path and everything below it from the overlay, and mark it deleted. */
export function removeTree(s: Session, path: string): void {
  const key = keyOf(path);
  const prefix = `${key}/`;
  for (const [k, n] of s.nodes) {
    if (k === key || k.startsWith(prefix)) {
      s.bytes -= n.data?.length ?? 0;
      s.nodes.delete(k);
    }
  }
  for (const k of [...s.props.keys()]) if (k === key || k.startsWith(prefix)) s.props.delete(k);
  for (const [t, l] of s.locks) if (keyOf(l.path) === key || keyOf(l.path).startsWith(prefix)) s.locks.delete(t);
  if (s.gone.size < SESSION_LIMITS.marks) s.gone.add(key);
}

/** Forget expired locks. */
export function liveLocks(s: Session, now = Date.now()): Lock[] {
  for (const [t, l] of s.locks) if (l.expires <= now) s.locks.delete(t);
  return [...s.locks.values()];
}

/**
 * Count a write, move or delete; true when this one crosses `threshold` within `windowMs` (once
 * per window): the ransomware canary.
 */
export function countWrite(s: Session, now: number, threshold: number, windowMs = 60_000): { count: number; burst: boolean } {
  s.writes = s.writes.filter((t) => now - t < windowMs);
  if (s.writes.length < threshold * 2) s.writes.push(now);
  const count = s.writes.length;
  const burst = count >= threshold && now - s.burstAt >= windowMs;
  if (burst) s.burstAt = now;
  return { count, burst };
}
