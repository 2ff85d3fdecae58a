import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { request as httpRequest, Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import dnsPacket from 'dns-packet';
import nodemailer from 'nodemailer';
import { ask } from './child.ts';

/**
 * Hostile load (issue 15, BENCH_ONLY=hostile): against one Honeytrail process with every
 * default limit, (1) pathological inputs (the quadratic-regex paths, hostile SigV4, basic and
 * form input against every HTTP kind from 32 connections, plus ten 500 KB mails of
 * `http://....a` links), (2) one source flooding a token with a new query string per request at
 * full speed, (3) the same flood from a new source per request (X-Forwarded-For through
 * TRUST_PROXY). During each phase the other listeners are probed (DNS and admin API latency)
 * and the process's event-loop delay is sampled; the database's growth is measured per phase.
 * The budgets these are held to are in docs/security.md ("Storage and CPU budgets").
 */

interface Ready {
  public: number;
  admin: number;
  dns: number;
  smtp: number;
  zone: string;
  key: string;
  http: { kind: string; path: string; headers: Record<string, string> }[];
  floodPath: string;
  mailTo: string;
  budgets: { rateLimit: number; actionRows: number; sourceRows: number; storagePerMinute: number };
}
interface Size {
  bytes: number;
  rows: number;
  hits: number;
  counted: number;
  unstored: number;
  rateLimited: number;
  folded: Record<string, number>;
  rss: number;
}
interface Eld {
  p50: number;
  p99: number;
  max: number;
}

/** Budgets stated in docs/security.md; the bench prints whether each phase met them. */
export const HOSTILE_BUDGETS = {
  /** Event-loop delay p99 of the process (every listener waits on it), ms. */
  eventLoopP99Ms: 50,
  /** DNS answers to other resolvers, p99, ms. */
  dnsP99Ms: 100,
  /** Admin API (token list), p99, ms. */
  adminP99Ms: 250,
  /** Rows one source's query-varying flood may add in 10 s. */
  oneSourceRows: 40,
  /** Bytes the database (file + WAL) may grow per estimated byte the storage budget let in. */
  diskPerBudgetByte: 3,
} as const;

const SECONDS = Number(process.env.BENCH_HOSTILE_SECONDS ?? 10);

function pct(sorted: number[], p: number): number {
  return Math.round((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0) * 10) / 10;
}

/** Probe DNS (a name under the zone that is no token: nothing recorded) and the admin API until `stop`. */
function probe(r: Ready): { stop(): Promise<{ dnsP99: number; adminP99: number; dnsLost: number; samples: number }> } {
  const dns: number[] = [];
  const admin: number[] = [];
  let lost = 0;
  let running = true;
  const sock = createSocket('udp4');
  const waiting = new Map<number, { at: number; done: () => void }>();
  sock.on('message', (msg) => {
    const id = msg.readUInt16BE(0);
    const w = waiting.get(id);
    if (!w) return;
    waiting.delete(id);
    dns.push(performance.now() - w.at);
    w.done();
  });
  let id = 0;
  const dnsLoop = (async () => {
    while (running) {
      id = (id % 60_000) + 1;
      const q = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `probe${id}.${r.zone}` }] });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          lost++;
          resolve();
        }, 2000);
        waiting.set(id, { at: performance.now(), done: () => (clearTimeout(timer), resolve()) });
        sock.send(q, r.dns, '127.0.0.1');
      });
      await new Promise((x) => setTimeout(x, 20));
    }
  })();
  const adminLoop = (async () => {
    while (running) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${r.admin}/api/v1/tokens?limit=50`, { headers: { authorization: `Bearer ${r.key}` } });
      await res.arrayBuffer();
      admin.push(performance.now() - t);
      await new Promise((x) => setTimeout(x, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await Promise.all([dnsLoop, adminLoop]);
      sock.close();
      dns.sort((a, b) => a - b);
      admin.sort((a, b) => a - b);
      return { dnsP99: pct(dns, 0.99), adminP99: pct(admin, 0.99), dnsLost: lost, samples: dns.length };
    },
  };
}

/** The pathological request shapes (the worst of tests/security/pathological.test.ts). */
function hostileRequests(r: Ready): { path: string; method: string; headers: Record<string, string>; body?: string }[] {
  const out: { path: string; method: string; headers: Record<string, string>; body?: string }[] = [];
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  for (const t of r.http) {
    out.push({ path: `${t.path}${'/'.repeat(4000)}a`.slice(0, 4090), method: 'GET', headers: t.headers });
    out.push({ path: `${t.path}${t.path.includes('?') ? '&' : '?'}${'&'.repeat(4000)}`, method: 'GET', headers: t.headers });
    out.push({ path: t.path, method: 'GET', headers: { authorization: `AWS4-HMAC-SHA256 ${'Credential='.repeat(370)}` } });
    out.push({ path: t.path, method: 'GET', headers: { authorization: `Basic ${'A'.repeat(4000)} !` } });
    out.push({ path: t.path, method: 'POST', headers: form, body: `username=${'%41'.repeat(10000)}&password=${'='.repeat(30000)}` });
  }
  return out;
}

function send(port: number, req: { path: string; method: string; headers: Record<string, string>; body?: string }, agent: Agent): Promise<number> {
  return new Promise((resolve) => {
    const r = httpRequest({ host: '127.0.0.1', port, agent, method: req.method, path: req.path, headers: req.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', () => resolve(0));
    r.end(req.body);
  });
}

async function pathological(r: Ready): Promise<{ requests: number; mails: number }> {
  const reqs = hostileRequests(r);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const until = performance.now() + SECONDS * 1000;
  let n = 0;
  // Many sources, so the per-source rate limit does not hide the parsing cost being measured.
  const worker = async (w: number) => {
    while (performance.now() < until) {
      const req = reqs[n++ % reqs.length];
      if (req) await send(r.public, { ...req, headers: { ...req.headers, 'x-forwarded-for': `10.${w}.${(n >> 8) & 255}.${n & 255}` } }, agent);
    }
  };
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: r.smtp, secure: false, ignoreTLS: true });
  const body = `http://${'.'.repeat(1990)}a `.repeat(250);
  const mails = (async () => {
    let sent = 0;
    for (let i = 0; i < 10 && performance.now() < until; i++) {
      await transport.sendMail({ from: 'x@evil.example', to: r.mailTo, subject: `links ${i}`, text: body }).then(() => sent++, () => undefined);
    }
    return sent;
  })();
  await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
  const sent = await mails;
  agent.destroy();
  transport.close();
  return { requests: n, mails: sent };
}

async function flood(r: Ready, manySources: boolean): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url: `http://127.0.0.1:${r.public}`,
    connections: 64,
    duration: SECONDS,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          i++;
          const headers = { ...(req.headers ?? {}), 'user-agent': `flood/${i % 13}`, ...(manySources ? { 'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` } : {}) };
          return { ...req, path: `${r.floodPath}${r.floodPath.includes('?') ? '&' : '?'}v=${i}&_=${Date.now()}`, headers };
        },
      },
    ],
  });
}

