import { PackageError, type ZipPackage } from './zip-package.ts';

/**
 * Reading and editing the XML parts of a defender's own OOXML package by text, so a part keeps
 * its bytes everywhere but where the beacon goes: start tags found by a scanner that respects
 * quoted attributes, relationships added with a free id, content-type overrides added. Every
 * XML part is refused if it declares a DOCTYPE or an entity (no entity expansion, ever).
 */

export const NS = {
  r: 'http://schemas.openxmlformats.org/officeDocument/2006/relationships',
  rel: 'http://schemas.openxmlformats.org/package/2006/relationships',
  a: 'http://schemas.openxmlformats.org/drawingml/2006/main',
  pic: 'http://schemas.openxmlformats.org/drawingml/2006/picture',
  wp: 'http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing',
  w: 'http://schemas.openxmlformats.org/wordprocessingml/2006/main',
  xdr: 'http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing',
  p: 'http://schemas.openxmlformats.org/presentationml/2006/main',
} as const;

const REL_TYPE = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
export const REL = {
  officeDocument: `${REL_TYPE}/officeDocument`,
  image: `${REL_TYPE}/image`,
  header: `${REL_TYPE}/header`,
  worksheet: `${REL_TYPE}/worksheet`,
  drawing: `${REL_TYPE}/drawing`,
  slide: `${REL_TYPE}/slide`,
} as const;

const XML_PART = /\.(xml|rels|vml)$/i;

/** One XML part's text and how to turn edited text back into bytes in the part's own encoding. */
export interface XmlPart {
  text: string;
  encode(text: string): Buffer;
}

export function decodeXml(buf: Buffer): XmlPart {
  if (buf[0] === 0xff && buf[1] === 0xfe) return { text: buf.subarray(2).toString('utf16le'), encode: (t) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(t, 'utf16le')]) };
  if (buf[0] === 0xfe && buf[1] === 0xff) {
    const swapped = Buffer.from(buf.subarray(2)).swap16();
    return { text: swapped.toString('utf16le'), encode: (t) => Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(t, 'utf16le').swap16()]) };
  }
  const bom = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
  const text = buf.subarray(bom ? 3 : 0).toString('utf8');
  return { text, encode: (t) => Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(t, 'utf8')]) };
}

/** Refuse a package any of whose XML parts declares a DOCTYPE or an entity (billion laughs, external entities). */
export function refuseEntityDeclarations(pkg: ZipPackage): void {
  for (const name of pkg.names()) {
    if (!XML_PART.test(name)) continue;
    if (/<!(DOCTYPE|ENTITY)/i.test(decodeXml(pkg.read(name)).text)) throw new PackageError(`declares a DOCTYPE or entity in ${name}, which is refused (entity expansion)`);
  }
}

export function readXml(pkg: ZipPackage, name: string): XmlPart {
  return decodeXml(pkg.read(name));
}

/** A start tag found in a part: where it starts and ends, its attributes, and whether it closes itself. */
export interface Tag {
  name: string;
  start: number;
  /** Index just past the closing `>`. */
  end: number;
  selfClosing: boolean;
  attrs: Record<string, string>;
}

