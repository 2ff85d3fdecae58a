import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { newTokenPath, pick, publicUrl } from './urls.ts';
import { tokenHostName } from './addresses.ts';
import { PAGE, textWidth, type TextRun } from './pdf-text.ts';
import { writePdf } from './pdf-writer.ts';
import { loadTrueType, type TrueTypeFont } from './truetype.ts';

interface DocTemplate {
  title: string;
  subject: string;
  keywords: string[];
  paragraphs: string[];
  table: { header: string[]; rows: string[] };
}
interface Templates {
  authors: string[];
  documents: DocTemplate[];
}

const TEMPLATES = JSON.parse(readFileSync(new URL('../../templates/tokens/pdf/documents.json', import.meta.url), 'utf8')) as Templates;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const params = z.object({
  title: z.string().trim().min(1).max(200).optional().describe('Document title (default: a plausible business document)'),
  author: z.string().trim().min(1).max(100).optional().describe('Author in the document properties'),
});

type PdfParams = z.infer<typeof params>;

/** The token host as a URL the reader is asked to open: same scheme and port as PUBLIC_URL, host under DNS_ZONE. */
export function tokenHostUrl(config: Pick<Config, 'PUBLIC_URL' | 'DNS_ZONE'>, id: string, path: string): string {
  const base = new URL(config.PUBLIC_URL);
  return `${base.protocol}//${id}.${config.DNS_ZONE}${base.port ? `:${base.port}` : ''}${path}`;
}

function money(min: number, max: number): string {
  return `$${randomInt(min, max).toLocaleString('en-US')}`;
}

function fill(text: string, year: number): string {
  return text
    .replace(/\{year\}/g, String(year))
    .replace(/\{quarter\}/g, String(randomInt(1, 5)))
    .replace(/\{month\}/g, pick(MONTHS))
    .replace(/\{day\}/g, String(randomInt(1, 29)))
    .replace(/\{amount2?\}/g, () => money(400_000, 9_000_000))
    .replace(/\{percent\}/g, `${randomInt(2, 6)}.${randomInt(10)}`)
    .replace(/\{count\}/g, String(randomInt(40, 400)));
}

function cell(column: string): string {
  if (/status/i.test(column)) return pick(['Confirmed', 'Pending', 'Revoked', 'Confirmed']);
  if (/owner/i.test(column)) return pick(TEMPLATES.authors);
  if (/grade/i.test(column)) return `G${randomInt(4, 12)}`;
  if (/terms/i.test(column)) return pick(['Net 30', 'Net 45', 'Net 60']);
  if (/run/i.test(column)) return `${String(randomInt(1, 29)).padStart(2, '0')}/${String(randomInt(1, 13)).padStart(2, '0')}`;
  if (/accounts/i.test(column)) return String(randomInt(2, 40));
  return money(8_000, 900_000);
}

/** Liberation Sans, the face LibreOffice sets documents in where Arial is asked for (Debian: fonts-liberation or fonts-liberation2). */
// The newer release first, as fontconfig (and so LibreOffice) prefers it when both are installed.
const FONT_DIRS = ['/usr/share/fonts/truetype/liberation2', '/usr/share/fonts/truetype/liberation'];

/** Where the host keeps a Liberation font file; an error naming the package when it has none. */
export function fontPath(file: string): string {
  const dir = FONT_DIRS.find((d) => existsSync(join(d, file)));
  if (!dir) throw new Error(`pdf: ${file} not found in ${FONT_DIRS.join(' or ')} (install fonts-liberation)`);
  return join(dir, file);
}

function face(file: string): TrueTypeFont {
  return loadTrueType(fontPath(file));
}

/** What the file says made it: the Writer release whose export this file's structure matches (tests/tokens/pdf-structure.test.ts). */
export const PDF_PRODUCER = { creator: 'Writer', producer: 'LibreOffice 7.4' } as const;

/** The closing line and its linked words, varied so no one sentence marks every decoy. */
const LINK_LINES: readonly (readonly [string, string, string])[] = [
  ['Open the ', 'online version', ' of this document.'],
  ['The ', 'current version', ' is kept on the intranet.'],
  ['Comments and corrections go in the ', 'shared copy', '.'],
  ['Supporting figures are in the ', 'team workspace', '.'],
  ['Please use the ', 'latest revision', ' for any decisions.'],
];

const LEFT = 56.8;
const TEXT_WIDTH = 481.5;
/** A point on Writer's twip grid, `twips` below the top edge, as a PDF y coordinate. */
const fromTop = (twips: number): number => PAGE.height - twips / 20;

/** A word wider than the line, cut where it fills a line (Writer breaks such a word anywhere). */
function pieces(word: string, font: TrueTypeFont, size: number): string[] {
  const out: string[] = [];
  let piece = '';
  for (const ch of word) {
    if (piece && textWidth(font, size, piece + ch) > TEXT_WIDTH) {
      out.push(piece);
      piece = '';
    }
    piece += ch;
  }
  return piece ? [...out, piece] : out;
}

