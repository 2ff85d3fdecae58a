import { randomInt } from 'node:crypto';
import { openDatabase, closeDatabase, type Db } from '../src/db/client.ts';
import { newTokenId } from '../src/tokens/ids.ts';

/**
 * Fill a database with `tokens` tokens and `hits` hits for scale tests (DESIGN section 8:
 * 100k tokens, 5M hits), from a pool of source addresses each with its incident, as a
 * running server would have left them (every hit on a trail). Raw prepared statements in
 * large transactions; prints progress.
 * Usage: tsx bench/seed.ts <db file> [tokens=100000] [hits=5000000]
 */
export function seed(db: Db, tokens: number, hits: number, progress: (msg: string) => void = () => {}): string[] {
  const now = Date.now();
  const ids: string[] = [];
  const insertToken = db.$client.prepare(
    `insert into tokens (id, kind, name, location, planted_host, params, url_path, created_at, hit_count) values (?, 'web-bug', ?, ?, ?, '{"response":"auto"}', ?, ?, 0)`,
  );
  db.$client.transaction(() => {
    for (let i = 0; i < tokens; i++) {
      const id = newTokenId();
      ids.push(id);
      insertToken.run(id, `Decoy ${i}`, `\\\\fs${i % 40}\\share${i % 300}\\dept${i % 17}`, `FS${i % 40}`, `/static/${id}/logo.png`, now - (tokens - i) * 1000);
    }
  })();
  progress(`tokens: ${tokens}`);
  const sources = Array.from({ length: Math.max(1, Math.min(20_000, Math.ceil(hits / 250))) }, () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`);
  const insertIncident = db.$client.prepare(
    `insert into incidents (id, actor_key, actor_label, first_at, last_at, updated_at, status, severity, techniques) values (?, ?, ?, ?, ?, ?, 'open', 'medium', '["T1083"]')`,
  );
  db.$client.transaction(() => {
    sources.forEach((ip, i) => insertIncident.run(i + 1, `ip:${ip}`, ip, now - hits * 50, now, now));
  })();
  const insertHit = db.$client.prepare(
    `insert into hits (token_id, channel, at, source_ip, source_port, user_agent, method, path, classification, headers, incident_id) values (?, 'http', ?, ?, ?, ?, 'GET', ?, 'alert', ?, ?)`,
  );
  const agents = ['Mozilla/5.0 (Windows NT 10.0; Win64; x64)', 'curl/8.5.0', 'python-requests/2.31.0', 'Microsoft Office/16.0', 'Go-http-client/1.1'];
  const headers = JSON.stringify({ host: 'cdn.corp.example', accept: '*/*', 'user-agent': 'curl/8.5.0' });
  const CHUNK = 100_000;
  for (let done = 0; done < hits; done += CHUNK) {
    db.$client.transaction(() => {
      for (let i = done; i < Math.min(hits, done + CHUNK); i++) {
        const id = ids[randomInt(ids.length)] ?? '';
        const source = randomInt(sources.length);
        insertHit.run(id, now - (hits - i) * 50, sources[source], 40000 + (i % 20000), agents[i % agents.length], `/static/${id}/logo.png`, headers, source + 1);
      }
    })();
    progress(`hits: ${Math.min(hits, done + CHUNK)}/${hits}`);
  }
  db.$client.prepare('update tokens set hit_count = (select count(*) from hits where hits.token_id = tokens.id)').run();
  db.$client.prepare('update incidents set hit_count = (select count(*) from hits where hits.incident_id = incidents.id), token_count = (select count(distinct token_id) from hits where hits.incident_id = incidents.id)').run();
  return ids;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, tokens = '100000', hits = '5000000'] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/seed.ts <db file> [tokens] [hits]');
    process.exit(2);
  }
  const db = openDatabase({ path: file });
  const t0 = Date.now();
  seed(db, Number(tokens), Number(hits), (m) => console.error(`seed ${m} (${((Date.now() - t0) / 1000).toFixed(1)} s)`));
  closeDatabase(db);
}
