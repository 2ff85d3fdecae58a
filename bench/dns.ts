import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ask, start as startChild, stop } from './child.ts';

/**
 * DNS trigger throughput: Honeytrail's DNS listener answering token queries (every one a hit
 * committed before the answer) next to a bare `dgram` responder, measured the same way in the
 * same run. Load comes from dnsperf when installed (Debian `dnsperf`), else a bounded node
 * load generator. `npm run bench` calls `benchDns` once; this file also runs the two servers
 * (forked with `bare` or `honeytrail <dir>` as argument).
 */

const ZONE = 'bench.example.test';
const TOKENS = 50;
const run = promisify(execFile);
const start = (args: string[]) => startChild<Ready>('bench/dns.ts', args);

interface Ready {
  port: number;
  ids?: string[];
}
interface Load {
  qps: number;
  completed: number;
  lost: number;
  avgLatencyMs: number;
  tool: string;
}

async function hasDnsperf(): Promise<boolean> {
  try {
    await run('dnsperf', ['-h']);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code !== 'ENOENT';
  }
}

/** A query file of token names: mixed case and data labels, as resolvers and tools send them. */
export function queryFile(dir: string, ids: readonly string[]): string {
  const lines: string[] = [];
  for (let i = 0; i < 5000; i++) {
    const id = ids[i % ids.length] ?? '';
    const name = i % 3 === 0 ? `u${i}.ws${randomInt(999)}.corp.ini.${id}.${ZONE}` : `${i % 2 ? id.toUpperCase() : id}.${ZONE}`;
    lines.push(`${name} ${['A', 'AAAA', 'TXT', 'A'][i % 4]}`);
  }
  const file = join(dir, 'dns-queries.txt');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

export async function dnsperf(port: number, file: string, seconds: number): Promise<Load> {
  const { stdout } = await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', '4', '-q', '200', '-t', '2'], { maxBuffer: 1 << 22 });
  const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? 0);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    tool: 'dnsperf',
  };
}

/** Fallback load: a window of outstanding UDP queries for `seconds`, counting answers. */
async function nodeLoad(port: number, file: string, seconds: number): Promise<Load> {
  const dnsPacket = (await import('dns-packet')).default;
  const { readFileSync } = await import('node:fs');
  const queries = readFileSync(file, 'utf8').trim().split('\n').map((l, i) => {
    const [name = '', type = 'A'] = l.split(' ');
    return dnsPacket.encode({ type: 'query', id: i % 65_535, questions: [{ name, type: type as 'A' }] });
  });
  const sock = createSocket('udp4');
  let completed = 0;
  let sent = 0;
  const until = Date.now() + seconds * 1000;
  await new Promise<void>((resolve) => {
    const send = () => {
      if (Date.now() >= until) return resolve();
      sock.send(queries[sent++ % queries.length] ?? Buffer.alloc(0), port, '127.0.0.1');
    };
    sock.on('message', () => {
      completed++;
      send();
    });
    sock.bind(0, '127.0.0.1', () => {
      for (let i = 0; i < 200; i++) send();
    });
  });
  sock.close();
  return { qps: completed / seconds, completed, lost: sent - completed, avgLatencyMs: 0, tool: 'node load generator' };
}

/** Measure the bare responder and Honeytrail; returns table rows for bench/run.ts. */
export async function benchDns(dir: string, seconds: number): Promise<Record<string, unknown>[]> {
  const tool = (await hasDnsperf()) ? dnsperf : nodeLoad;
  process.stderr.write(`DNS trigger: ${seconds}s per target with ${tool === dnsperf ? 'dnsperf' : 'a node load generator (dnsperf not installed)'}\n`);
  const ht = await start(['honeytrail', dir]);
  const file = queryFile(dir, ht.ready.ids ?? []);
  process.stderr.write('  bare dgram responder …\n');
  const bare = await start(['bare']);
  const baseline = await tool(bare.ready.port, file, seconds);
  await stop(bare.child);
  process.stderr.write('  honeytrail dns listener …\n');
  const trig = await tool(ht.ready.port, file, seconds);
  const stored = await ask<{ hits: number; batches: number }>(ht.child, 'count');
  await stop(ht.child);
  const ratio = trig.qps / baseline.qps;
  console.log(`dns ratio honeytrail/bare = ${ratio.toFixed(2)} (target >= 0.5); every answered token query stored: ${stored.hits >= trig.completed ? 'yes' : 'NO'} (${stored.hits} hits for ${trig.completed} answers)`);
  return [
    { target: 'bare dgram responder (dns baseline)', reqPerSec: Math.round(baseline.qps), avgLatencyMs: Number(baseline.avgLatencyMs.toFixed(2)), errors: baseline.lost, tool: baseline.tool },
    { target: 'honeytrail dns trigger', reqPerSec: Math.round(trig.qps), avgLatencyMs: Number(trig.avgLatencyMs.toFixed(2)), errors: trig.lost, answered: trig.completed, storedHits: stored.hits, hitsPerCommit: Number((stored.hits / Math.max(1, stored.batches)).toFixed(1)), ratio: Number(ratio.toFixed(2)), tool: trig.tool },
  ];
}

/** Baseline: the least a dgram server can do to answer an A query (copy the question, append one answer). */
function serveBare(): void {
  const sock = createSocket('udp4');
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 17) return;
    let end = 12;
    while (end < msg.length && msg[end] !== 0) end += (msg[end] ?? 0) + 1;
    const question = msg.subarray(0, end + 5);
    const reply = Buffer.concat([question, answer]);
    reply[2] = 0x84;
    reply[3] = 0;
    reply.writeUInt16BE(1, 4);
    reply.writeUInt16BE(1, 6);
    reply.writeUInt32BE(0, 8);
    sock.send(reply, rinfo.port, rinfo.address);
  });
  sock.bind(0, '127.0.0.1', () => process.send?.({ port: sock.address().port }));
  process.on('SIGTERM', () => sock.close(() => process.exit(0)));
}

