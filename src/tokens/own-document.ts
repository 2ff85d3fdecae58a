import { createHash } from 'node:crypto';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { z } from 'zod';
import { staticAnswer } from '../channels/site.ts';
import { AppError } from '../errors.ts';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { tokenHostName } from './addresses.ts';
import { defineKind, type KindContext, type Token, type UploadedFile } from './kind.ts';
import { officeFormat, placeLinkedPicture, type OfficeFormat } from './ooxml-beacon.ts';
import { readXml, refuseEntityDeclarations } from './ooxml-parts.ts';
import { safeFileName, seeded } from './office.ts';
import { describeOpen, documentImagePath, explainOpen, imageName, imageReply } from './office-image.ts';
import { organisationName } from './organisation.ts';
import { beaconPdf } from './pdf-beacon.ts';
import { tokenHostUrl } from './pdf.ts';
import { newTokenPath, publicUrl } from './urls.ts';
import { openPackage, PackageError } from './zip-package.ts';

/**
 * Bring your own document: the defender uploads a real .docx, .xlsx, .pptx or .pdf and gets it
 * back beaconed, everything else as it was. Office documents get a linked company logo the way
 * the generated documents do (ooxml-beacon.ts: only the parts carrying it change, every other
 * zip entry is copied byte for byte); a PDF gets the open action the generated PDF has
 * (pdf-beacon.ts). The upload is stored with the token, as its artifact's source, and nowhere else.
 */

const FORMATS = ['docx', 'xlsx', 'pptx', 'pdf'] as const;
type Format = (typeof FORMATS)[number];

const CONTENT_TYPES: Record<Format, string> = {
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  pdf: 'application/pdf',
};

