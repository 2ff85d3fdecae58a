import { z } from 'zod';
import { site, staticAnswer } from '../channels/site.ts';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { newTokenPath, publicUrl } from './urls.ts';

const params = z.object({
  /** How the URL answers: an image for <img> tags, a page for links, or whatever the client asks for. */
  response: z.enum(['auto', 'gif', 'html']).default('auto').describe('What the URL answers with'),
});

type WebBugParams = z.infer<typeof params>;

function escapeAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** The snippet file is named after the token, so several can sit in one folder. */
function snippetName(name: string): string {
  const stem = name.replace(/[^A-Za-z0-9 _.-]+/g, '').trim().replace(/\s+/g, '_').slice(0, 80);
  return `${stem || 'page'}.html`;
}

/** A URL that records whoever fetches it: paste it in a page, a wiki, a mail or a bookmark file. */
export const webBug = defineKind<WebBugParams>({
  id: 'web-bug',
  label: 'Web bug (URL)',
  description: 'A unique URL. Any request to it (browser, curl, an <img> tag in a page or mail) is recorded.',
  channels: ['http'],
  techniques: ['T1083', 'T1213'],
  params,
  example: { response: 'auto' },
  create(ctx, id, p) {
    const style = p.response === 'html' ? 'page' : 'image';
    return { params: p, urlPath: newTokenPath(ctx.config, style) };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      filename: snippetName(token.name),
      contentType: 'text/html; charset=utf-8',
      hint: 'Paste the URL where only an intruder would follow it, or embed the snippet in a page.',
    };
  },
  render(ctx, token) {
    const url = escapeAttr(publicUrl(ctx.config, token.urlPath ?? '/'));
    const body = `<img src="${url}" width="1" height="1" alt="" style="border:0">\n`;
    return { filename: snippetName(token.name), contentType: 'text/html; charset=utf-8', body: Buffer.from(body) };
  },
  explain(hit, token) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    const verb = !hit.method || hit.method === 'GET' ? 'fetched the link' : `sent ${hit.method} to the link`;
    return { action: `${client} ${verb}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  http: {
    respond(req, token) {
      if (token.params.response === 'html') return site.blank();
      if (token.params.response === 'gif') return site.pixel(req.path);
      return staticAnswer(req.path, req.headers.accept);
    },
  },
});
