import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.ts';

/**
 * The shipped systemd unit (deploy/honeytrail.service), checked by systemd's own tools: it must
 * verify without a warning, start the compiled entry point through node, and keep its sandbox
 * (systemd-analyze security's exposure score) at "OK" or better.
 */
const ROOT = join(import.meta.dirname, '../..');
const UNIT = readFileSync(join(ROOT, 'deploy/honeytrail.service'), 'utf8');
const tmp = tempDir('honeytrail-unit-');
afterAll(() => tmp.cleanup());

/** The unit as installed on this machine: node where it is here, the checkout where it is here. */
function installed(): string {
  const path = join(tmp.dir, 'honeytrail.service');
  writeFileSync(path, UNIT.replace('/usr/bin/node /opt/honeytrail/bin/serve.js', `${process.execPath} ${join(ROOT, 'bin/serve.js')}`).replace('WorkingDirectory=/opt/honeytrail', `WorkingDirectory=${ROOT}`));
  return path;
}

describe('systemd unit', () => {
  it('verifies cleanly (no unknown keys, an executable command) and runs the compiled server through bin/serve.js', () => {
    expect(UNIT).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/honeytrail\/bin\/serve\.js$/m);
    const r = spawnSync('systemd-analyze', ['verify', installed()], { encoding: 'utf8' });
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('is sandboxed: only CAP_NET_BIND_SERVICE, no new privileges, a read-only system, exposure OK or better', () => {
    for (const line of ['CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'UMask=0077']) {
      expect(UNIT).toContain(`\n${line}\n`);
    }
    const report = execFileSync('systemd-analyze', ['security', '--offline=true', installed()], { encoding: 'utf8' });
    const score = Number(/Overall exposure level for [\w.-]+: ([\d.]+)/.exec(report)?.[1]);
    expect(score).toBeLessThanOrEqual(2);
  });
});
