/**
 * Just enough XML for WebDAV request bodies (PROPFIND, PROPPATCH, LOCK) and multistatus replies.
 * Request bodies are attacker text: the parser is a single linear pass with namespace scoping,
 * refuses DTDs (so no entity expansion), and bounds depth and element count; anything else is a
 * parse failure, answered 400 like a real server.
 */

export interface XmlElement {
  /** Namespace URI ('' for none) and local name. */
  ns: string;
  name: string;
  children: XmlElement[];
  text: string;
  /** The element's inner markup as received (dead property values are stored and replayed as is). */
  inner: string;
  /** Namespace declarations in scope at this element (prefix -> URI), to replay `inner` faithfully. */
  scope: Record<string, string>;
}

const MAX_DEPTH = 64;
const MAX_ELEMENTS = 5_000;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,4});/gi, (all, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return ENTITIES[e] ?? all;
  });
}

const TAG = /<(\/?)([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTR = /([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** Parse a document; null when it is not well-formed (or too deep, too big, or has a DTD). */
export function parseXml(source: string): XmlElement | null {
  let i = 0;
  const stack: { el: XmlElement; qname: string; start: number }[] = [];
  let root: XmlElement | null = null;
  let count = 0;
  while (i < source.length) {
    const lt = source.indexOf('<', i);
    const textEnd = lt < 0 ? source.length : lt;
    const top = stack[stack.length - 1];
    if (textEnd > i) {
      const raw = source.slice(i, textEnd);
      if (top) top.el.text += decode(raw);
      else if (raw.trim()) return null;
    }
    if (lt < 0) break;
    if (source.startsWith('<?', lt)) {
      const end = source.indexOf('?>', lt);
      if (end < 0) return null;
      i = end + 2;
      continue;
    }
    if (source.startsWith('<!--', lt)) {
      const end = source.indexOf('-->', lt);
      if (end < 0) return null;
      i = end + 3;
      continue;
    }
    if (source.startsWith('<![CDATA[', lt)) {
      const end = source.indexOf(']]>', lt);
      if (end < 0 || !top) return null;
      top.el.text += source.slice(lt + 9, end);
      i = end + 3;
      continue;
    }
    if (source.startsWith('<!', lt)) return null; // DOCTYPE: no DTDs, no entities
    TAG.lastIndex = lt;
    const m = TAG.exec(source);
    if (!m) return null;
    const [, close, qname = '', attrs = '', selfClose] = m;
    i = TAG.lastIndex;
    if (close) {
      const open = stack.pop();
      if (!open || open.qname !== qname || selfClose) return null;
      open.el.inner = source.slice(open.start, lt);
      if (stack.length === 0) root = open.el;
      continue;
    }
    if (root || ++count > MAX_ELEMENTS || stack.length >= MAX_DEPTH) return null;
    const scope = { ...(top?.el.scope ?? { xml: 'http://www.w3.org/XML/1998/namespace' }) };
    for (const a of attrs.matchAll(ATTR)) {
      const [, an = '', v1, v2] = a;
      const value = decode(v1 ?? v2 ?? '');
      if (an === 'xmlns') scope[''] = value;
      else if (an.startsWith('xmlns:')) {
        if (!value) return null; // undeclaring a prefix is not allowed in XML 1.0 namespaces
        scope[an.slice(6)] = value;
      }
    }
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const ns = scope[prefix];
    if (ns === undefined && prefix) return null;
    const el: XmlElement = { ns: ns ?? '', name: colon < 0 ? qname : qname.slice(colon + 1), children: [], text: '', inner: '', scope };
    top?.el.children.push(el);
    if (selfClose) {
      if (!top) root = el;
      continue;
    }
    stack.push({ el, qname, start: i });
  }
  return stack.length === 0 ? root : null;
}

export const DAV = 'DAV:';

/** Child elements of `el` named `name` in `ns` (DAV: by default). */
export function kids(el: XmlElement | undefined, name: string, ns = DAV): XmlElement[] {
  return el ? el.children.filter((c) => c.ns === ns && c.name === name) : [];
}

export function xmlText(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

/**
 * A property element in its own namespace, `<x:name xmlns:x="ns">inner</x:name>`; a stored dead
 * property's value keeps the namespace declarations that were in scope when it was set.
 */
export function propXml(ns: string, name: string, inner = '', scope: Record<string, string> = {}): string {
  if (ns === DAV) return inner ? `<D:${name}>${inner}</D:${name}>` : `<D:${name}/>`;
  const decls = Object.entries(scope)
    .filter(([p]) => p !== 'xml' && p !== '' && p !== 'x' && p !== 'D')
    .map(([p, uri]) => ` xmlns:${p}="${xmlText(uri)}"`)
    .join('');
  if (!ns) return inner ? `<${name} xmlns=""${decls}>${inner}</${name}>` : `<${name} xmlns=""/>`;
  const dflt = scope[''] ? ` xmlns="${xmlText(scope[''])}"` : '';
  return inner ? `<x:${name} xmlns:x="${xmlText(ns)}"${dflt}${decls}>${inner}</x:${name}>` : `<x:${name} xmlns:x="${xmlText(ns)}"/>`;
}
