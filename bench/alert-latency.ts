import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startHoneytrail } from '../src/server.ts';
import { createToken } from '../src/tokens/service.ts';

/**
 * Alert latency: time from sending a trigger request to the alert mail being accepted by a
 * local SMTP server (smtp-server on 127.0.0.1), with the default poll interval (the worker
 * is woken by the hit's commit). Each sample comes from its own loopback source address, so
 * it opens a new incident and alerts at once (no digest). Env: BENCH_ALERT_SAMPLES (50).
 */
export async function measureAlertLatency(dir: string): Promise<{ samples: number; p50ms: number; p95ms: number; maxms: number }> {
  const samples = Number(process.env.BENCH_ALERT_SAMPLES ?? 50);
  const waiting = new Map<string, (at: number) => void>();
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    disableReverseLookup: true,
    onData(stream, _session, cb) {
      let head = '';
      stream.on('data', (d: Buffer) => {
        if (head.length < 8192) head += d.toString('latin1');
      });
      stream.on('end', () => {
        cb();
        const src = /\b(127\.0\.1\.\d+)\b/.exec(head)?.[1];
        if (src) waiting.get(src)?.(performance.now());
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const config = loadConfig({
    DATABASE_URL: `file:${join(dir, 'alert-latency.db')}`,
    DATA_DIR: dir,
    PUBLIC_HOST: '127.0.0.1',
    PUBLIC_PORT: '0',
    ADMIN_ENABLED: 'false',
    LOG_LEVEL: 'silent',
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    ALERT_TO: 'soc@bench.example',
    // Every sample is a first alert: a decoy of its own from a source of its own, with the
    // per-minute cap on first pages (which would group the 21st and later) out of the way.
    ALERT_FIRST_PER_MINUTE: '100000',
  });
  const app = await startHoneytrail({ config, log: createLogger('silent') });
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      // Touches of one decoy from many sources are one campaign, alerted as a group digest (issue
      // 13): a decoy per sample measures what a first touch costs.
      const { artifact } = await createToken(app.deps.db, { config }, { kind: 'web-bug', name: `latency ${i}`, params: { response: 'gif' } }, { id: 'bench' });
      const url = new URL(artifact.url ?? '');
      url.port = String(app.port('public'));
      const src = `127.0.1.${(i % 250) + 1}`;
      const mailed = new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no alert mail for ${src} within 10 s`)), 10_000);
        waiting.set(src, (at) => {
          clearTimeout(t);
          resolve(at);
        });
      });
      const start = performance.now();
      await new Promise<void>((resolve, reject) => {
        http.get(url, { localAddress: src }, (res) => res.resume().on('end', () => resolve())).on('error', reject);
      });
      times.push((await mailed) - start);
      waiting.delete(src);
    }
  } finally {
    await app.close();
    await new Promise<void>((r) => smtp.close(() => r()));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const pct = (p: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0).toFixed(1));
  return { samples: sorted.length, p50ms: pct(50), p95ms: pct(95), maxms: pct(100) };
}
