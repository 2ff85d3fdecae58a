import { createHash, randomUUID } from 'node:crypto';
import type { HttpReply, HttpRequestInfo } from './kind.ts';
import { children, find, MAX_DEPTH, type ShareTheme, type TreeNode } from './webdav-tree.ts';
import { keyOf, liveLocks, putNode, removeTree, type DeadProp, type Lock, type OverlayNode, type Session } from './webdav-session.ts';
import { DAV, kids, parseXml, propXml, xmlText, type XmlElement } from './webdav-xml.ts';

/**
 * The WebDAV protocol (RFC 4918, class 1 and 2) over the generated tree and one source's
 * session: what the webdav-share kind answers. Pure request -> reply; the kind decides who may
 * ask. Bodies are already bounded by the public listener.
 */

/** One decoy share as a request sees it. */
export interface Share {
  seed: string;
  theme: ShareTheme;
  /** URL path of the share root, without a trailing slash. */
  base: string;
  session: Session;
  /** Body of a generated file (office documents are rendered decoys). */
  content(node: TreeNode): Buffer;
  /** Its length, without generating filler bytes just to count them. */
  size(node: TreeNode): number;
}

interface Res {
  path: string;
  name: string;
  dir: boolean;
  modified: Date;
  etag: string;
  overlay?: OverlayNode;
  gen?: TreeNode;
}

/** Most resources a COPY or MOVE takes (a generated subtree is copied by reference, still bounded). */
const MAX_COPY = 256;
const MAX_PROPS = 64;

const etagOf = (s: string): string => `"${createHash('sha1').update(s).digest('hex').slice(0, 16)}"`;
const parentOf = (path: string): string => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
const nameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

function fromGen(n: TreeNode): Res {
  return { path: n.path, name: n.name, dir: n.dir, modified: n.modified, etag: etagOf(`${n.path}\u0000${n.modified.getTime()}\u0000${n.size}`), gen: n };
}
function fromOverlay(o: OverlayNode): Res {
  return { path: o.path, name: nameOf(o.path), dir: o.dir, modified: o.modified, etag: o.etag, overlay: o };
}

/** The resource at a share path: the session's writes first, then deletions, then the generated tree. */
export function stat(sh: Share, path: string): Res | null {
  const parts = path ? path.split('/') : [];
  let generated = true;
  for (let i = 1; i <= parts.length; i++) {
    const key = keyOf(parts.slice(0, i).join('/'));
    const o = sh.session.nodes.get(key);
    if (o) {
      if (i === parts.length) return fromOverlay(o);
      if (!o.dir) return null;
      generated = false;
      continue;
    }
    if (sh.session.gone.has(key) || !generated) return null;
  }
  const g = parts.length > MAX_DEPTH + 1 ? null : find(sh.seed, sh.theme, path);
  return g ? fromGen(g) : null;
}

export function list(sh: Share, res: Res): Res[] {
  const out = new Map<string, Res>();
  if (res.gen) {
    for (const c of children(sh.seed, sh.theme, res.gen)) {
      const k = keyOf(c.path);
      if (!sh.session.gone.has(k)) out.set(k, fromGen(c));
    }
  }
  const parent = keyOf(res.path);
  for (const [k, n] of sh.session.nodes) if (keyOf(parentOf(n.path)) === parent && k !== parent) out.set(k, fromOverlay(n));
  return [...out.values()];
}

/** The generated file behind a resource (itself, or what a COPY/MOVE took), if any. */
function generatedOf(sh: Share, res: Res): TreeNode | null {
  const ref = res.overlay?.ref;
  const gen = ref !== undefined ? find(sh.seed, sh.theme, ref) : (res.gen ?? null);
  return gen && !gen.dir ? gen : null;
}

function body(sh: Share, res: Res): Buffer {
  if (res.overlay?.data) return res.overlay.data;
  const gen = generatedOf(sh, res);
  return gen ? sh.content(gen) : Buffer.alloc(0);
}

function sizeOf(sh: Share, res: Res): number {
  if (res.overlay?.data) return res.overlay.data.length;
  const gen = generatedOf(sh, res);
  return gen ? sh.size(gen) : 0;
}

