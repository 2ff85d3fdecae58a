import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { closeDatabase, openDatabase } from '../src/db/client.ts';
import { ask, start, stop } from './child.ts';
import { seed } from './seed.ts';

/**
 * Scale: admin API list latency with many tokens and hits (DESIGN: 100k tokens, 5M hits,
 * list pages under 100 ms, RSS under 300 MB), plus the database cost of one hit.
 * BENCH_TOKENS / BENCH_HITS shrink it for a quick run.
 */
export async function adminScaleBench(dir: string, tokens: number, hits: number, log: (m: string) => void) {
  const file = join(dir, 'scale.db');
  const db = openDatabase({ path: file });
  const t0 = performance.now();
  const ids = seed(db, tokens, hits, (m) => log(`  seeding ${m}`));
  const seedSeconds = (performance.now() - t0) / 1000;
  closeDatabase(db);
  const bytesPerHit = statSync(file).size / Math.max(1, hits);

  const key = 'bench_api_key_0123456789abcdefghijklmn';
  // The server in a process of its own, so its RSS is the server's, not this harness's (which has
  // run every other section by now).
  const { child: server, ready } = await start<{ port: number }>('bench/servers/scale.ts', [file, dir, key]);
  const base = `http://127.0.0.1:${ready.port}/api/v1`;
  const routes = {
    'GET /tokens (page 1)': '/tokens?limit=50',
    'GET /tokens?kind&offset=50000': '/tokens?kind=web-bug&limit=50&offset=50000',
    'GET /tokens?location=': '/tokens?location=share17&limit=50',
    'GET /hits (newest)': '/hits?limit=100',
    'GET /tokens/:id/hits': `/tokens/${ids[ids.length >> 1]}/hits?limit=100`,
    'GET /hits?since=1h': `/hits?since=${Date.now() - 3_600_000}&limit=100`,
  };
  const rows: Record<string, unknown>[] = [];
  for (const [name, path] of Object.entries(routes)) {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const s = performance.now();
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`);
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    rows.push({ route: name, p50ms: round(times[15]), p95ms: round(times[28]), maxMs: round(times[29]) });
  }
  const rssMB = Math.round((await ask<{ rss: number }>(server, 'rss')).rss / 1e6);
  await stop(server);
  return { tokens, hits, seedSeconds: round(seedSeconds), bytesPerHit: Math.round(bytesPerHit), rssMB, rows };
}

const round = (n: number | undefined) => Math.round((n ?? 0) * 10) / 10;
