import { z } from 'zod';
import { defineKind, type Token } from './kind.ts';
import { THEME_IDS, THEMES, type Cell, type DecoyContent } from './office-content.ts';
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
import { organisationName } from './organisation.ts';
import { describeOpen, documentImagePath, explainOpen, imageName, imageReply } from './office-image.ts';
import { pick, publicUrl } from './urls.ts';

const EXT = '.xlsx';
const CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

const sheetName = docLine(31)
  .refine((v) => v.length > 0, 'must not be empty')
  .refine((v) => !/[[\]:*?/\\]/.test(v) && !v.startsWith("'") && !v.endsWith("'"), 'must not contain [ ] : * ? / \\ or start/end with an apostrophe');

const params = z.object({
  theme: z.enum(THEME_IDS).optional().describe('What the workbook holds (random when omitted)'),
  sheet: sheetName.optional().describe('Name of the main sheet (the theme’s when omitted)'),
  rows: z
    .array(z.array(docText(200)).min(1).max(20, 'at most 20 columns'))
    .min(2, 'needs a header row and at least one data row')
    .max(500, 'at most 500 rows')
    .optional()
    .describe('Own table instead of the theme’s: the first row is the header'),
  filename: fileNameParam(EXT).optional().describe('File name of the download (generated from the theme when omitted)'),
  author: docLine(100).optional().describe('Author in the document properties (a plausible name when omitted)'),
  company: docLine(100).optional().describe('Company in the document properties and content (default: DECOY_ORGANISATION, the deployment’s one company)'),
  generated: generatedMeta.optional().describe('Filled in at creation: editor, times, content seed'),
});

type ExcelParams = z.infer<typeof params>;
type Stored = ExcelParams & Required<Pick<ExcelParams, 'theme' | 'filename' | 'author' | 'company' | 'generated'>>;

const render = loadPackage('excel');
const NOTES_SHEET = ['Notes', 'Info', 'Changes', 'Readme'] as const;

function content(p: ExcelParams, company: string, meta: { seed: number; created: string }): DecoyContent {
  const theme = THEMES[p.theme ?? 'network-passwords'].build(seeded(meta.seed), new Date(meta.created), company);
  const [header, ...body] = p.rows ?? [];
  const table = header ? { columns: header, rows: body.map((r) => r.map((c): Cell => (/^-?\d{1,15}(\.\d{1,6})?$/.test(c) ? Number(c) : c))), money: false } : theme.table;
  return { ...theme, sheet: p.sheet ?? theme.sheet, table };
}

function completeParams(p: ExcelParams, organisation: string): Stored {
  const generated = p.generated ?? newMeta();
  const theme = p.theme ?? pick(THEME_IDS);
  const company = p.company || organisation;
  return {
    ...p,
    theme,
    company,
    author: p.author || personName(),
    filename: p.filename ?? safeFileName(content({ ...p, theme }, company, generated).fileStem, EXT),
    generated,
  };
}

/** Spreadsheet column letters: 0 -> A, 25 -> Z, 26 -> AA. */
export function columnName(index: number): string {
  let n = index + 1;
  let name = '';
  while (n > 0) {
    const rem = (n - 1) % 26;
    name = String.fromCharCode(65 + rem) + name;
    n = Math.floor((n - 1) / 26);
  }
  return name;
}

/** Shared-string table: every text cell is stored once, as Excel writes it. */
class SharedStrings {
  readonly items: string[] = [];
  count = 0;
  private readonly index = new Map<string, number>();
  add(s: string): number {
    this.count += 1;
    const known = this.index.get(s);
    if (known !== undefined) return known;
    this.items.push(s);
    this.index.set(s, this.items.length - 1);
    return this.items.length - 1;
  }
}

const STYLE = { text: 0, header: 1, money: 2, number: 3 } as const;

function sheetXmlData(table: Cell[][], strings: SharedStrings, money: boolean, headerRow: boolean, total?: { from: number; to: number }) {
  const rows = table.map((row, r) => ({
    r: r + 1,
    cells: row.map((value, c) => {
      const ref = `${columnName(c)}${r + 1}`;
      if (typeof value === 'number') {
        const f = total && c === row.length - 1 ? `SUM(${columnName(total.from)}${r + 1}:${columnName(total.to)}${r + 1})` : '';
        return { ref, s: money ? STYLE.money : STYLE.number, shared: false, f, v: value };
      }
      return { ref, s: headerRow && r === 0 ? STYLE.header : STYLE.text, shared: true, f: '', v: strings.add(value) };
    }),
  }));
  const width = Math.max(1, ...table.map((r) => r.length));
  const cols = Array.from({ length: width }, (_, c) => {
    const longest = Math.max(...table.map((r) => String(r[c] ?? '').length));
    return { n: c + 1, width: Math.min(50, Math.max(9, Math.round(longest * 1.15 + 2))) };
  });
  return { rows, cols, dimension: `A1:${columnName(width - 1)}${Math.max(1, table.length)}` };
}

