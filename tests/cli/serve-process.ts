import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Running `honeytrail serve` as a real process, for the tests that split roles across processes. */
export const BIN = join(import.meta.dirname, '../../bin/honeytrail.js');
const run = promisify(execFile);

/** Run `honeytrail ARGS` to its end: the exit code and output (a non-zero exit is a result, not a throw). */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeout = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env, timeout });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** Every process started here, so a test's afterAll/afterEach can kill what is left. */
export const children: ChildProcess[] = [];

/** Start `honeytrail serve ...`; resolves with the banner once it is printed (within `waitMs`). `onStdout` gets its log lines. */
export async function serve(args: string[], env: NodeJS.ProcessEnv, waitMs = 30_000, onStdout?: (text: string) => void): Promise<{ child: ChildProcess; banner: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env, stdio: ['ignore', onStdout ? 'pipe' : 'ignore', 'pipe'] });
  children.push(child);
  if (onStdout) child.stdout?.on('data', (d) => onStdout(String(d)));
  let err = '';
  child.stderr?.on('data', (d) => (err += String(d)));
  for (let i = 0; i < waitMs / 100; i++) {
    if (/Honeytrail is running[\s\S]*\n\n/.test(err)) return { child, banner: err };
    if (child.exitCode !== null) throw new Error(`serve ${args.join(' ')} exited ${child.exitCode}: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`serve ${args.join(' ')} did not start: ${err}`);
}

/** The port a banner line (`Public`, `DNS`, `Admin API`) names. */
export const portIn = (banner: string, label: string): number => Number(new RegExp(`${label}\\s*: (?:http://)?127\\.0\\.0\\.1:(\\d+)`).exec(banner)?.[1] ?? NaN);

/** SIGTERM and the exit code. */
export function stopped(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}
