import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { TINY_IMAGES } from '../channels/site.ts';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { newTokenPath, pick, publicUrl } from './urls.ts';

/**
 * An SVG drawing (a network diagram) that loads one external resource from its token URL when
 * a program renders it as a document: an `<image>` (`via: "image"`) or a CSS `@import`
 * (`via: "style"`). Browsers opening the file fire it; SVG used inside `<img>` and librsvg
 * (`rsvg-convert`, GNOME thumbnails) do not load remote resources (tests/tokens/svg.test.ts).
 */

const SITES = ['HQ', 'DC-East', 'DC-West', 'Branch Office', 'DMZ', 'Backup Site', 'Lab'] as const;
const NODES = ['core-sw01', 'fw-edge', 'vpn-gw', 'fs01', 'dc01', 'sql-prod', 'backup01', 'esx-03', 'jump01', 'nas02', 'mail01', 'pki-ca'] as const;
const FILES = ['network-diagram', 'topology', 'site-overview', 'infra-map', 'rack-layout'] as const;

const params = z.object({
  via: z.enum(['image', 'style']).default('image').describe('How the drawing loads its token URL: an embedded image or a stylesheet import'),
  title: z.string().trim().min(1).max(80).optional().describe('Title drawn on the diagram (default: a plausible site name)'),
  filename: z
    .string()
    .trim()
    .regex(/^[\w .()-]{1,76}\.svg$/, 'must be a file name ending in .svg')
    .optional()
    .describe('File name of the download (default: a plausible one)'),
});

type SvgParams = z.infer<typeof params>;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The drawing: boxes for a few hosts joined to a core switch, plus the external resource. */
export function svgDrawing(url: string, via: 'image' | 'style', title: string): string {
  const pool: string[] = NODES.filter((n) => n !== 'core-sw01');
  const names = Array.from({ length: randomInt(4, 7) }, () => pool.splice(randomInt(pool.length), 1)[0] ?? 'srv');
  const w = 120 + names.length * 130;
  const boxes = names
    .map((n, i) => {
      const x = 20 + i * 130;
      return `  <g class="node"><rect x="${x}" y="150" width="110" height="44" rx="6"/><text x="${x + 55}" y="177">${esc(n)}</text></g>\n  <line x1="${x + 55}" y1="150" x2="${w / 2}" y2="104"/>`;
    })
    .join('\n');
  const resource =
    via === 'style'
      ? `  <style>@import url("${esc(url)}");</style>\n`
      : `  <image href="${esc(url)}" x="${w - 40}" y="8" width="32" height="32" preserveAspectRatio="xMidYMid meet"/>\n`;
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="230" viewBox="0 0 ${w} 230">
  <title>${esc(title)}</title>
  <defs>
    <style>.node rect{fill:#eef3fb;stroke:#36598a}text{font:13px sans-serif;text-anchor:middle;fill:#1d2b3a}line{stroke:#6b7f99;stroke-width:1.5}</style>
  </defs>
${resource}  <text x="${w / 2}" y="28" style="font-size:17px;font-weight:bold">${esc(title)}</text>
  <g class="node"><rect x="${w / 2 - 60}" y="62" width="120" height="42" rx="6"/><text x="${w / 2}" y="88">core-sw01</text></g>
${boxes}
</svg>
`;
}

/** An SVG file that fetches its token URL when it is opened in a browser. */
export const svgToken = defineKind<SvgParams>({
  id: 'svg',
  label: 'SVG drawing',
  description: 'An SVG network diagram that loads an image or stylesheet from its token URL when it is opened in a web browser.',
  channels: ['http'],
  techniques: ['T1083', 'T1005', 'T1039'],
  params,
  example: { via: 'image', title: 'HQ network' },
  create(ctx, id, p) {
    const title = p.title ?? `${pick(SITES)} network`;
    const filename = p.filename ?? `${pick(FILES)}-${pick(['v2', 'v3', '2025', 'final', 'current'])}.svg`;
    return { params: { ...p, title, filename }, urlPath: newTokenPath(ctx.config, 'image') };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      filename: token.params.filename ?? 'network-diagram.svg',
      contentType: 'image/svg+xml',
      hint: 'Put the drawing in a share or a wiki attachment. Opening it in a browser fires; image viewers built on librsvg and SVGs shown through <img> do not load remote resources.',
    };
  },
  render(ctx, token) {
    const url = publicUrl(ctx.config, token.urlPath ?? '/');
    const body = svgDrawing(url, token.params.via, token.params.title ?? 'Network');
    return { filename: token.params.filename ?? 'network-diagram.svg', contentType: 'image/svg+xml', body: Buffer.from(body) };
  },
  explain(hit, token) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    return { action: `the SVG drawing was opened in ${client}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  http: {
    respond(_req, token) {
      if (token.params.via === 'style') {
        return { status: 200, headers: { 'content-type': 'text/css', 'cache-control': 'no-store' }, body: 'text{font-family:sans-serif}\n' };
      }
      return { status: 200, headers: { 'content-type': 'image/png', 'cache-control': 'no-store' }, body: TINY_IMAGES.png };
    },
  },
});