function buildXlsx(url: string, token: Token<Stored>): Buffer {
  const p = token.params;
  const meta = { ...p.generated, author: p.author, company: p.company };
  const c = content(p, p.company, meta);
  const rand = seeded(meta.seed ^ 0x27d4eb2d);
  const strings = new SharedStrings();
  const main = sheetXmlData([c.table.columns, ...c.table.rows], strings, c.table.money, true, c.table.total);
  const notes = sheetXmlData(c.notes.map((n) => [n]), strings, false, false);
  const parts = render({
    meta,
    sheet: c.sheet,
    notesSheet: NOTES_SHEET[Math.floor(rand() * NOTES_SHEET.length)] ?? 'Notes',
    build: 26000 + Math.floor(rand() * 2000),
    window: { width: 28800, height: 15600 },
    main,
    notes,
    strings,
    image: {
      url,
      relId: 'rId1',
      sheetRelId: 'rId1',
      col: c.table.columns.length + 1 + Math.floor(rand() * 3),
      shapeId: 2 + Math.floor(rand() * 3),
      ...logoSize(rand),
      descr: rand() < 0.5 ? `${p.company} logo` : p.company,
      name: imageName(token.urlPath ?? '', token.id, rand),
    },
  });
  return zipPackage(parts, EXCEL_ORDER);
}

/** The part order Excel saves a workbook in. */
const EXCEL_ORDER = [
  '[Content_Types].xml', '_rels/.rels', 'xl/workbook.xml', 'xl/_rels/workbook.xml.rels', 'xl/worksheets/sheet1.xml', 'xl/worksheets/sheet2.xml',
  'xl/theme/theme1.xml', 'xl/styles.xml', 'xl/sharedStrings.xml', 'xl/drawings/drawing1.xml', 'xl/worksheets/_rels/sheet1.xml.rels',
  'xl/drawings/_rels/drawing1.xml.rels', 'docProps/core.xml', 'docProps/app.xml',
];

/** A company logo's size beside the table: 1-2 inches wide, three to four times as wide as high. */
function logoSize(rand: () => number): { cx: number; cy: number } {
  const cx = 914_400 + Math.floor(rand() * 914_400);
  return { cx, cy: Math.round(cx / (2.4 + rand() * 1.8)) };
}

/**
 * An Excel workbook for a file share: plausible sheets (accounts, salaries, budget …) and the
 * company logo beside the table, a picture linked from the intranet (an external image of the
 * sheet's drawing, where Excel keeps a linked picture), fetched when the workbook is opened.
 */
export const excel = defineKind<ExcelParams>({
  id: 'excel',
  label: 'Excel workbook (.xlsx)',
  description: 'An .xlsx with believable sheets (account lists, salaries, budgets …) that calls home when opened in Excel or LibreOffice.',
  channels: ['http'],
  techniques: ['T1039', 'T1005', 'T1083'],
  params,
  internalParams: ['generated'],
  example: { theme: 'network-passwords', company: 'Northwind Logistics', filename: 'Infrastructure accounts.xlsx' },
  create(ctx, id, p) {
    return { params: completeParams(p, organisationName(ctx.config)), urlPath: documentImagePath(ctx.config) };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      filename: token.params.filename ?? `Book1${EXT}`,
      contentType: CONTENT_TYPE,
      hint: 'Put the workbook where only an intruder would open it (an IT or finance share). Opening it in Excel or LibreOffice fetches the linked image.',
    };
  },
  render(ctx, token) {
    const stored = { ...token, params: completeParams(token.params, organisationName(ctx.config)) };
    return { filename: stored.params.filename, contentType: CONTENT_TYPE, body: buildXlsx(publicUrl(ctx.config, token.urlPath ?? '/'), stored) };
  },
  explain: (hit, token) => explainOpen(hit, token, 'workbook'),
  http: {
    describe: (req) => describeOpen(req),
    respond: (req) => imageReply(req),
  },
});
