import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { MailParser, type AttachmentStream, type HeaderValue, type MessageText } from 'mailparser';

/**
 * Streaming, size-bounded parsing of one inbound mail for the SMTP listener: what a hit keeps
 * of a message (headers, clipped text, links, attachment names and sizes), never the message.
 */

/** Storage bounds of one recorded mail. */
export const SMTP_LIMITS = {
  maxStoredText: 2000,
  maxLinks: 20,
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

/**
 * Parse the message as it streams in. At most `limit` bytes reach the parser (the rest is only
 * counted, so sizes of attachments cut off there are lower bounds and the hit says `truncated`);
 * attachments are drained and counted; text and HTML are kept only long enough to clip and scan.
 */
export function parseMail(stream: Readable, limit: number): Promise<ParsedMail> {
  return new Promise((resolve, reject) => {
    const out: ParsedMail = { subject: null, headers: {}, text: '', links: [], attachments: [], size: 0, truncated: false };
    const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true, maxHtmlLengthToParse: SMTP_LIMITS.maxScan });
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
    parser.on('end', () => resolve(out));
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
    stream.pipe(cap).pipe(parser);
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

function extractLinks(s: string): string[] {
  const found = new Set<string>();
  for (const m of s.matchAll(/https?:\/\/[^\s"'<>()]{1,2000}/gi)) {
    found.add(clip(m[0].replace(/&amp;/g, '&').replace(/[.,;:!?]+$/, ''), SMTP_LIMITS.maxLinkLength));
    if (found.size >= SMTP_LIMITS.maxLinks) break;
  }
  return [...found];
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
