import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { MailParser, type AttachmentStream, type HeaderValue, type MessageText } from 'mailparser';
import { trimEndChars } from '../text.ts';
import { HeaderFilter } from './mail-headers.ts';

/**
 * Streaming, size-bounded parsing of one inbound mail for the SMTP listener: what a hit keeps
 * of a message (headers, clipped text, links, attachment names and sizes), never the message.
 */

/** Storage bounds of one recorded mail. */
export const SMTP_LIMITS = {
  maxStoredText: 2000,
  maxLinks: 20,
  /** Link matches looked at, repeats included (bounds the scan when one link repeats). */
  maxLinksExamined: 200,
  maxLinkLength: 300,
  maxAttachments: 20,
  /** Text and HTML scanned for links. */
  maxScan: 256 * 1024,
  maxRecipients: 50,
  /**
   * Bytes of a message handed to the MIME parser; the rest is counted, not parsed. The parser
   * keeps text parts whole, so this (not the message size limit) bounds memory per connection.
   */
  maxParsed: 1024 * 1024,
  maxHeaderValue: 256,
  /**
   * Header block of one MIME part handed to the parser (each line counts at least 64 bytes);
   * larger is a parse error (the hit is kept, marked truncated). Header parsing is one
   * synchronous call, so this bounds how long a part's header can hold the event loop.
   */
  maxHeadBytes: 32 * 1024,
  /** Top-level header fields passed to the parser: each at most maxHeaderField bytes, maxHeaderBlock in all (see mail-headers.ts). */
  maxHeaderField: 4096,
  maxHeaderBlock: 16 * 1024,
  /** MIME parts per message handed to the parser (mailparser's default is 1000). */
  maxParts: 200,
} as const;

/** What is kept of one message. */
export interface ParsedMail {
  subject: string | null;
  headers: Record<string, string>;
  text: string;
  links: string[];
  attachments: { filename: string | null; contentType: string; size: number }[];
  size: number;
  truncated: boolean;
}

const KEPT_HEADERS = ['from', 'reply-to', 'to', 'cc', 'message-id', 'date', 'x-mailer', 'user-agent', 'return-path', 'x-originating-ip'];
/** Top-level fields the parser gets: the kept ones, the subject, and what finds the MIME parts. */
const PARSED_HEADERS = new Set([...KEPT_HEADERS, 'subject', 'mime-version', 'content-type', 'content-transfer-encoding', 'content-disposition']);

/**
 * Parse the message as it streams in. At most `limit` bytes reach the parser (the rest is only
 * counted, so sizes of attachments cut off there are lower bounds and the hit says `truncated`);
 * attachments are drained and counted; text and HTML are kept only long enough to clip and scan.
 */
export function parseMail(stream: Readable, limit: number): Promise<ParsedMail> {
  return new Promise((resolve, reject) => {
    const out: ParsedMail = { subject: null, headers: {}, text: '', links: [], attachments: [], size: 0, truncated: false };
    const parser = new MailParser({
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipTextLinks: true,
      skipImageLinks: true,
      maxHtmlLengthToParse: SMTP_LIMITS.maxScan,
      maxHeadSize: SMTP_LIMITS.maxHeadBytes,
      maxChildNodes: SMTP_LIMITS.maxParts,
      // An attached message stays an attachment (counted): its headers would be parsed like the top-level ones.
      ignoreEmbedded: true,
    });
    const headerFilter = new HeaderFilter({ keep: PARSED_HEADERS, maxField: SMTP_LIMITS.maxHeaderField, maxTotal: SMTP_LIMITS.maxHeaderBlock });
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        const room = limit - out.size;
        out.size += chunk.length;
        if (room <= 0) {
          out.truncated = true;
          return done();
        }
        done(null, chunk.length > room ? chunk.subarray(0, room) : chunk);
      },
    });
    parser.on('headers', (headers: Map<string, HeaderValue>) => {
      for (const name of KEPT_HEADERS) {
        const v = headers.get(name);
        if (v !== undefined) out.headers[name] = clip(headerText(v), SMTP_LIMITS.maxHeaderValue);
      }
      const subject = headers.get('subject');
      out.subject = subject === undefined ? null : clip(headerText(subject), 998);
    });
    parser.on('data', (data: AttachmentStream | MessageText) => {
      if (data.type === 'attachment') {
        const entry = { filename: data.filename ? clip(data.filename, 255) : null, contentType: clip(data.contentType, 100), size: 0 };
        data.content.on('data', (chunk: Buffer) => (entry.size += chunk.length));
        data.content.on('end', () => {
          if (out.attachments.length < SMTP_LIMITS.maxAttachments) out.attachments.push(entry);
          data.release?.();
        });
        return;
      }
      const text = typeof data.text === 'string' ? data.text : '';
      const html = typeof data.html === 'string' ? data.html : '';
      out.text = clip(text.trim(), SMTP_LIMITS.maxStoredText);
      out.links = extractLinks(`${text.slice(0, SMTP_LIMITS.maxScan)}\n${html.slice(0, SMTP_LIMITS.maxScan)}`);
    });
    parser.on('end', () => {
      if (headerFilter.clipped) out.truncated = true;
      resolve(out);
    });
    parser.on('error', () => {
      // A malformed message is still a delivery to the token: keep what was parsed, drain the
      // rest (counting it) and answer once the client has sent the whole message.
      out.truncated = true;
      stream.unpipe(cap);
      stream.on('data', (chunk: Buffer) => (out.size += chunk.length));
      if (stream.readableEnded) resolve(out);
      else stream.once('end', () => resolve(out));
    });
    stream.on('error', reject);
    stream.pipe(cap).pipe(headerFilter).pipe(parser);
  });
}

function headerText(v: HeaderValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : 'text' in x ? x.text : String(x))).join(', ');
  if (typeof v === 'object' && v !== null && 'text' in v && typeof v.text === 'string') return v.text;
  if (typeof v === 'object' && v !== null && 'value' in v) return String(v.value);
  return String(v);
}

const LINK = /https?:\/\/[^\s"'<>()]{1,2000}/gi;

/**
 * Distinct links in scanned text, at most `maxLinks`. Linear in the text: the pattern has one
 * bounded quantifier, trailing punctuation is trimmed by a loop (`/[.,;:!?]+$/` is quadratic in
 * a run of dots), and at most `maxLinksExamined` matches are looked at, so a body repeating one
 * link cannot keep the loop going to the end of the scan window.
 */
export function extractLinks(s: string): string[] {
  const found = new Set<string>();
  let examined = 0;
  for (const m of s.matchAll(LINK)) {
    found.add(clip(trimEndChars(m[0].replaceAll('&amp;', '&'), '.,;:!?'), SMTP_LIMITS.maxLinkLength));
    if (found.size >= SMTP_LIMITS.maxLinks || ++examined >= SMTP_LIMITS.maxLinksExamined) break;
  }
  return [...found];
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
