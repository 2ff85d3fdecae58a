import { z } from 'zod';
import { collectionTechniques, describeClient } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { httpsTarget, newTokenPath, publicUrl } from './urls.ts';

const params = z.object({
  target: httpsTarget.describe('Where the visitor is sent after the hit is recorded (https only)'),
});

type RedirectParams = z.infer<typeof params>;

/** A link that records the visit and forwards to a real page, so the visitor notices nothing. */
export const redirect = defineKind<RedirectParams>({
  id: 'redirect',
  label: 'Redirect URL',
  description: 'A unique URL that records the visit and then redirects (302) to a real https page.',
  channels: ['http'],
  techniques: ['T1083', 'T1213'],
  params,
  example: { target: 'https://intranet.example.com/wiki/Finance' },
  create(ctx, id, p) {
    return { params: p, urlPath: newTokenPath(ctx.config, 'page') };
  },
  artifact(ctx, token) {
    return {
      url: publicUrl(ctx.config, token.urlPath ?? '/'),
      hint: `Visitors land on ${token.params.target}. Use it in bookmarks, wiki pages or internal docs.`,
    };
  },
  explain(hit, token) {
    const client = describeClient(hit.userAgent) ?? 'a client without a user agent';
    const from = hit.referer ? `, coming from ${hit.referer.slice(0, 200)}` : '';
    return { action: `followed the link in ${client}${from}`, evidence: 'touch', techniques: collectionTechniques(token) };
  },
  http: {
    respond(_req, token) {
      return {
        status: 302,
        headers: { location: token.params.target, 'content-type': 'text/html', 'cache-control': 'no-store' },
        body: `<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n<center><h1>302 Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
      };
    },
  },
});
