import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listAlerts } from '../../src/db/queries/alerts.ts';
import { makeToken, startTestServer, tempDir } from '../helpers.ts';
import { getFrom, smtpSink, waitFor, webhookReceiver } from './support.ts';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

const ROOT = join(import.meta.dirname, '../..');

function run(script: string, env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? `signal ${signal}: ${out}`)));
  return { child, exited, output: () => out };
}

describe('entry points', () => {
  it('npm run worker: a separate worker process delivers what listeners with ALERT_WORKER_ENABLED=false queued', async () => {
    const sink = await smtpSink();
    cleanups.push(() => sink.close());
    const env = { SMTP_URL: `smtp://127.0.0.1:${sink.port}`, ALERT_TO: 'soc@corp.example', ALERT_POLL_MS: '50', LOG_LEVEL: 'silent' };
    const srv = await startTestServer({ ...env, ALERT_WORKER_ENABLED: 'false' });
    cleanups.push(() => srv.stop());
    const { url } = await makeToken(srv.app.deps.db, srv.config, { kind: 'web-bug', name: 'split deployment' });
    await getFrom(url ?? '');
    const worker = run('src/worker-main.ts', { ...env, DATABASE_URL: srv.config.DATABASE_URL, DATA_DIR: srv.dir });
    cleanups.push(() => void worker.child.kill('SIGKILL'));
    await waitFor(() => sink.mails.length >= 1, 20_000, 'mail from the worker process');
    await waitFor(async () => (await listAlerts(srv.app.deps.db, { status: 'sent', limit: 5 })).length === 1, 5000, 'row sent');
    // It keeps running, waiting for more work, until told to stop.
    await new Promise((r) => setTimeout(r, 500));
    expect(worker.child.exitCode).toBeNull();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(sink.mails).toHaveLength(1);
  });

  it('npm run drill: reports each channel and exits non-zero when one fails', async () => {
    const sink = await smtpSink();
    const rx = await webhookReceiver();
    const t = tempDir();
    cleanups.push(() => sink.close(), () => rx.close(), () => t.cleanup());
    const drill = run(
      'src/cli/drill.ts',
      {
        DATABASE_URL: `file:${join(t.dir, 'd.db')}`,
        DATA_DIR: t.dir,
        SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
        ALERT_TO: 'soc@corp.example',
        WEBHOOK_ALLOW_PRIVATE: '127.0.0.1',
      },
      ['--webhook', rx.url, '--webhook', 'http://192.168.0.1/x'],
    );
    expect(await drill.exited).toBe(1);
    const out = drill.output();
    expect(out).toMatch(/^OK +email +soc@corp\.example/m);
    expect(out).toMatch(new RegExp(`^OK +webhook +${rx.url.replace(/\./g, '\\.')}`, 'm'));
    expect(out).toMatch(/^FAIL webhook +http:\/\/192\.168\.0\.1\/x .*refused/m);
    expect(sink.mails).toHaveLength(1);
    expect(rx.requests).toHaveLength(1);
  });
});
