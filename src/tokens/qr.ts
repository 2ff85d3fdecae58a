import QRCode from 'qrcode';
import { z } from 'zod';
import { site } from '../channels/site.ts';
import { describeClient } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { docLine, safeFileName } from './office.ts';
import { httpsTarget, newTokenPath, pick, publicUrl } from './urls.ts';

const params = z.object({
  format: z.enum(['png', 'svg']).default('png').describe('Image format of the download: PNG for printing as is, SVG for layouts'),
  size: z.number().int().min(128, 'must be at least 128').max(4096, 'must be at most 4096').default(600).describe('Width and height of the PNG in pixels'),
  margin: z.number().int().min(2, 'must be at least 2 (scanners need a quiet zone)').max(16).default(4).describe('Quiet zone around the code, in modules'),
  errorCorrection: z.enum(['L', 'M', 'Q', 'H']).default('M').describe('Error correction level: higher survives wear and stains, but is denser'),
  target: httpsTarget.optional().describe('Where the scanning phone is sent after the hit is recorded (https only; a bland page when omitted)'),
  filename: docLine(120).optional().describe('File name of the download (a plausible one when omitted)'),
});

type QrParams = z.infer<typeof params>;

const NAMES = ['wifi-guest', 'helpdesk', 'printer-setup', 'visitor-registration', 'asset-tag', 'room-booking', 'it-support', 'badge-enrolment', 'vpn-setup', 'server-room-access'] as const;
const CONTENT_TYPES = { png: 'image/png', svg: 'image/svg+xml' } as const;

const FOUND = '<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n<center><h1>302 Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

/**
 * A QR code of a token URL, for printed material an intruder may photograph or scan: a sticker on
 * a server rack, a "Wi-Fi admin" note, a badge-enrolment poster. The scan records the phone's
 * address and browser, then shows a bland page or forwards to a real one.
 */
export const qr = defineKind<QrParams>({
  id: 'qr',
  label: 'QR code (PNG/SVG)',
  description: 'A printable QR code of a unique URL. Scanning it (a phone camera, a QR app) records the visit.',
  channels: ['http'],
  techniques: ['T1591'],
  params,
  formats: ['png', 'svg'],
  example: { format: 'png', size: 600, errorCorrection: 'M', filename: 'wifi-guest.png' },
  create(ctx, id, p) {
    const filename = safeFileName(p.filename ?? pick(NAMES), `.${p.format}`);
    return { params: { ...p, filename }, urlPath: newTokenPath(ctx.config, 'page') };
  },
  artifact(ctx, token) {
    const format = token.params.format;
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      filename: safeFileName(token.params.filename ?? 'qr', `.${format}`),
      contentType: CONTENT_TYPES[format],
      hint: 'Print it where only someone who should not be there would scan it: in a server room, on a rack, on a note labelled with something tempting.',
    };
  },
  async render(ctx, token, as) {
    const p = token.params;
    const format = as === 'svg' || as === 'png' ? as : p.format;
    const url = publicUrl(ctx.config, token.urlPath ?? '/');
    const options = { margin: p.margin, errorCorrectionLevel: p.errorCorrection, width: p.size };
    const body = format === 'svg' ? Buffer.from(await QRCode.toString(url, { ...options, type: 'svg' })) : await QRCode.toBuffer(url, { ...options, type: 'png' });
    // The stored name carries the token's own extension; another format swaps it.
    const base = (p.filename ?? 'qr').replace(/\.(png|svg)$/i, '');
    return { filename: safeFileName(base, `.${format}`), contentType: CONTENT_TYPES[format], body };
  },
  explain(hit) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    // Someone was physically where the code hangs and scanned it (reconnaissance of the site).
    return { action: `scanned the QR code: opened in ${client}`, evidence: 'touch', techniques: ['T1591'] };
  },
  http: {
    respond(_req, token) {
      if (!token.params.target) return site.blank();
      return { status: 302, headers: { location: token.params.target, 'content-type': 'text/html', 'cache-control': 'no-store' }, body: FOUND };
    },
  },
});
