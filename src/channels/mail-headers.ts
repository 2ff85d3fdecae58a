import { Transform, type TransformCallback } from 'node:stream';

/**
 * The top-level header block of an inbound mail, cut down before the MIME parser sees it: only
 * the fields a hit keeps (and the MIME fields needed to find the parts) pass, each clipped, with
 * a total budget. mailparser parses every address header in one synchronous call at about 4 µs
 * per address, so a 750 KB `To:` list held the event loop for a second; a real Microsoft 365
 * header block (15 KB of Received, ARC and X-MS-Exchange lines) has nothing we store beyond
 * what passes here. The body is passed through untouched.
 */

export interface HeaderFilterOptions {
  /** Lower-case field names that pass; every other field is left out. */
  keep: ReadonlySet<string>;
  /** Longest field passed (first line and continuation lines); longer is clipped. */
  maxField: number;
  /** Most header bytes passed in all; fields past it are left out. */
  maxTotal: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const CRLF = Buffer.from('\r\n');

/** A Transform that filters the header block (see the module comment); `clipped` says a kept field was cut or left out. */
export class HeaderFilter extends Transform {
  /** True when a field we keep was clipped or left out for the budget. */
  clipped = false;
  private inBody = false;
  private line: Buffer[] = [];
  private lineLen = 0;
  private lineCut = false;
  private field: Buffer[] = [];
  private fieldLen = 0;
  private total = 0;

  constructor(private readonly opts: HeaderFilterOptions) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.inBody) return done(null, chunk);
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(LF, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      this.addToLine(chunk.subarray(pos, end));
      pos = end;
      if (nl >= 0 && this.endLine()) {
        this.inBody = true;
        break;
      }
    }
    if (this.inBody && pos < chunk.length) this.push(chunk.subarray(pos));
    done();
  }

  override _flush(done: TransformCallback): void {
    if (!this.inBody) {
      if (this.lineLen > 0) this.endLine();
      this.flushField();
    }
    done();
  }

  /** Collect the current line, keeping at most maxField bytes of it. */
  private addToLine(part: Buffer): void {
    const room = this.opts.maxField - this.lineLen;
    if (room <= 0) {
      this.lineCut = true;
      return;
    }
    if (part.length > room) this.lineCut = true;
    const kept = part.length > room ? part.subarray(0, room) : part;
    this.line.push(kept);
    this.lineLen += kept.length;
  }

  /** A line ended (or the input did): true at the blank line that ends the header block. */
  private endLine(): boolean {
    const line = Buffer.concat(this.line, this.lineLen);
    const cut = this.lineCut;
    this.line = [];
    this.lineLen = 0;
    this.lineCut = false;
    const blank = !cut && (line.length === 1 || (line.length === 2 && line[0] === CR));
    if (blank) {
      this.flushField();
      this.push(CRLF);
      return true;
    }
    const whole = cut || line[line.length - 1] !== LF ? Buffer.concat([line, CRLF]) : line;
    if (line[0] === SP || line[0] === HT) {
      if (this.fieldLen === 0) return false; // a continuation of nothing: dropped
      if (this.fieldLen + whole.length > this.opts.maxField) {
        this.clipped ||= this.keeps();
        return false;
      }
      this.field.push(whole);
      this.fieldLen += whole.length;
      if (cut) this.clipped ||= this.keeps();
      return false;
    }
    this.flushField();
    this.field = [whole];
    this.fieldLen = whole.length;
    if (cut) this.clipped ||= this.keeps();
    return false;
  }

  /** Is the current field one we pass? */
  private keeps(): boolean {
    const first = this.field[0];
    if (!first) return false;
    const colon = first.indexOf(':');
    if (colon <= 0) return false;
    return this.opts.keep.has(first.toString('latin1', 0, colon).trim().toLowerCase());
  }

  private flushField(): void {
    if (this.fieldLen === 0) return;
    if (this.keeps()) {
      if (this.total + this.fieldLen <= this.opts.maxTotal) {
        for (const part of this.field) this.push(part);
        this.total += this.fieldLen;
      } else {
        this.clipped = true;
      }
    }
    this.field = [];
    this.fieldLen = 0;
  }
}
