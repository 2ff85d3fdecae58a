import {
  addOverride,
  addRelationship,
  findTag,
  findTags,
  insertBefore,
  maxShapeId,
  NS,
  prefixFor,
  readXml,
  REL,
  relatedPart,
  relationshipsOf,
  resolveTarget,
  rootTag,
  xmlAttr,
  type Tag,
} from './ooxml-parts.ts';
import { PackageError, type ZipPackage } from './zip-package.ts';

/**
 * Where a linked picture goes in a defender's own Office document, the way the generated
 * documents place theirs (a company logo linked from the intranet, an external image
 * relationship with `r:link`): in a Word document's page header, beside the first sheet's table
 * in a workbook (in that sheet's drawing), in the corner of a presentation's first slide. Only
 * the parts that carry the picture change: the one holding it, its relationships, and where a
 * part is new, the content types and the reference that makes it part of the document.
 */

export type OfficeFormat = 'docx' | 'xlsx' | 'pptx';

/** The linked picture: its URL, its name and alternative text, and a seeded generator for its size and place. */
export interface LinkedPicture {
  url: string;
  name: string;
  descr: string;
  rand: () => number;
}

const MAIN_TYPES: Record<string, OfficeFormat> = {
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml': 'xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml': 'pptx',
};

/** The package's main part and which of the three document types it is (by its content type, not its file name). */
export function officeFormat(pkg: ZipPackage): { format: OfficeFormat; main: string } {
  if (!pkg.has('[Content_Types].xml') || !pkg.has('_rels/.rels')) throw new PackageError('is a zip file but not an Office document');
  const main = relatedPart(pkg, '', REL.officeDocument);
  if (!main || !pkg.has(main)) throw new PackageError('is a zip file but not an Office document (no main part)');
  const override = findTags(readXml(pkg, '[Content_Types].xml').text, 'Override').find((t) => t.attrs.PartName?.replace(/^\//, '') === main);
  const format = MAIN_TYPES[override?.attrs.ContentType ?? ''];
  if (!format) throw new PackageError('is not a .docx, .xlsx or .pptx document (templates and macro-enabled files are not supported)');
  return { format, main };
}

/** Add the linked picture to the package in place (see the module comment for where). */
export function placeLinkedPicture(pkg: ZipPackage, format: OfficeFormat, main: string, picture: LinkedPicture): void {
  if (format === 'docx') placeInWordHeader(pkg, main, picture);
  else if (format === 'xlsx') placeInSheetDrawing(pkg, main, picture);
  else placeOnFirstSlide(pkg, main, picture);
}

/** A logo's size: 1-1.6 inches wide, three to four times as wide as high. */
function logoSize(rand: () => number): { cx: number; cy: number } {
  const cx = 914_400 + Math.floor(rand() * 548_640);
  return { cx, cy: Math.round(cx / (2.6 + rand() * 1.4)) };
}

function prefixes(xml: string, wanted: Record<string, string>): { xml: string; p: Record<string, string> } {
  const p: Record<string, string> = {};
  for (const [preferred, ns] of Object.entries(wanted)) {
    const r = prefixFor(xml, ns, preferred);
    p[preferred] = r.prefix;
    xml = r.xml;
  }
  return { xml, p };
}

/** The free `partN.xml` name under `folder` (`word/header3.xml` when 1 and 2 exist). */
function freePart(pkg: ZipPackage, folder: string, stem: string): string {
  let n = 1;
  while (pkg.has(`${folder}${stem}${n}.xml`)) n++;
  return `${folder}${stem}${n}.xml`;
}

/** The relationship-id attribute of a tag (`r:id`, whatever the prefix). */
function relId(tag: Tag): string | undefined {
  return Object.entries(tag.attrs).find(([k]) => k.endsWith(':id'))?.[1];
}

function unclose(xml: string, tag: Tag, content: string): string {
  const open = xml.slice(tag.start, tag.end).replace(/\s*\/>$/, '>');
  return `${xml.slice(0, tag.start)}${open}${content}</${tag.name}>${xml.slice(tag.end)}`;
}

// --- Word: a letterhead logo floating behind the text in the page header ---

const DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n';

function placeInWordHeader(pkg: ZipPackage, main: string, picture: LinkedPicture): void {
  const doc = readXml(pkg, main);
  const w = prefixFor(doc.text, NS.w, 'w').prefix;
  const sections = findTags(doc.text, `${w}:sectPr`);
  const section = sections[sections.length - 1];
  const docPrIds = [main, ...relationshipsOf(pkg, main).filter((r) => !r.external && /\/(header|footer)$/.test(r.type)).map((r) => resolveTarget(main, r.target))]
    .filter((p) => pkg.has(p))
    .flatMap((p) => [...readXml(pkg, p).text.matchAll(/<[\w.-]+:docPr\s[^>]*?\bid="(\d+)"/g)].map((m) => Number(m[1])));
  const docPrId = Math.max(0, ...docPrIds) + 1;

  const existing = section && !section.selfClosing ? defaultHeader(doc.text, section, w) : undefined;
  const headerPart = existing ? relatedPart(pkg, main, REL.header, existing) : null;
  if (headerPart && pkg.has(headerPart)) {
    const header = readXml(pkg, headerPart);
    const { xml, p } = prefixes(header.text, { w: NS.w, r: NS.r, wp: NS.wp, a: NS.a, pic: NS.pic });
    const rid = addRelationship(pkg, headerPart, REL.image, picture.url, true);
    const run = wordRun(p, rid, docPrId, picture);
    pkg.write(headerPart, header.encode(intoFirstParagraph(xml, p.w ?? 'w', run)));
    return;
  }
  // No default header: a new header part, referenced from the document's last section.
  const name = freePart(pkg, main.slice(0, main.lastIndexOf('/') + 1), 'header');
  const wanted = { w: NS.w, r: NS.r, wp: NS.wp, a: NS.a, pic: NS.pic };
  const rid = addRelationship(pkg, name, REL.image, picture.url, true);
  const p = { w: 'w', r: 'r', wp: 'wp', a: 'a', pic: 'pic' };
  const ns = Object.entries(wanted).map(([k, v]) => ` xmlns:${k}="${v}"`).join('');
  pkg.write(name, Buffer.from(`${DECL}<w:hdr${ns}><w:p>${wordRun(p, rid, docPrId, picture)}</w:p></w:hdr>`, 'utf8'), relsNameOf(main));
  addOverride(pkg, name, 'application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml');
  const headerRid = addRelationship(pkg, main, REL.header, name.slice(name.lastIndexOf('/') + 1), false);
  const withR = prefixFor(doc.text, NS.r, 'r');
  const ref = `<${w}:headerReference ${w}:type="default" ${withR.prefix}:id="${headerRid}"/>`;
  const sects = findTags(withR.xml, `${w}:sectPr`);
  const last = sects[sects.length - 1];
  let text: string;
  if (!last) text = insertBefore(withR.xml, `</${w}:body>`, `<${w}:sectPr>${ref}</${w}:sectPr>`);
  else if (last.selfClosing) text = unclose(withR.xml, last, ref);
  else text = `${withR.xml.slice(0, last.end)}${ref}${withR.xml.slice(last.end)}`;
  pkg.write(main, doc.encode(text));
}

function relsNameOf(part: string): string {
  const slash = part.lastIndexOf('/');
  return `${part.slice(0, slash + 1)}_rels/${part.slice(slash + 1)}.rels`;
}

/** The relationship id of the section's default header, if it has one. */
function defaultHeader(xml: string, section: Tag, w: string): string | undefined {
  const close = xml.indexOf(`</${w}:sectPr>`, section.end);
  const inner = xml.slice(section.end, close === -1 ? section.end : close);
  return findTags(inner, `${w}:headerReference`).map((t) => ({ type: t.attrs[`${w}:type`], id: relId(t) })).find((r) => r.type === 'default')?.id;
}

/** The first paragraph not inside a table, a text box or alternate content (where an anchored picture does not belong); one pass. */
function topParagraph(xml: string, w: string): Tag | null {
  const esc = w.replace(/[.-]/g, '\\$&');
  const tags = new RegExp(`<(/?)(${esc}:tbl|${esc}:txbxContent|[\\w.-]+:AlternateContent|${esc}:p)(?=[\\s/>])`, 'g');
  let depth = 0;
  for (let m = tags.exec(xml); m; m = tags.exec(xml)) {
    const name = m[2] ?? '';
    if (name === `${w}:p`) {
      if (m[1] === '' && depth === 0) return findTag(xml, name, m.index);
      continue;
    }
    const selfClosing = m[1] === '' && findTag(xml, name, m.index)?.selfClosing === true;
    if (!selfClosing) depth += m[1] === '/' ? -1 : 1;
  }
  return null;
}

/** Put `run` at the start of the part's first top-level paragraph (after its properties), or in a new paragraph. */
function intoFirstParagraph(xml: string, w: string, run: string): string {
  const para = topParagraph(xml, w);
  if (!para) {
    const root = rootTag(xml);
    const fresh = `<${w}:p>${run}</${w}:p>`;
    return root.selfClosing ? unclose(xml, root, fresh) : insertBefore(xml, `</${root.name}>`, fresh);
  }
  if (para.selfClosing) return unclose(xml, para, run);
  let at = para.end;
  const props = findTag(xml, `${w}:pPr`, para.end);
  if (props && xml.slice(para.end, props.start).trim() === '') {
    at = props.selfClosing ? props.end : xml.indexOf(`</${w}:pPr>`, props.end) + `</${w}:pPr>`.length;
  }
  return `${xml.slice(0, at)}${run}${xml.slice(at)}`;
}

function wordRun(p: Record<string, string>, rid: string, id: number, picture: LinkedPicture): string {
  const { w, r, wp, a, pic } = p as Record<'w' | 'r' | 'wp' | 'a' | 'pic', string>;
  const { cx, cy } = logoSize(picture.rand);
  const align = picture.rand() < 0.6 ? 'right' : 'left';
  const z = 251_658_240 + Math.floor(picture.rand() * 4096);
  return (
    `<${w}:r><${w}:rPr><${w}:noProof/></${w}:rPr><${w}:drawing>` +
    `<${wp}:anchor distT="0" distB="0" distL="114300" distR="114300" simplePos="0" relativeHeight="${z}" behindDoc="1" locked="0" layoutInCell="1" allowOverlap="1">` +
    `<${wp}:simplePos x="0" y="0"/><${wp}:positionH relativeFrom="margin"><${wp}:align>${align}</${wp}:align></${wp}:positionH>` +
    `<${wp}:positionV relativeFrom="page"><${wp}:posOffset>${228_600 + Math.floor(picture.rand() * 91_440)}</${wp}:posOffset></${wp}:positionV>` +
    `<${wp}:extent cx="${cx}" cy="${cy}"/><${wp}:effectExtent l="0" t="0" r="0" b="0"/><${wp}:wrapNone/>` +
    `<${wp}:docPr id="${id}" name="Picture ${id}" descr="${xmlAttr(picture.descr)}"/>` +
    `<${wp}:cNvGraphicFramePr><${a}:graphicFrameLocks noChangeAspect="1"/></${wp}:cNvGraphicFramePr>` +
    `<${a}:graphic><${a}:graphicData uri="${NS.pic}"><${pic}:pic>` +
    `<${pic}:nvPicPr><${pic}:cNvPr id="${id}" name="${xmlAttr(picture.name)}"/><${pic}:cNvPicPr/></${pic}:nvPicPr>` +
    `<${pic}:blipFill><${a}:blip ${r}:link="${rid}"/><${a}:stretch><${a}:fillRect/></${a}:stretch></${pic}:blipFill>` +
    `<${pic}:spPr><${a}:xfrm><${a}:off x="0" y="0"/><${a}:ext cx="${cx}" cy="${cy}"/></${a}:xfrm><${a}:prstGeom prst="rect"><${a}:avLst/></${a}:prstGeom></${pic}:spPr>` +
    `</${pic}:pic></${a}:graphicData></${a}:graphic></${wp}:anchor></${w}:drawing></${w}:r>`
  );
}

// --- Excel: a picture beside the first sheet's table, in that sheet's drawing ---

/** Worksheet children that come after `<drawing>` in the schema's order: the drawing reference goes before the first of them. */
const AFTER_DRAWING = ['legacyDrawing', 'legacyDrawingHF', 'drawingHF', 'picture', 'oleObjects', 'controls', 'webPublishItems', 'tableParts', 'extLst'];

function placeInSheetDrawing(pkg: ZipPackage, workbook: string, picture: LinkedPicture): void {
  const book = readXml(pkg, workbook).text;
  const bookPrefix = elementPrefix(rootTag(book).name);
  const sheet = findTags(book, `${bookPrefix}sheet`)
    .map((t) => relId(t))
    .map((id) => (id ? relatedPart(pkg, workbook, REL.worksheet, id) : null))
    .find((p): p is string => p !== null && pkg.has(p));
  if (!sheet) throw new PackageError('is a workbook without a worksheet');
  const sheetXml = readXml(pkg, sheet);
  const sp = elementPrefix(rootTag(sheetXml.text).name);
  const dimension = findTag(sheetXml.text, `${sp}dimension`)?.attrs.ref ?? 'A1';
  const lastColumn = columnIndex(/([A-Z]+)\d*$/.exec(dimension)?.[1] ?? 'A');
  const col = Math.min(16_000, lastColumn + 2 + Math.floor(picture.rand() * 2));

  const existing = findTag(sheetXml.text, `${sp}drawing`);
  const existingId = existing ? relId(existing) : undefined;
  const drawing = existingId ? relatedPart(pkg, sheet, REL.drawing, existingId) : null;
  if (drawing && pkg.has(drawing)) {
    const part = readXml(pkg, drawing);
    const { xml, p } = prefixes(part.text, { xdr: NS.xdr, a: NS.a, r: NS.r });
    const rid = addRelationship(pkg, drawing, REL.image, picture.url, true);
    const anchor = sheetAnchor(p, rid, maxShapeId(xml, `${p.xdr}:cNvPr`) + 1, col, picture);
    pkg.write(drawing, part.encode(insertBefore(xml, `</${rootTag(xml).name}>`, anchor)));
    return;
  }
  const name = freePart(pkg, 'xl/drawings/', 'drawing');
  const rid = addRelationship(pkg, name, REL.image, picture.url, true);
  const p = { xdr: 'xdr', a: 'a', r: 'r' };
  const anchor = sheetAnchor(p, rid, 2 + Math.floor(picture.rand() * 3), col, picture);
  pkg.write(name, Buffer.from(`${DECL}<xdr:wsDr xmlns:xdr="${NS.xdr}" xmlns:a="${NS.a}" xmlns:r="${NS.r}">${anchor}</xdr:wsDr>`, 'utf8'), relsNameOf(sheet));
  addOverride(pkg, name, 'application/vnd.openxmlformats-officedocument.drawing+xml');
  const sheetRid = addRelationship(pkg, sheet, REL.drawing, `../drawings/${name.slice(name.lastIndexOf('/') + 1)}`, false);
  const withR = prefixFor(sheetXml.text, NS.r, 'r');
  const ref = `<${sp}drawing ${withR.prefix}:id="${sheetRid}"/>`;
  const later = AFTER_DRAWING.map((n) => findTag(withR.xml, `${sp}${n}`)).filter((t): t is Tag => t !== null).sort((x, y) => x.start - y.start)[0];
  const text = later ? `${withR.xml.slice(0, later.start)}${ref}${withR.xml.slice(later.start)}` : insertBefore(withR.xml, `</${rootTag(withR.xml).name}>`, ref);
  pkg.write(sheet, sheetXml.encode(text));
}

function elementPrefix(qname: string): string {
  const colon = qname.indexOf(':');
  return colon === -1 ? '' : qname.slice(0, colon + 1);
}

function columnIndex(letters: string): number {
  let n = 0;
  for (const c of letters) n = n * 26 + (c.charCodeAt(0) - 64);
  return n - 1;
}

function sheetAnchor(p: Record<string, string>, rid: string, id: number, col: number, picture: LinkedPicture): string {
  const { xdr, a, r } = p as Record<'xdr' | 'a' | 'r', string>;
  const { cx, cy } = logoSize(picture.rand);
  return (
    `<${xdr}:oneCellAnchor><${xdr}:from><${xdr}:col>${col}</${xdr}:col><${xdr}:colOff>0</${xdr}:colOff><${xdr}:row>0</${xdr}:row><${xdr}:rowOff>0</${xdr}:rowOff></${xdr}:from>` +
    `<${xdr}:ext cx="${cx}" cy="${cy}"/><${xdr}:pic><${xdr}:nvPicPr><${xdr}:cNvPr id="${id}" name="Picture ${id}" descr="${xmlAttr(picture.descr)}"/>` +
    `<${xdr}:cNvPicPr><${a}:picLocks noChangeAspect="1"/></${xdr}:cNvPicPr></${xdr}:nvPicPr>` +
    `<${xdr}:blipFill><${a}:blip ${r}:link="${rid}"/><${a}:stretch><${a}:fillRect/></${a}:stretch></${xdr}:blipFill>` +
    `<${xdr}:spPr><${a}:xfrm><${a}:off x="0" y="0"/><${a}:ext cx="${cx}" cy="${cy}"/></${a}:xfrm><${a}:prstGeom prst="rect"><${a}:avLst/></${a}:prstGeom></${xdr}:spPr>` +
    `</${xdr}:pic><${xdr}:clientData/></${xdr}:oneCellAnchor>`
  );
}

// --- PowerPoint: a logo in the top corner of the first slide ---

function placeOnFirstSlide(pkg: ZipPackage, presentation: string, picture: LinkedPicture): void {
  const pres = readXml(pkg, presentation).text;
  const pp = prefixFor(pres, NS.p, 'p').prefix;
  const first = findTag(pres, `${pp}:sldId`);
  const slideId = first ? relId(first) : undefined;
  const slide = slideId ? relatedPart(pkg, presentation, REL.slide, slideId) : null;
  if (!slide || !pkg.has(slide)) throw new PackageError('is a presentation without slides');
  const size = findTag(pres, `${pp}:sldSz`)?.attrs;
  const width = Number(size?.cx) || 12_192_000;
  const part = readXml(pkg, slide);
  const { xml, p } = prefixes(part.text, { p: NS.p, a: NS.a, r: NS.r });
  const tree = `</${p.p}:spTree>`;
  if (!xml.includes(tree)) throw new PackageError(`has a slide without a shape tree (${slide})`);
  const rid = addRelationship(pkg, slide, REL.image, picture.url, true);
  const id = maxShapeId(xml, `${p.p}:cNvPr`) + 1;
  const { cx, cy } = logoSize(picture.rand);
  const margin = 228_600 + Math.floor(picture.rand() * 91_440);
  const left = picture.rand() < 0.7 ? width - cx - margin : margin;
  const { p: P, a, r } = p as Record<'p' | 'a' | 'r', string>;
  const pic =
    `<${P}:pic><${P}:nvPicPr><${P}:cNvPr id="${id}" name="Picture ${id}" descr="${xmlAttr(picture.descr)}"/><${P}:cNvPicPr><${a}:picLocks noChangeAspect="1"/></${P}:cNvPicPr><${P}:nvPr/></${P}:nvPicPr>` +
    `<${P}:blipFill><${a}:blip ${r}:link="${rid}"/><${a}:stretch><${a}:fillRect/></${a}:stretch></${P}:blipFill>` +
    `<${P}:spPr><${a}:xfrm><${a}:off x="${left}" y="${margin}"/><${a}:ext cx="${cx}" cy="${cy}"/></${a}:xfrm><${a}:prstGeom prst="rect"><${a}:avLst/></${a}:prstGeom></${P}:spPr></${P}:pic>`;
  pkg.write(slide, part.encode(insertBefore(xml, tree, pic)));
}
