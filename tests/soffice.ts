import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * LibreOffice headless (`soffice`), as the document tests run it: a profile of its own under
 * `dir` (so parallel suites never share one), `args` then `--outdir`, asynchronously (the server
 * answering its fetches runs in this process), and the process group killed if it outlives
 * `timeoutMs`. Converting loads a document exactly as opening it does, linked images included.
 */
export function soffice(dir: string, args: readonly string[], outdir: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const profile = pathToFileURL(join(dir, 'profile')).href;
  return new Promise((resolve, reject) => {
    const child = spawn('soffice', [`-env:UserInstallation=${profile}`, '--headless', '--norestore', '--nolockcheck', ...args, '--outdir', outdir], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.pid !== undefined && process.kill(-child.pid, 'SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
