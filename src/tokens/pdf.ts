import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PDFDocument, PDFHexString, PDFName, PDFString, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { newTokenPath, pick, publicUrl } from './urls.ts';
import { tokenHostName } from './addresses.ts';

interface DocTemplate {
  title: string;
  subject: string;
  keywords: string[];
  paragraphs: string[];
  table: { header: string[]; rows: string[] };
}
interface Templates {
  authors: string[];
  tools: { creator: string; producer: string }[];
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

function wrap(text: string, font: PDFFont, size: number, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    const next = line ? `${line} ${word}` : word;
    if (font.widthOfTextAtSize(next, size) > width && line) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

function drawBody(page: PDFPage, doc: DocTemplate, title: string, year: number, fonts: { regular: PDFFont; bold: PDFFont }): number {
  let y = 780;
  page.drawText(title, { x: 56, y, size: 18, font: fonts.bold, color: rgb(0.1, 0.15, 0.3) });
  y -= 34;
  for (const p of doc.paragraphs) {
    for (const line of wrap(fill(p, year), fonts.regular, 11, 480)) {
      page.drawText(line, { x: 56, y, size: 11, font: fonts.regular });
      y -= 15;
    }
    y -= 8;
  }
  y -= 8;
  const colWidth = 480 / doc.table.header.length;
  doc.table.header.forEach((h, i) => page.drawText(h, { x: 56 + i * colWidth, y, size: 10, font: fonts.bold }));
  y -= 16;
  for (const row of doc.table.rows) {
    page.drawText(row, { x: 56, y, size: 10, font: fonts.regular });
    doc.table.header.slice(1).forEach((h, i) => page.drawText(cell(h), { x: 56 + (i + 1) * colWidth, y, size: 10, font: fonts.regular }));
    y -= 14;
  }
  return y;
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
  async render(ctx, token) {
    const title = token.params.title ?? 'Report';
    const year = Number(/\b(20\d\d)\b/.exec(title)?.[1] ?? new Date().getFullYear());
    const doc = TEMPLATES.documents.find((d) => title.startsWith(d.title.split(' {')[0] ?? '')) ?? pick(TEMPLATES.documents);
    const tool = pick(TEMPLATES.tools);
    const created = new Date(Date.now() - randomInt(2, 120) * 86_400_000 - randomInt(86_400) * 1000);
    const pdf = await PDFDocument.create({ updateMetadata: false });
    pdf.setTitle(title);
    pdf.setAuthor(token.params.author ?? pick(TEMPLATES.authors));
    pdf.setSubject(doc.subject);
    pdf.setKeywords(doc.keywords);
    pdf.setCreator(tool.creator);
    pdf.setProducer(tool.producer);
    pdf.setCreationDate(created);
    pdf.setModificationDate(new Date(created.getTime() + randomInt(60, 7 * 86_400) * 1000));
    pdf.setLanguage('en-US');
    const page = pdf.addPage([595.28, 841.89]);
    const fonts = { regular: await pdf.embedFont(StandardFonts.Helvetica), bold: await pdf.embedFont(StandardFonts.HelveticaBold) };
    drawBody(page, doc, title, year, fonts);

    const online = publicUrl(ctx.config, token.urlPath ?? '/');
    const footer = 'Open the online version of this document';
    page.drawText(footer, { x: 56, y: 60, size: 9, font: fonts.regular, color: rgb(0.1, 0.3, 0.7) });
    const link = pdf.context.register(
      pdf.context.obj({
        Type: 'Annot',
        Subtype: 'Link',
        // Coordinates as producers write them (two decimals), not a float's full expansion.
        Rect: [56, 56, Math.round((56 + fonts.regular.widthOfTextAtSize(footer, 9)) * 100) / 100, 70],
        Border: [0, 0, 0],
        A: { Type: 'Action', S: 'URI', URI: PDFString.of(online) },
      }),
    );
    page.node.set(PDFName.of('Annots'), pdf.context.obj([link]));
    const open = pdf.context.obj({ Type: 'Action', S: 'URI', URI: PDFString.of(tokenHostUrl(ctx.config, token.hostLabel ?? token.id, token.urlPath ?? '/')) });
    pdf.catalog.set(PDFName.of('OpenAction'), pdf.context.register(open));
    // A file identifier, as every office suite writes one, and the objects (the open action and
    // the link among them) packed into compressed object streams, so `strings` reads no URL.
    const id = PDFHexString.of(randomBytes(16).toString('hex').toUpperCase());
    pdf.context.trailerInfo.ID = pdf.context.obj([id, id]);
    const bytes = await pdf.save({ useObjectStreams: true });
    return { filename: fileName(title), contentType: 'application/pdf', body: Buffer.from(bytes) };
  },
});

function fileName(title: string): string {
  return `${title.replace(/[^\w\- ]+/g, '').trim().replace(/\s+/g, '_') || 'Report'}.pdf`;
}
