import { fork, type ChildProcess } from 'node:child_process';

/**
 * The bench's servers run as processes of their own (their CPU and memory are theirs, not the
 * harness's): started with tsx, ready when their first message arrives, asked questions over IPC.
 */

/** Fork `script` with `args`; resolves with its first message (where it listens). BENCH_CPU_PROF=DIR: it writes a V8 CPU profile there when it stops. */
export function start<R>(script: string, args: string[] = []): Promise<{ child: ChildProcess; ready: R }> {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = fork(script, args, { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ready: m as R }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** Send `msg` and resolve with the child's next message. */
export function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

/** SIGTERM, resolved once the child has exited. */
export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