function wrap(text: string, font: TrueTypeFont, size: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).flatMap((w) => pieces(w, font, size))) {
    const next = line ? `${line} ${word}` : word;
    if (textWidth(font, size, next) > TEXT_WIDTH && line) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** The page as Writer would lay it out: title, body paragraphs, a table as columns of runs, and a closing line with the link. */
function layout(doc: DocTemplate, title: string, year: number, online: string): TextRun[] {
  const regular = face('LiberationSans-Regular.ttf');
  const bold = face('LiberationSans-Bold.ttf');
  const runs: TextRun[] = [];
  let y = 1472; // title baseline: 2 cm margin plus the 18 pt line's ascent, in twips
  const titleLines = wrap(title, bold, 18);
  titleLines.forEach((line, i) => runs.push({ face: bold, size: 18, x: LEFT, y: fromTop(y + i * 414), text: line }));
  y += (titleLines.length - 1) * 414 + 420;
  for (const p of doc.paragraphs) {
    for (const line of wrap(fill(p, year), regular, 11)) {
      runs.push({ face: regular, size: 11, x: LEFT, y: fromTop(y), text: line });
      y += 254;
    }
    y += 142;
  }
  const colWidth = Math.round((TEXT_WIDTH / doc.table.header.length) * 20) / 20;
  y += 60;
  doc.table.header.forEach((h, i) => runs.push({ face: bold, size: 10, x: LEFT + 2.8 + i * colWidth, y: fromTop(y), text: h }));
  for (const row of doc.table.rows) {
    y += 286;
    runs.push({ face: regular, size: 10, x: LEFT + 2.8, y: fromTop(y), text: row });
    doc.table.header.slice(1).forEach((h, i) => runs.push({ face: regular, size: 10, x: LEFT + 2.8 + (i + 1) * colWidth, y: fromTop(y), text: cell(h) }));
  }
  y += 540;
  const [before, link, after] = pick(LINK_LINES);
  let x = LEFT;
  for (const [text, uri] of [[before], [link, online], [after]] as const) {
    runs.push({ face: regular, size: 11, x, y: fromTop(y), text, ...(uri ? { link: uri } : {}) });
    x += textWidth(regular, 11, text);
  }
  return runs;
}

/** A PDF report whose open action asks the reader to open a token host (DNS) and whose footer links the token URL (HTTP). */
export const pdfToken = defineKind<PdfParams>({
  id: 'pdf',
  label: 'PDF document',
  description: 'A plausible PDF report. Opening it makes the PDF reader look up (and, if allowed, fetch) a token host; its footer link fetches the token URL.',
  channels: ['dns', 'http'],
  techniques: ['T1039', 'T1005', 'T1083'],
  params,
  example: { title: 'Q3 Budget Review', author: 'Sarah Mitchell' },
  create(ctx, id, p) {
    const doc = pick(TEMPLATES.documents);
    const title = p.title ?? fill(doc.title, new Date().getFullYear() - randomInt(2));
    return { params: { title, author: p.author ?? pick(TEMPLATES.authors) }, urlPath: newTokenPath(ctx.config, 'page') };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      hostname: `${tokenHostName(ctx.config.DNS_ZONE, token)}`,
      filename: fileName(token.params.title ?? 'Report'),
      contentType: 'application/pdf',
      hint: 'Leave the PDF on a file share or in a mailbox. Opening it in a PDF reader resolves the token host; following the footer link fetches the URL.',
    };
  },
  explain(hit, token) {
    const action =
      hit.channel === 'dns'
        ? `a PDF reader opened the document (its ${hit.qtype ?? 'A'} lookup of the document's host name came through the resolver)`
        : `the document's link was opened in ${describeClient(hit.userAgent) ?? 'a client without a user agent'}`;
    return { action, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  render(ctx, token) {
    const title = token.params.title ?? 'Report';
    const year = Number(/\b(20\d\d)\b/.exec(title)?.[1] ?? new Date().getFullYear());
    const doc = TEMPLATES.documents.find((d) => templateMatches(d.title, title)) ?? pick(TEMPLATES.documents);
    const created = new Date(Date.now() - randomInt(2, 120) * 86_400_000 - randomInt(86_400) * 1000);
    const online = publicUrl(ctx.config, token.urlPath ?? '/');
    const body = writePdf({
      runs: layout(doc, title, year, online),
      info: {
        title,
        author: token.params.author ?? pick(TEMPLATES.authors),
        subject: doc.subject,
        keywords: doc.keywords,
        ...PDF_PRODUCER,
        created,
        // Writer stamps local time with the machine's offset; the server's zone stands in for the author's.
        utcOffsetMinutes: -created.getTimezoneOffset(),
      },
      // The one thing Writer never writes: opening the file asks the reader to open the token host.
      openUri: tokenHostUrl(ctx.config, token.hostLabel ?? token.id, token.urlPath ?? '/'),
    });
    return { filename: fileName(title), contentType: 'application/pdf', body };
  },
});

/** Whether `title` was filled in from `template` (each `{placeholder}` standing for any text), so subject and body follow the title. */
function templateMatches(template: string, title: string): boolean {
  const pattern = template.split(/\{\w+\}/).map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('.+?');
  return new RegExp(`^${pattern}$`).test(title);
}

function fileName(title: string): string {
  return `${title.replace(/[^\w\- ]+/g, '').trim().replace(/\s+/g, '_') || 'Report'}.pdf`;
}