const TYPES: Record<string, string> = {
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf', zip: 'application/zip', txt: 'text/plain', log: 'text/plain', csv: 'text/csv', xml: 'application/xml',
};
const typeOf = (name: string): string => TYPES[name.slice(name.lastIndexOf('.') + 1).toLowerCase()] ?? 'application/octet-stream';

export function href(sh: Share, res: Pick<Res, 'path' | 'dir'>): string {
  const enc = res.path ? `/${res.path.split('/').map(encodeURIComponent).join('/')}` : '';
  return `${sh.base}${enc}${res.dir ? '/' : ''}`;
}

const MAX_SEGMENTS = 32;

/** The share path of a request path under `base`, decoded; null when it is not under it or not a clean path. */
export function sharePath(base: string, urlPath: string): string | null {
  if (urlPath !== base && !urlPath.startsWith(`${base}/`)) return null;
  const segs = urlPath.slice(base.length).split('/').filter((s) => s !== '');
  // Deeper than any share path: refused before decoding, so a path of 480 segments costs what one does.
  if (segs.length > MAX_SEGMENTS) return null;
  const out: string[] = [];
  for (const s of segs) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      return null;
    }
    if (d === '.' || d === '..' || /[\u0000/\\]/.test(d) || d.length > 255) return null;
    out.push(d);
  }
  return out.join('/');
}

const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n';
const xmlReply = (status: number, xml: string, headers: Record<string, string> = {}): HttpReply => ({
  status,
  headers: { 'content-type': 'application/xml; charset=utf-8', ...headers },
  body: `${XML_HEAD}${xml}`,
});
const plain = (status: number, headers: Record<string, string> = {}): HttpReply => ({ status, headers, body: '' });
const STATUS_TEXT: Record<number, string> = { 200: 'OK', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 423: 'Locked', 424: 'Failed Dependency' };
const statusLine = (code: number) => `<D:status>HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? ''}</D:status>`;

// ---- locks and the If header ----

/** Locks on `path` or on a folder above it with depth infinity (`locks`: the session's live locks, when already listed). */
function covering(sh: Share, path: string, locks: readonly Lock[] = liveLocks(sh.session)): Lock[] {
  if (locks.length === 0) return [];
  const key = keyOf(path);
  return locks.filter((l) => {
    const lk = keyOf(l.path);
    return lk === key || (l.depth === 'infinity' && (lk === '' || key.startsWith(`${lk}/`)));
  });
}

function below(sh: Share, path: string): Lock[] {
  const key = keyOf(path);
  return liveLocks(sh.session).filter((l) => key === '' || keyOf(l.path).startsWith(`${key}/`));
}

interface Cond {
  not: boolean;
  token?: string;
  etag?: string;
}
interface IfList {
  resource: string | null;
  conds: Cond[];
}