async function serveHoneytrail(dir: string, databaseUrl = `file:${dir}/bench-dns.db`): Promise<void> {
  const { loadConfig } = await import('../src/config.ts');
  const { createLogger } = await import('../src/logger.ts');
  const { startHoneytrail } = await import('../src/server.ts');
  const { rawQuery } = await import('../src/db/store.ts');
  const { createToken } = await import('../src/tokens/service.ts');
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dir,
    // The DNS listener alone (and any number of these on one database: no other fixed port).
    PUBLIC_ENABLED: 'false',
    ADMIN_ENABLED: 'false',
    SMTP_ENABLED: 'false',
    SSH_ENABLED: 'false',
    PGWIRE_ENABLED: 'false',
    MYSQL_ENABLED: 'false',
    WIREGUARD_ENABLED: 'false',
    DNS_HOST: '127.0.0.1',
    DNS_PORT: '0',
    DNS_ZONE: ZONE,
    // Limiter on (its cost is measured) but far above the load, since all load comes from one address.
    DNS_RATE_LIMIT: '100000000',
    // Every query is its own row here, as distinct lookups from many resolvers would be (flood control folds identical ones).
    FLOOD_THRESHOLD: '100000',
    // Throughput of recording is measured here; the storage budget is measured by BENCH_ONLY=hostile.
    HIT_STORAGE_BUDGET: '0',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  });
  const app = await startHoneytrail({ config, log: createLogger(config.LOG_LEVEL) });
  const ids: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    const kind = i % 2 ? 'dns' : 'windows-folder';
    ids.push((await createToken(app.deps.db, { config }, { kind, name: `bench ${i}`, params: {} }, { id: 'bench' })).token.id);
  }
  process.send?.({ port: app.port('dns'), ids });
  process.on('message', async (msg) => {
    if (msg !== 'count') return;
    const [n] = await rawQuery<{ n: number }>(app.deps.db, 'select coalesce(sum(repeat_count), 0) as n from hits');
    process.send?.({ hits: n?.n ?? 0, batches: app.deps.recorder.stats.batches });
  });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

if (process.argv[2] === 'bare') serveBare();
// `honeytrail DIR [DATABASE_URL]`: a PostgreSQL URL runs the same listener on PostgreSQL.
else if (process.argv[2] === 'honeytrail') void serveHoneytrail(process.argv[3] ?? './bench/results/tmp', process.argv[4]);

/**
 * DNS on PostgreSQL answered by `processes` processes (`honeytrail serve --only dns` with
 * DNS_PROCESSES, sharing one socket through node:cluster), on a fresh database; every answered
 * query must be stored. On this machine the processes, PostgreSQL and dnsperf share the same
 * two cores, so the figure shows what a second process adds where no core is free.
 */
export async function benchDnsProcesses(dir: string, seconds: number, databaseUrl: string, processes: number): Promise<Record<string, unknown>> {
  const { loadConfig } = await import('../src/config.ts');
  const { openPostgres, closePostgres } = await import('../src/db/pg.ts');
  const { rawQuery } = await import('../src/db/store.ts');
  const { createToken } = await import('../src/tokens/service.ts');
  const { portIn, serve, stopped } = await import('../tests/cli/serve-process.ts');
  mkdirSync(dir, { recursive: true });
  const env = { PATH: process.env.PATH, DATABASE_URL: databaseUrl, DATA_DIR: dir, DNS_HOST: '127.0.0.1', DNS_PORT: '0', DNS_ZONE: ZONE, DNS_RATE_LIMIT: '0', FLOOD_THRESHOLD: '100000', HIT_STORAGE_BUDGET: '0', LOG_LEVEL: 'info', DNS_PROCESSES: String(processes) };
  const server = await serve(['--only', 'dns'], env, 60_000);
  const port = portIn(server.banner, 'DNS');
  const db = await openPostgres({ url: databaseUrl, max: 2 });
  try {
    const config = loadConfig({ DATABASE_URL: databaseUrl, DATA_DIR: dir, DNS_ZONE: ZONE });
    const ids: string[] = [];
    for (let i = 0; i < TOKENS; i++) ids.push((await createToken(db, { config }, { kind: i % 2 ? 'dns' : 'windows-folder', name: `bench ${i}`, params: {} }, { id: 'bench' })).token.id);
    process.stderr.write(`  honeytrail dns on PostgreSQL, DNS_PROCESSES=${processes} …\n`);
    const load = await dnsperf(port, queryFile(dir, ids), seconds);
    const stored = Number((await rawQuery<{ n: string }>(db, 'select coalesce(sum(repeat_count), 0) as n from hits'))[0]?.n ?? 0);
    console.log(`dns on PostgreSQL, DNS_PROCESSES=${processes}: ${Math.round(load.qps)} q/s; every answered token query stored: ${stored >= load.completed ? 'yes' : 'NO'} (${stored} hits for ${load.completed} answers)`);
    return { target: `honeytrail dns trigger (postgresql, DNS_PROCESSES=${processes})`, reqPerSec: Math.round(load.qps), avgLatencyMs: Number(load.avgLatencyMs.toFixed(2)), errors: load.lost, answered: load.completed, storedHits: stored, tool: load.tool };
  } finally {
    await closePostgres(db);
    await stopped(server.child);
  }
}