const ATTR = /([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')/g;

/** The first start tag named `qname` (exactly, with its prefix) at or after `from`. */
export function findTag(xml: string, qname: string, from = 0): Tag | null {
  let i = from;
  for (;;) {
    i = xml.indexOf(`<${qname}`, i);
    if (i === -1) return null;
    const after = xml[i + qname.length + 1];
    if (after !== undefined && /[\s/>]/.test(after)) break;
    i += 1;
  }
  let q: string | null = null;
  let j = i + qname.length + 1;
  for (; j < xml.length; j++) {
    const c = xml[j];
    if (q) {
      if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '>') break;
  }
  if (j >= xml.length) throw new PackageError(`has a malformed <${qname}> tag`);
  const inner = xml.slice(i + qname.length + 1, j);
  const attrs: Record<string, string> = {};
  for (const m of inner.matchAll(ATTR)) if (m[1]) attrs[m[1]] = m[3] ?? m[4] ?? '';
  return { name: qname, start: i, end: j + 1, selfClosing: inner.trimEnd().endsWith('/'), attrs };
}

/** Every start tag named `qname`. */
export function findTags(xml: string, qname: string): Tag[] {
  const out: Tag[] = [];
  for (let t = findTag(xml, qname); t; t = findTag(xml, qname, t.end)) out.push(t);
  return out;
}

/** The root element's start tag (the first element after the declaration and any comments). */
export function rootTag(xml: string): Tag {
  // The root element opens near the start: look at the head only (a part's size never makes this slow).
  const head = xml.slice(0, 65_536).replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, (s) => ' '.repeat(s.length));
  const m = /<([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)[\s/>]/.exec(head);
  if (!m?.[1]) throw new PackageError('has an XML part without a root element');
  const tag = findTag(xml, m[1], m.index);
  if (!tag) throw new PackageError('has an XML part without a root element');
  return tag;
}

/**
 * The prefix the root binds to namespace `ns`, binding `preferred` (or a free variant of it) on
 * the root when none does. Returns the prefix and the text with any binding added.
 */
export function prefixFor(xml: string, ns: string, preferred: string): { prefix: string; xml: string } {
  const root = rootTag(xml);
  for (const [k, v] of Object.entries(root.attrs)) if (k.startsWith('xmlns:') && v === ns) return { prefix: k.slice(6), xml };
  let prefix = preferred;
  for (let n = 1; `xmlns:${prefix}` in root.attrs; n++) prefix = `${preferred}${n}`;
  const at = root.selfClosing ? xml.lastIndexOf('/', root.end) : root.end - 1;
  return { prefix, xml: `${xml.slice(0, at)} xmlns:${prefix}="${ns}"${xml.slice(at)}` };
}

/** Name of the .rels part of `part` (`word/document.xml` -> `word/_rels/document.xml.rels`). */
export function relsName(part: string): string {
  const slash = part.lastIndexOf('/');
  return `${part.slice(0, slash + 1)}_rels/${part.slice(slash + 1)}.rels`;
}

/** A relationship target resolved against its source part's folder (absolute targets from the root). */
export function resolveTarget(source: string, target: string): string {
  const base = target.startsWith('/') ? [] : source.split('/').slice(0, -1);
  const out = [...base];
  for (const seg of target.replace(/^\//, '').split('/')) {
    if (seg === '..') out.pop();
    else if (seg !== '.' && seg !== '') out.push(seg);
  }
  return out.map((s) => decodeURIComponent(s)).join('/');
}

export interface Relationship {
  id: string;
  type: string;
  target: string;
  external: boolean;
}

/** The relationships `part` has (none when it has no .rels part). */
export function relationshipsOf(pkg: ZipPackage, part: string): Relationship[] {
  const name = relsName(part);
  if (!pkg.has(name)) return [];
  return findTags(readXml(pkg, name).text, 'Relationship').map((t) => ({
    id: t.attrs.Id ?? '',
    type: t.attrs.Type ?? '',
    target: t.attrs.Target ?? '',
    external: t.attrs.TargetMode === 'External',
  }));
}

/** The first internal part `part` relates to with `type`. */
export function relatedPart(pkg: ZipPackage, part: string, type: string, id?: string): string | null {
  const rel = relationshipsOf(pkg, part).find((r) => r.type === type && !r.external && (id === undefined || r.id === id));
  return rel ? resolveTarget(part, rel.target) : null;
}

const RELS_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n';

/** Add a relationship to `part`'s .rels (made when missing) with a free `rIdN`; returns the id. */
export function addRelationship(pkg: ZipPackage, part: string, type: string, target: string, external: boolean): string {
  const name = relsName(part);
  const rels = pkg.has(name) ? readXml(pkg, name) : { text: `${RELS_DECL}<Relationships xmlns="${NS.rel}"></Relationships>`, encode: (t: string) => Buffer.from(t, 'utf8') };
  const used = new Set(findTags(rels.text, 'Relationship').map((t) => t.attrs.Id));
  let n = used.size + 1;
  while (used.has(`rId${n}`)) n++;
  const id = `rId${n}`;
  const rel = `<Relationship Id="${id}" Type="${type}" Target="${xmlAttr(target)}"${external ? ' TargetMode="External"' : ''}/>`;
  const root = rootTag(rels.text);
  const text = root.selfClosing
    ? `${rels.text.slice(0, root.start)}<Relationships xmlns="${NS.rel}">${rel}</Relationships>${rels.text.slice(root.end)}`
    : insertBefore(rels.text, '</Relationships>', rel);
  pkg.write(name, rels.encode(text), part);
  return id;
}

/** Add a content-type override for a new part. */
export function addOverride(pkg: ZipPackage, part: string, contentType: string): void {
  const types = readXml(pkg, '[Content_Types].xml');
  const override = `<Override PartName="/${part}" ContentType="${contentType}"/>`;
  pkg.write('[Content_Types].xml', types.encode(insertBefore(types.text, '</Types>', override)));
}

/** `xml` with `text` inserted before the last `closing` tag. */
export function insertBefore(xml: string, closing: string, text: string): string {
  const at = xml.lastIndexOf(closing);
  if (at === -1) throw new PackageError(`has a part without ${closing}`);
  return `${xml.slice(0, at)}${text}${xml.slice(at)}`;
}

/** The largest numeric `id` attribute of the drawing objects (`cNvPr`) in a part, so a new one is unique. */
export function maxShapeId(xml: string, qname: string): number {
  return Math.max(0, ...findTags(xml, qname).map((t) => Number(t.attrs.id)).filter(Number.isFinite));
}

export function xmlAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