const params = z.object({
  filename: z
    .string()
    .max(200, 'must be at most 200 characters')
    .refine((v) => v.replace(/[^\p{L}\p{N}]/gu, '').length > 0, 'must contain letters or digits')
    .optional()
    .describe('File name of the download (the uploaded file’s name when omitted; the extension follows the document type)'),
  format: z.enum(FORMATS).optional().describe('Filled in at upload: the document type, read from its content'),
  size: z.number().int().min(0).optional().describe('Filled in at upload: the uploaded file’s size in bytes'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('Filled in at upload: SHA-256 of the uploaded file'),
});

type OwnParams = z.infer<typeof params>;

/** Read what the upload is, from its content: a PDF, or an OOXML package whose main part says which. */
function formatOf(body: Buffer): Format {
  if (body.subarray(0, 1024).indexOf('%PDF-') !== -1) return 'pdf';
  if (body.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) return officeFormat(openPackage(body)).format;
  throw new PackageError('is not a .docx, .xlsx, .pptx or .pdf document');
}

/** The beacon's address for a token: the linked picture's URL, or for a PDF the token host's. */
function beaconUrl(ctx: KindContext, token: Pick<Token, 'urlPath' | 'hostLabel' | 'id'>, format: Format): string {
  return format === 'pdf' ? tokenHostUrl(ctx.config, token.hostLabel ?? token.id, token.urlPath ?? '/') : publicUrl(ctx.config, token.urlPath ?? '/');
}

/** The company the document names in its properties, else the deployment's. */
function companyOf(pkg: ReturnType<typeof openPackage>, ctx: KindContext): string {
  const app = pkg.has('docProps/app.xml') ? /<(?:\w+:)?Company>([^<]{1,100})<\/(?:\w+:)?Company>/.exec(readXml(pkg, 'docProps/app.xml').text)?.[1] : undefined;
  const named = app?.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").trim();
  return named || organisationName(ctx.config);
}

/** The upload with its beacon; throws PackageError saying what is wrong with a file that cannot take one. */
async function beaconed(ctx: KindContext, body: Buffer, token: Pick<Token, 'urlPath' | 'hostLabel' | 'id'>): Promise<{ format: Format; body: Buffer }> {
  const format = formatOf(body);
  const url = beaconUrl(ctx, token, format);
  if (format === 'pdf') return { format, body: await beaconPdf(body, url) };
  const pkg = openPackage(body);
  refuseEntityDeclarations(pkg);
  const { main } = officeFormat(pkg);
  const rand = seeded(createHash('sha256').update(token.id).digest().readUInt32LE(0));
  const company = companyOf(pkg, ctx);
  placeLinkedPicture(pkg, format as OfficeFormat, main, {
    url,
    name: imageName(token.urlPath ?? '', token.id, rand),
    descr: rand() < 0.5 ? `${company} logo` : company,
    rand,
  });
  return { format, body: pkg.save() };
}

function refused(err: unknown): never {
  if (err instanceof PackageError) throw new AppError('invalid_request', `Invalid request: file: ${err.message}`, { file: err.message });
  throw err;
}

/** A one-page PDF made on the spot (the contract tests upload it). */
async function examplePdf(): Promise<UploadedFile> {
  const pdf = await PDFDocument.create();
  pdf.setTitle('Supplier bank details');
  const page = pdf.addPage([595.28, 841.89]);
  page.drawText('Supplier bank details (confidential)', { x: 56, y: 780, size: 14, font: await pdf.embedFont(StandardFonts.Helvetica) });
  return { filename: 'Supplier bank details.pdf', body: Buffer.from(await pdf.save()) };
}

export const ownDocument = defineKind<OwnParams>({
  id: 'own-document',
  label: 'Your own document (.docx, .xlsx, .pptx, .pdf)',
  description: 'Upload a real document of yours and get it back beaconed, content, styles and metadata untouched: it calls home when opened in Office, LibreOffice or a PDF reader.',
  channels: ['http', 'dns'],
  techniques: ['T1039', 'T1005', 'T1083'],
  params,
  internalParams: ['format', 'size', 'sha256'],
  example: { filename: 'Supplier bank details.pdf' },
  upload: {
    accept: '.docx,.xlsx,.pptx,.pdf',
    async check(ctx, upload, p) {
      // Beacon it once with a stand-in token: whatever would fail at download fails now, before anything is written.
      const { format } = await beaconed(ctx, upload.body, { id: 'check', urlPath: '/check.png', hostLabel: 'check' }).catch(refused);
      return {
        ...p,
        filename: safeFileName(p.filename ?? upload.filename.split(/[\\/]/).pop() ?? '', `.${format}`),
        format,
        size: upload.body.length,
        sha256: createHash('sha256').update(upload.body).digest('hex'),
      };
    },
    example: examplePdf,
  },
  create(ctx, _id, p) {
    return { params: p, urlPath: p.format === 'pdf' ? newTokenPath(ctx.config, 'page') : documentImagePath(ctx.config) };
  },
  artifact(ctx, token) {
    const format = token.params.format ?? 'pdf';
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      ...(format === 'pdf' ? { hostname: tokenHostName(ctx.config.DNS_ZONE, token) } : {}),
      filename: token.params.filename ?? `Document.${format}`,
      contentType: CONTENT_TYPES[format],
      hint:
        format === 'pdf'
          ? 'Put the PDF back where it belongs (a share, a mailbox). Opening it in a PDF reader resolves the token host and asks to open its URL.'
          : 'Put the document back where it belongs (a finance or IT share). Opening it in Office or LibreOffice fetches its linked logo.',
    };
  },
  async render(ctx, token, _format, upload) {
    if (!upload) throw new AppError('not_found', 'the document this token was made from is no longer stored');
    const { format, body } = await beaconed(ctx, upload.body, token).catch(refused);
    return { filename: token.params.filename ?? `Document.${format}`, contentType: CONTENT_TYPES[format], body };
  },
  explain(hit, token) {
    const format = token.params.format;
    if (format === 'pdf') {
      const action =
        hit.channel === 'dns'
          ? `a PDF reader opened the document (its ${hit.qtype ?? 'A'} lookup of the document's host name came through the resolver)`
          : `the document's open action was followed in ${describeClient(hit.userAgent) ?? 'a client without a user agent'}`;
      return { action, evidence: 'touch', techniques: collectionTechniques(token) };
    }
    return explainOpen(hit, token, format === 'xlsx' ? 'workbook' : format === 'pptx' ? 'presentation' : 'document');
  },
  http: {
    describe: (req, token) => (token.params.format === 'pdf' ? {} : describeOpen(req)),
    respond: (req, token) => (token.params.format === 'pdf' ? staticAnswer(req.path, req.headers.accept) : imageReply(req)),
  },
});