export interface HostileRow {
  phase: string;
  seconds: number;
  requests: number;
  eventLoopP99ms: number;
  eventLoopMaxMs: number;
  dnsP99ms: number;
  adminP99ms: number;
  rowsAdded: number;
  hitsCounted: number;
  unstored: number;
  rateLimited: number;
  dbGrowthKiB: number;
  withinBudget: boolean;
}

/** Run the three phases against a fresh server in `dir`; returns one row per phase (and an idle baseline). */
export async function benchHostile(dir: string): Promise<HostileRow[]> {
  const child = fork('bench/servers/hostile.ts', [dir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const r = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Ready));
    child.once('exit', (code) => reject(new Error(`hostile bench server exited with ${code}`)));
  });
  const rows: HostileRow[] = [];
  try {
    const phase = async (name: string, run: () => Promise<number>): Promise<void> => {
      const before = await ask<Size>(child, 'size');
      await ask(child, 'eld-start');
      const probes = probe(r);
      const t = performance.now();
      const requests = await run();
      const seconds = Math.round((performance.now() - t) / 100) / 10;
      const p = await probes.stop();
      const eld = await ask<Eld>(child, 'eld-stop');
      await new Promise((x) => setTimeout(x, 1500)); // let the last commits and a checkpoint land
      const after = await ask<Size>(child, 'size');
      const growth = after.bytes - before.bytes;
      const rowsAdded = after.rows - before.rows;
      const budget = r.budgets.storagePerMinute * (1 + seconds / 60);
      const fits =
        eld.p99 <= HOSTILE_BUDGETS.eventLoopP99Ms &&
        p.dnsP99 <= HOSTILE_BUDGETS.dnsP99Ms &&
        p.adminP99 <= HOSTILE_BUDGETS.adminP99Ms &&
        growth <= budget * HOSTILE_BUDGETS.diskPerBudgetByte &&
        (name !== 'one-source query-varying flood' || rowsAdded <= HOSTILE_BUDGETS.oneSourceRows);
      rows.push({
        phase: name,
        seconds,
        requests,
        eventLoopP99ms: Math.round(eld.p99 * 10) / 10,
        eventLoopMaxMs: Math.round(eld.max * 10) / 10,
        dnsP99ms: p.dnsP99,
        adminP99ms: p.adminP99,
        rowsAdded,
        hitsCounted: after.counted - before.counted,
        unstored: after.unstored - before.unstored,
        rateLimited: after.rateLimited - before.rateLimited,
        dbGrowthKiB: Math.round(growth / 1024),
        withinBudget: name === 'idle' ? true : fits,
      });
    };
    await phase('idle', async () => {
      await new Promise((x) => setTimeout(x, 3000));
      return 0;
    });
    process.stderr.write(`  pathological inputs for ${SECONDS}s (32 connections, every HTTP kind) and 500 KB link mails …\n`);
    await phase('pathological inputs', async () => {
      const res = await pathological(r);
      return res.requests + res.mails;
    });
    process.stderr.write(`  one source, a new query string per request, ${SECONDS}s at full speed …\n`);
    await phase('one-source query-varying flood', async () => (await flood(r, false)).requests.total);
    process.stderr.write(`  a new source per request (X-Forwarded-For), ${SECONDS}s at full speed …\n`);
    await phase('many-source flood', async () => (await flood(r, true)).requests.total);
  } finally {
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
  return rows;
}
