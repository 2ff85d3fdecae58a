import { Router, type Response } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import type { AppDeps } from '../deps.ts';
import { hitsCsv, hitsJsonl } from '../exports/hits.ts';
import { buildStixBundle } from '../exports/stix.ts';
import { isTokenId } from '../tokens/ids.ts';
import { actorOf } from './auth.ts';
import { parse } from './validate.ts';

const exportQuery = z.object({
  format: z.enum(['csv', 'jsonl', 'stix'], { message: 'must be csv, jsonl or stix' }).default('jsonl'),
  since: z
    .string()
    .transform((v) => (/^\d+$/.test(v) ? new Date(Number(v)) : new Date(v)))
    .refine((d) => !Number.isNaN(d.getTime()), 'must be an ISO 8601 time or epoch milliseconds')
    .optional(),
  tokenId: z.string().refine(isTokenId, 'is not a token id').optional(),
});

/** Write a generator of text chunks to the response, respecting backpressure. */
async function stream(res: Response, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks) {
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}

/** GET /exports/hits?format=csv|jsonl|stix: for SIEMs, spreadsheets and threat-intel platforms. */
export function exportRoutes(deps: AppDeps): Router {
  const r = Router();
  r.get('/exports/hits', async (req, res) => {
    const q = parse(exportQuery, req.query);
    audit(deps.db, { actor: actorOf(res.locals).id, action: 'export.hits', details: { format: q.format } });
    const stamp = new Date().toISOString().slice(0, 10);
    res.set('Cache-Control', 'no-store');
    if (q.format === 'stix') {
      res.attachment(`honeytrail-hits-${stamp}.stix.json`).type('application/stix+json;version=2.1');
      res.send(JSON.stringify(buildStixBundle(deps.db, deps.config, q)));
      return;
    }
    if (q.format === 'csv') res.attachment(`honeytrail-hits-${stamp}.csv`).type('text/csv; charset=utf-8');
    else res.attachment(`honeytrail-hits-${stamp}.jsonl`).type('application/x-ndjson');
    await stream(res, q.format === 'csv' ? hitsCsv(deps.db, q) : hitsJsonl(deps.db, q));
  });
  return r;
}