/** The If header as lists of conditions, or null when it is malformed. */
function parseIf(h: string, base: string): IfList[] | null {
  const lists: IfList[] = [];
  let resource: string | null = null;
  let cur: IfList | null = null;
  let not = false;
  const re = /\s*(?:<([^>]*)>|\[([^\]]*)\]|(\()|(\))|(Not))/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < h.length && (m = re.exec(h))) {
    pos = re.lastIndex;
    const [, angle, etag, open, close, neg] = m;
    if (open) {
      if (cur) return null;
      cur = { resource, conds: [] };
    } else if (close) {
      if (!cur || cur.conds.length === 0) return null;
      lists.push(cur);
      cur = null;
    } else if (neg) {
      if (!cur) return null;
      not = true;
    } else if (angle !== undefined) {
      if (cur) {
        cur.conds.push({ not, token: angle });
        not = false;
      } else {
        try {
          resource = sharePath(base, new URL(angle, 'http://x').pathname);
        } catch {
          return null;
        }
      }
    } else if (etag !== undefined) {
      if (!cur) return null;
      cur.conds.push({ not, etag: etag.replace(/^W\//, '') });
      not = false;
    }
  }
  if (cur || h.slice(pos).trim() || lists.length === 0) return null;
  return lists;
}

interface IfResult {
  ok: boolean;
  tokens: Set<string>;
}

/** Evaluate the If header for `path`: ok when absent or some list holds; the lock tokens it submits. */
function evalIf(sh: Share, req: HttpRequestInfo, path: string): IfResult | 'bad' {
  const h = req.headers.if;
  const tokens = new Set<string>();
  if (typeof h !== 'string' || !h.trim()) return { ok: true, tokens };
  const lists = parseIf(h.slice(0, 4096), sh.base);
  if (!lists) return 'bad';
  let ok = false;
  for (const list of lists) {
    const target = list.resource ?? path;
    const res = stat(sh, target);
    const locks = covering(sh, target).map((l) => l.token);
    const holds = list.conds.every((c) => {
      const v = c.token !== undefined ? locks.includes(c.token) : res !== null && res.etag === c.etag;
      return c.not ? !v : v;
    });
    if (holds) {
      ok = true;
      for (const c of list.conds) if (c.token && !c.not && locks.includes(c.token)) tokens.add(c.token);
    }
  }
  return { ok, tokens };
}

/** 423 unless every lock on the paths (and, for trees, below them) has its token submitted. */
function lockedOut(sh: Share, paths: { path: string; tree?: boolean }[], tokens: Set<string>): boolean {
  for (const { path, tree } of paths) {
    const held = covering(sh, path);
    if (held.length && !held.some((l) => tokens.has(l.token))) return true;
    if (tree && below(sh, path).some((l) => !tokens.has(l.token))) return true;
  }
  return false;
}

// ---- properties ----

const SUPPORTED_LOCK =
  '<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>' +
  '<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>';

function activeLock(sh: Share, l: Lock): string {
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${l.scope}/></D:lockscope><D:depth>${l.depth}</D:depth>` +
    `${l.owner}<D:timeout>Second-${l.timeout}</D:timeout><D:locktoken><D:href>${xmlText(l.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${xmlText(href(sh, { path: l.path, dir: sh.session.nodes.get(keyOf(l.path))?.dir ?? stat(sh, l.path)?.dir ?? false }))}</D:href></D:lockroot></D:activelock>`
  );
}

function liveProps(sh: Share, res: Res, locks: readonly Lock[]): Map<string, string> {
  const p = new Map<string, string>();
  p.set('resourcetype', res.dir ? '<D:collection/>' : '');
  p.set('displayname', xmlText(res.name));
  p.set('creationdate', res.modified.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  p.set('getlastmodified', res.modified.toUTCString());
  p.set('getetag', xmlText(res.etag));
  if (!res.dir) {
    p.set('getcontentlength', String(sizeOf(sh, res)));
    p.set('getcontenttype', typeOf(res.name));
  }
  p.set('supportedlock', SUPPORTED_LOCK);
  p.set('lockdiscovery', covering(sh, res.path, locks).map((l) => activeLock(sh, l)).join(''));
  return p;
}

const propKey = (ns: string, name: string) => `{${ns}}${name}`;

function propstat(ok: string[], missing: string[]): string {
  return (
    (ok.length ? `<D:propstat><D:prop>${ok.join('')}</D:prop>${statusLine(200)}</D:propstat>` : '') +
    (missing.length ? `<D:propstat><D:prop>${missing.join('')}</D:prop>${statusLine(404)}</D:propstat>` : '')
  );
}

function propfindOne(sh: Share, res: Res, mode: 'all' | 'names' | XmlElement[], locks: readonly Lock[]): string {
  const live = liveProps(sh, res, locks);
  const dead = sh.session.props.get(keyOf(res.path)) ?? new Map<string, DeadProp>();
  const ok: string[] = [];
  const missing: string[] = [];
  if (mode === 'all' || mode === 'names') {
    for (const [name, v] of live) ok.push(propXml(DAV, name, mode === 'names' ? '' : v));
    for (const d of dead.values()) ok.push(propXml(d.ns, d.name, mode === 'names' ? '' : d.inner, d.scope));
  } else {
    for (const want of mode) {
      const d = dead.get(propKey(want.ns, want.name));
      const v = want.ns === DAV ? live.get(want.name) : undefined;
      if (v !== undefined) ok.push(propXml(DAV, want.name, v));
      else if (d) ok.push(propXml(d.ns, d.name, d.inner, d.scope));
      else missing.push(propXml(want.ns, want.name));
    }
  }
  return `<D:response><D:href>${xmlText(href(sh, res))}</D:href>${propstat(ok, missing)}</D:response>`;
}

function propfind(sh: Share, req: HttpRequestInfo, res: Res): HttpReply {
  const depth = String(req.headers.depth ?? 'infinity').toLowerCase();
  if (depth !== '0' && depth !== '1') return xmlReply(403, '<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>');
  let mode: 'all' | 'names' | XmlElement[] = 'all';
  if (req.body.length > 0) {
    const doc = parseXml(req.body.toString('utf8'));
    if (!doc || doc.ns !== DAV || doc.name !== 'propfind') return plain(400);
    if (kids(doc, 'propname').length) mode = 'names';
    else if (kids(doc, 'prop').length) mode = kids(doc, 'prop').flatMap((p) => p.children);
  }
  const all = depth === '1' && res.dir ? [res, ...list(sh, res)] : [res];
  const locks = liveLocks(sh.session);
  return xmlReply(207, `<D:multistatus xmlns:D="DAV:">${all.map((r) => propfindOne(sh, r, mode, locks)).join('')}</D:multistatus>`);
}

function proppatch(sh: Share, req: HttpRequestInfo, res: Res): HttpReply {
  const doc = parseXml(req.body.toString('utf8'));
  if (!doc || doc.ns !== DAV || doc.name !== 'propertyupdate') return plain(400);
  const key = keyOf(res.path);
  const next = new Map(sh.session.props.get(key) ?? []);
  const results: { xml: string; code: number }[] = [];
  for (const op of doc.children.filter((c) => c.ns === DAV && (c.name === 'set' || c.name === 'remove'))) {
    for (const p of kids(op, 'prop').flatMap((x) => x.children)) {
      const xml = propXml(p.ns, p.name);
      if (p.ns === DAV) results.push({ xml, code: 403 });
      else if (op.name === 'set') {
        next.set(propKey(p.ns, p.name), { ns: p.ns, name: p.name, inner: p.inner, scope: p.scope });
        results.push({ xml, code: next.size > MAX_PROPS ? 507 : 200 });
      } else {
        next.delete(propKey(p.ns, p.name));
        results.push({ xml, code: 200 });
      }
    }
  }
  const failed = results.some((r) => r.code !== 200);
  if (!failed) sh.session.props.set(key, next);
  const stats = results.map((r) => `<D:propstat><D:prop>${r.xml}</D:prop>${statusLine(failed && r.code === 200 ? 424 : r.code)}</D:propstat>`).join('');
  return xmlReply(207, `<D:multistatus xmlns:D="DAV:"><D:response><D:href>${xmlText(href(sh, res))}</D:href>${stats}</D:response></D:multistatus>`);
}

// ---- writes ----

function write(sh: Share, path: string, dir: boolean, data?: Buffer, ref?: string, size = 0): boolean {
  const now = new Date();
  return putNode(sh.session, { path, dir, data, ref, size: data?.length ?? size, modified: now, etag: etagOf(`${path}\u0000${now.getTime()}\u0000${randomUUID()}`) });
}

function copyTree(sh: Share, src: Res, dest: string, depth: string): boolean {
  const queue: { res: Res; to: string }[] = [{ res: src, to: dest }];
  const plan: { res: Res; to: string }[] = [];
  while (queue.length) {
    const next = queue.shift();
    if (!next) break;
    plan.push(next);
    if (plan.length > MAX_COPY) return false;
    if (next.res.dir && depth !== '0') for (const c of list(sh, next.res)) queue.push({ res: c, to: `${next.to}/${c.name}` });
  }
  for (const { res, to } of plan) {
    const o = res.overlay;
    const ok = res.dir ? write(sh, to, true) : o?.data ? write(sh, to, false, o.data) : write(sh, to, false, undefined, o?.ref ?? res.path);
    if (!ok) return false;
    const props = sh.session.props.get(keyOf(res.path));
    if (props) sh.session.props.set(keyOf(to), new Map(props));
  }
  return true;
}

function copyMove(sh: Share, req: HttpRequestInfo, path: string, res: Res, tokens: Set<string>): HttpReply {
  const move = req.method === 'MOVE';
  let dest: string | null;
  try {
    dest = sharePath(sh.base, new URL(String(req.headers.destination ?? ''), 'http://x').pathname);
  } catch {
    return plain(400);
  }
  if (!req.headers.destination) return plain(400);
  if (dest === null) return plain(502);
  if (keyOf(dest) === keyOf(path) || dest === '' || (res.dir && keyOf(dest).startsWith(`${keyOf(path)}/`))) return plain(403);
  const depth = String(req.headers.depth ?? 'infinity').toLowerCase();
  if (move ? depth !== 'infinity' : depth !== '0' && depth !== 'infinity') return plain(400);
  const parent = stat(sh, parentOf(dest));
  if (!parent?.dir) return plain(409);
  const existing = stat(sh, dest);
  if (existing && String(req.headers.overwrite ?? 'T').toUpperCase() === 'F') return plain(412);
  const targets = [{ path: dest, tree: true }, { path: parentOf(dest) }, ...(move ? [{ path, tree: true }, { path: parentOf(path) }] : [])];
  if (lockedOut(sh, targets, tokens)) return plain(423);
  if (existing) removeTree(sh.session, dest);
  if (!copyTree(sh, res, dest, depth)) return plain(507);
  if (move) removeTree(sh.session, path);
  return plain(existing ? 204 : 201);
}

function lock(sh: Share, req: HttpRequestInfo, path: string, res: Res | null, iff: IfResult): HttpReply {
  const timeoutHeader = String(req.headers.timeout ?? '');
  const seconds = Math.min(3600, Number(/Second-(\d{1,9})/i.exec(timeoutHeader)?.[1] ?? 3600) || 3600);
  if (req.body.length === 0) {
    // Refresh: the If header names a lock on the resource.
    const held = covering(sh, path).filter((l) => iff.tokens.has(l.token));
    if (!res || held.length === 0) return plain(412);
    for (const l of held) {
      l.timeout = seconds;
      l.expires = Date.now() + seconds * 1000;
    }
    return xmlReply(200, `<D:prop xmlns:D="DAV:"><D:lockdiscovery>${held.map((l) => activeLock(sh, l)).join('')}</D:lockdiscovery></D:prop>`);
  }
  const doc = parseXml(req.body.toString('utf8'));
  const scopeEl = kids(doc ?? undefined, 'lockscope')[0];
  if (!doc || doc.ns !== DAV || doc.name !== 'lockinfo' || !scopeEl) return plain(400);
  const scope = kids(scopeEl, 'shared').length ? 'shared' : 'exclusive';
  const depth = String(req.headers.depth ?? 'infinity').toLowerCase();
  if (depth !== '0' && depth !== 'infinity') return plain(400);
  const conflicts = [...covering(sh, path), ...(depth === 'infinity' ? below(sh, path) : [])];
  if (conflicts.some((l) => l.scope === 'exclusive' || scope === 'exclusive')) return plain(423);
  let created = false;
  if (!res) {
    const parent = stat(sh, parentOf(path));
    if (!parent?.dir) return plain(409);
    if (lockedOut(sh, [{ path: parentOf(path) }], iff.tokens)) return plain(423);
    if (!write(sh, path, false, Buffer.alloc(0))) return plain(507);
    created = true;
  }
  if (sh.session.locks.size >= 256) return plain(503);
  const ownerEl = kids(doc, 'owner')[0];
  const decls = Object.entries(ownerEl?.scope ?? {}).filter(([p]) => p !== 'xml').map(([p, uri]) => (p ? ` xmlns:${p}="${xmlText(uri)}"` : ` xmlns="${xmlText(uri)}"`)).join('');
  const owner = ownerEl ? `<D:owner${decls}>${ownerEl.inner}</D:owner>` : '';
  const l: Lock = { token: `opaquelocktoken:${randomUUID()}`, path, depth: depth === '0' ? '0' : 'infinity', scope, owner, timeout: seconds, expires: Date.now() + seconds * 1000 };
  sh.session.locks.set(l.token, l);
  return xmlReply(created ? 201 : 200, `<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLock(sh, l)}</D:lockdiscovery></D:prop>`, { 'lock-token': `<${l.token}>` });
}

const ALLOW = 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, COPY, MOVE, LOCK, UNLOCK';

function listing(sh: Share, res: Res): string {
  const rows = list(sh, res)
    .map((c) => `<a href="${xmlText(href(sh, c))}">${xmlText(c.name)}${c.dir ? '/' : ''}</a>${' '.repeat(Math.max(1, 51 - c.name.length))}${c.modified.toUTCString().slice(5, 22)}`)
    .join('\n');
  const title = `Index of ${xmlText(href(sh, res))}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<h1>${title}</h1><hr><pre><a href="../">../</a>\n${rows}\n</pre><hr></body>\r\n</html>\r\n`;
}

/** Answer one authenticated WebDAV request for share path `path`. */
export function handleDav(sh: Share, req: HttpRequestInfo, path: string): HttpReply {
  const m = req.method;
  if (m === 'OPTIONS') return plain(200, { dav: '1, 2', allow: ALLOW, 'ms-author-via': 'DAV' });
  const res = stat(sh, path);
  const iff = evalIf(sh, req, path);
  if (iff === 'bad') return plain(400);
  if (!iff.ok) return plain(412);
  switch (m) {
    case 'GET':
    case 'HEAD': {
      if (!res) return plain(404);
      if (res.dir) return { status: 200, headers: { 'content-type': 'text/html' }, body: listing(sh, res) };
      return { status: 200, headers: { 'content-type': typeOf(res.name), etag: res.etag, 'last-modified': res.modified.toUTCString() }, body: body(sh, res) };
    }
    case 'PROPFIND':
      return res ? propfind(sh, req, res) : plain(404);
    case 'PROPPATCH':
      if (!res) return plain(404);
      return lockedOut(sh, [{ path }], iff.tokens) ? plain(423) : proppatch(sh, req, res);
    case 'PUT': {
      if (res?.dir) return plain(405);
      if (!stat(sh, parentOf(path))?.dir || path === '') return plain(409);
      if (lockedOut(sh, [{ path }, ...(res ? [] : [{ path: parentOf(path) }])], iff.tokens)) return plain(423);
      return write(sh, path, false, Buffer.from(req.body)) ? plain(res ? 204 : 201) : plain(507);
    }
    case 'MKCOL': {
      if (req.body.length > 0) return plain(415);
      if (res) return plain(405);
      if (!stat(sh, parentOf(path))?.dir) return plain(409);
      if (lockedOut(sh, [{ path: parentOf(path) }], iff.tokens)) return plain(423);
      return write(sh, path, true) ? plain(201) : plain(507);
    }
    case 'DELETE': {
      if (path === '') return plain(403);
      if (!res) return plain(404);
      if (lockedOut(sh, [{ path, tree: true }, { path: parentOf(path) }], iff.tokens)) return plain(423);
      removeTree(sh.session, path);
      return plain(204);
    }
    case 'COPY':
    case 'MOVE':
      return res ? copyMove(sh, req, path, res, iff.tokens) : plain(404);
    case 'LOCK':
      return lock(sh, req, path, res, iff);
    case 'UNLOCK': {
      const token = /<([^>]{1,200})>/.exec(String(req.headers['lock-token'] ?? ''))?.[1];
      const l = token ? covering(sh, path).find((x) => x.token === token) : undefined;
      if (!l) return plain(409);
      sh.session.locks.delete(l.token);
      return plain(204);
    }
    default:
      return plain(405, { allow: ALLOW });
  }
}
