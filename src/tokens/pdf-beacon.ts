import { inflateSync } from 'node:zlib';
import { EncryptedPDFError, PDFArray, PDFDict, PDFDocument, PDFName, PDFRef, PDFString } from 'pdf-lib';
import { PackageError } from './zip-package.ts';

/**
 * The beacon of a defender's own PDF, placed as the generated `pdf` kind places its own: an open
 * action asking the reader to open the token host's URL. The document's own open action (a page
 * to show, a script) is kept and runs next; pages, fonts and the Info dictionary are kept as
 * they are (no new Producer or dates); objects are packed into object streams so `strings`
 * reads no URL.
 */

/** Most bytes the object streams of one PDF may inflate to (pdf-lib inflates them all on load). */
const MAX_OBJECT_STREAMS = 128 * 1024 * 1024;

/** Refuse what is not a complete PDF before a parser sees it: a header, and an end marker at the end. */
function checkShape(body: Buffer): void {
  if (body.subarray(0, 1024).indexOf('%PDF-') === -1) throw new PackageError('is not a PDF');
  if (body.subarray(Math.max(0, body.length - 1024)).indexOf('%%EOF') === -1) throw new PackageError('is a truncated or damaged PDF (no end-of-file marker)');
}

/**
 * pdf-lib inflates every object stream without a limit: find them in the raw file and inflate
 * each within what is left of the budget first, so a PDF bomb is refused before it is parsed.
 */
function checkObjectStreams(body: Buffer): void {
  let budget = MAX_OBJECT_STREAMS;
  for (let at = body.indexOf('/ObjStm'); at !== -1; at = body.indexOf('/ObjStm', at + 7)) {
    const start = body.indexOf('stream', at);
    if (start === -1) break;
    const dataStart = start + 6 + (body[start + 6] === 0x0d ? 2 : 1);
    const end = body.indexOf('endstream', dataStart);
    if (end === -1) throw new PackageError('is a truncated or damaged PDF (an object stream does not end)');
    try {
      budget -= inflateSync(body.subarray(dataStart, end), { maxOutputLength: Math.max(1, budget), finishFlush: 2 }).length;
    } catch (err) {
      if (err instanceof RangeError) throw new PackageError('has object streams that unpack to too much (a PDF bomb?)');
      // Not Flate or damaged: pdf-lib says what it makes of it.
    }
  }
}

/** Load a PDF strictly enough that a damaged one is refused with a reason. */
export async function loadPdf(body: Buffer): Promise<PDFDocument> {
  checkShape(body);
  checkObjectStreams(body);
  let pdf: PDFDocument;
  try {
    pdf = await PDFDocument.load(body, { updateMetadata: false, throwOnInvalidObject: true });
  } catch (err) {
    if (err instanceof EncryptedPDFError) throw new PackageError('is encrypted; upload it without a password');
    throw new PackageError('is not a readable PDF');
  }
  let pages = 0;
  try {
    pages = pdf.getPageCount();
  } catch {
    throw new PackageError('is a PDF without a readable page tree');
  }
  if (pages === 0) throw new PackageError('is a PDF without pages');
  return pdf;
}

/** The PDF with an open action to `openUrl`, its own open action chained after it. */
export async function beaconPdf(body: Buffer, openUrl: string): Promise<Buffer> {
  const pdf = await loadPdf(body);
  const ctx = pdf.context;
  const own = pdf.catalog.get(PDFName.of('OpenAction'));
  const action = ctx.obj({ Type: 'Action', S: 'URI', URI: PDFString.of(openUrl) });
  if (own instanceof PDFRef || own instanceof PDFDict) action.set(PDFName.of('Next'), own);
  else if (own instanceof PDFArray) action.set(PDFName.of('Next'), ctx.obj({ S: 'GoTo', D: own }));
  pdf.catalog.set(PDFName.of('OpenAction'), ctx.register(action));
  return Buffer.from(await pdf.save({ useObjectStreams: true, updateFieldAppearances: false }));
}
