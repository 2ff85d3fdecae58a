import { z } from 'zod';
import { defineKind, type Token } from './kind.ts';
import { customContent, THEME_IDS, THEMES, type Cell, type DecoyContent } from './office-content.ts';
import {
  docLine,
  docText,
  fileNameParam,
  generatedMeta,
  loadPackage,
  newMeta,
  personName,
  safeFileName,
  seeded,
  zipPackage,
} from './office.ts';
import { describeOpen, documentImagePath, explainOpen, imageName, imageReply } from './office-image.ts';
import { organisationName } from './organisation.ts';
import { pick, publicUrl } from './urls.ts';

const EXT = '.docx';
const CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

const params = z.object({
  theme: z.enum(THEME_IDS).optional().describe('What the document is about (random when omitted)'),
  title: docLine(200).optional().describe('Own title instead of the theme’s'),
  body: docText(20_000).optional().describe('Own text instead of the theme’s paragraphs (one paragraph per line)'),
  filename: fileNameParam(EXT).optional().describe('File name of the download (generated from the theme when omitted)'),
  author: docLine(100).optional().describe('Author in the document properties (a plausible name when omitted)'),
  company: docLine(100).optional().describe('Company in the document properties and text (default: DECOY_ORGANISATION, the deployment’s one company)'),
  generated: generatedMeta.optional().describe('Filled in at creation: editor, times, revision, content seed'),
});

type WordParams = z.infer<typeof params>;
type Stored = WordParams & Required<Pick<WordParams, 'theme' | 'filename' | 'author' | 'company' | 'generated'>>;

const render = loadPackage('word');

/** The document's content from its stored params: the theme's seeded content, or the defender's own text. */
function documentContent(p: WordParams, company: string, seed: number, when: Date): DecoyContent {
  const theme = THEMES[p.theme ?? 'salaries'].build(seeded(seed), when, company);
  return p.title || p.body ? customContent(p.title ?? '', p.body ?? '', theme) : theme;
}

/** Fill in everything a defender left out, once, so re-downloads give the same file. */
function completeParams(p: WordParams, ext: string, organisation: string): Stored {
  const generated = p.generated ?? newMeta();
  const theme = p.theme ?? pick(THEME_IDS);
  const company = p.company || organisation;
  const content = documentContent({ ...p, theme }, company, generated.seed, new Date(generated.created));
  return {
    ...p,
    theme,
    company,
    author: p.author || personName(),
    filename: p.filename ?? safeFileName(p.title || content.fileStem, ext),
    generated,
  };
}

function formatCell(value: Cell, money: boolean): { text: string; right: boolean } {
  if (typeof value === 'string') return { text: value, right: false };
  return { text: money ? value.toLocaleString('en-US') : String(value), right: true };
}

/** Revision-save ids, one per editing session, as Word records them in settings.xml (sorted, 8 hex digits). */
function editingSessions(rand: () => number, revision: number): { root: string; all: string[] } {
  const ids = Array.from({ length: Math.min(revision, 12) }, () => Math.floor(rand() * 0xffffff).toString(16).toUpperCase().padStart(8, '0'));
  const root = ids[0] ?? '00000001';
  return { root, all: [...new Set(ids)].sort() };
}

/** The part order Word saves a document in. */
const WORD_ORDER = [
  '[Content_Types].xml', '_rels/.rels', 'word/document.xml', 'word/_rels/document.xml.rels', 'word/header1.xml', 'word/_rels/header1.xml.rels',
  'word/theme/theme1.xml', 'word/settings.xml', 'word/styles.xml', 'word/webSettings.xml', 'word/fontTable.xml', 'docProps/core.xml', 'docProps/app.xml',
];

function buildDocx(url: string, token: Token<Stored>): Buffer {
  const p = token.params;
  const meta = { ...p.generated, author: p.author, company: p.company };
  const modified = new Date(meta.modified);
  const content = documentContent(p, p.company, meta.seed, new Date(meta.created));
  const text = [content.title, ...content.paragraphs, ...content.table.rows.flat().map(String)].join(' ');
  const words = text.split(/\s+/).filter(Boolean).length;
  const rand = seeded(meta.seed ^ 0x5bd1e995);
  const rsids = editingSessions(rand, meta.revision);
  // Every paragraph carries the rsid of the editing session that wrote it, one of those settings.xml lists.
  const session = () => rsids.all[Math.floor(rand() * rsids.all.length)] ?? rsids.root;
  const logo = letterheadLogo(rand, p.company, imageName(token.urlPath ?? '', token.id, rand));
  const parts = render({
    meta,
    lang: 'en-US',
    title: content.title,
    subtitle: `${p.company} · ${modified.toISOString().slice(0, 10)}`,
    paragraphs: content.paragraphs.map((text) => ({ text, rsid: session() })),
    table: {
      columns: content.table.columns,
      colWidth: Math.floor(9026 / Math.max(1, content.table.columns.length)),
      headRsid: session(),
      rows: content.table.rows.map((r) => ({ rsid: session(), cells: r.map((c) => formatCell(c, content.table.money)) })),
    },
    image: { url, ...logo },
    page: { width: 11906, height: 16838 },
    rsids,
    stats: {
      pages: 1 + Math.floor(content.table.rows.length / 30),
      words,
      characters: text.replace(/\s/g, '').length,
      charactersWithSpaces: text.length,
      lines: content.paragraphs.length * 3 + content.table.rows.length + 2,
      paragraphs: content.paragraphs.length + 2,
    },
  });
  return zipPackage(parts, WORD_ORDER);
}

/**
 * The company logo in the page header, linked rather than embedded (as a letterhead template
 * links the logo from the intranet): logo-sized and -shaped, left or right, alt text naming it.
 */
function letterheadLogo(rand: () => number, company: string, name: string) {
  const cx = 914_400 + Math.floor(rand() * 914_400);
  return {
    cx,
    cy: Math.round(cx / (2.4 + rand() * 1.8)),
    align: rand() < 0.6 ? 'right' : 'left',
    docPrId: 1 + Math.floor(rand() * 3),
    descr: rand() < 0.5 ? `${company} logo` : company,
    name,
  };
}

/**
 * A Word document for a file share. Opening it fetches the company logo its page header links
 * to (an external image relationship of the header part), which records the hit with the
 * opener's address and office suite.
 */
export const word = defineKind<WordParams>({
  id: 'word',
  label: 'Word document (.docx)',
  description: 'A .docx with believable content (salaries, passwords, merger plans …) that calls home when opened in Word or LibreOffice.',
  channels: ['http'],
  techniques: ['T1039', 'T1005', 'T1083'],
  params,
  internalParams: ['generated'],
  example: { theme: 'salaries', company: 'Northwind Logistics', filename: 'Salary review 2026.docx' },
  create(ctx, id, p) {
    return { params: completeParams(p, EXT, organisationName(ctx.config)), urlPath: documentImagePath(ctx.config) };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      filename: token.params.filename ?? `Document${EXT}`,
      contentType: CONTENT_TYPE,
      hint: 'Put the document where only an intruder would open it (a finance or IT share). Opening it in Word or LibreOffice fetches the linked image.',
    };
  },
  render(ctx, token) {
    const stored = { ...token, params: completeParams(token.params, EXT, organisationName(ctx.config)) };
    return { filename: stored.params.filename, contentType: CONTENT_TYPE, body: buildDocx(publicUrl(ctx.config, token.urlPath ?? '/'), stored) };
  },
  explain: (hit, token) => explainOpen(hit, token, 'document'),
  http: {
    describe: (req) => describeOpen(req),
    respond: (req) => imageReply(req),
  },
});
