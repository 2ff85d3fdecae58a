import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';

/**
 * Before any test runs (vitest globalSetup): the real consumers and services the suite drives
 * must be on this machine. On a fresh Debian machine, run as root, whatever is missing is
 * installed and started with `.ci/run --deps-only` (what CI runs first); anywhere else the run
 * stops at once, naming every missing tool and the one command that installs them, instead of
 * failing test by test with ENOENT.
 */

/** Commands the tests run, with the Debian package that provides each. */
const TOOLS: readonly [command: string, pkg: string][] = [
  ['soffice', 'libreoffice-writer-nogui'],
  ['qpdf', 'qpdf'],
  ['dig', 'bind9-dnsutils'],
  ['kubectl', 'kubernetes-client'],
  ['zbarimg', 'zbar-tools'],
  ['rsvg-convert', 'librsvg2-bin'],
  ['xmllint', 'libxml2-utils'],
  ['pngtopnm', 'netpbm'],
  ['giftopnm', 'netpbm'],
  ['jpegtopnm', 'netpbm'],
  ['unzip', 'unzip'],
  ['zipinfo', 'unzip'],
  ['mariadb', 'mariadb-client'],
  ['openssl', 'openssl'],
  ['systemd-analyze', 'systemd'],
  ['svn', 'subversion'],
  ['svnadmin', 'subversion'],
  ['apache2', 'apache2'],
  ['htpasswd', 'apache2-utils'],
  ['wg', 'wireguard-tools'],
];

/** Services on 127.0.0.1 the tests use (tests create and drop their own databases). */
const SERVICES: readonly [name: string, port: number][] = [
  ['PostgreSQL', 5432],
  ['MariaDB', 3306],
];

const CHROMIUM = '/usr/bin/chromium';
/** Apache's Subversion module, which the svn kind's answers are compared with. */
const MOD_DAV_SVN = '/usr/lib/apache2/modules/mod_dav_svn.so';
/** The face PDF decoys embed (src/tokens/pdf.ts), from either Debian package. */
const LIBERATION = ['/usr/share/fonts/truetype/liberation2', '/usr/share/fonts/truetype/liberation'].map((d) => `${d}/LiberationSans-Regular.ttf`);

const onPath = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
    s.once('timeout', () => {
      s.destroy();
      done(false);
    });
  });
}

async function missing(): Promise<string[]> {
  const out = TOOLS.filter(([c]) => !onPath(c)).map(([c, p]) => `${c} (Debian package ${p})`);
  if (!existsSync(CHROMIUM)) out.push(`${CHROMIUM} (Debian package chromium)`);
  if (!existsSync(MOD_DAV_SVN)) out.push(`${MOD_DAV_SVN} (Debian package libapache2-mod-svn)`);
  if (!LIBERATION.some((f) => existsSync(f))) out.push('Liberation Sans (Debian package fonts-liberation)');
  for (const [name, port] of SERVICES) if (!(await listening(port))) out.push(`${name} on 127.0.0.1:${port}`);
  return out;
}

export default async function preflight(): Promise<void> {
  let gaps = await missing();
  if (gaps.length === 0) return;
  const ci = resolve(import.meta.dirname, '../.ci/run');
  const canInstall = process.getuid?.() === 0 && onPath('apt-get') && process.env.HONEYTRAIL_TEST_NO_INSTALL !== '1';
  if (canInstall) {
    process.stderr.write(`\nThe tests need: ${gaps.join(', ')}.\nInstalling and starting them with ${ci} --deps-only (Debian packages; a few minutes the first time) …\n\n`);
    spawnSync(ci, ['--deps-only'], { stdio: 'inherit' });
    gaps = await missing();
    if (gaps.length === 0) return;
  }
  throw new Error(
    `The tests drive real programs and services that this machine lacks:\n  - ${gaps.join('\n  - ')}\n` +
      `Install and start them with one command (Debian, as root): sudo ${ci} --deps-only\n` +
      '(it installs the Debian packages named above, starts MariaDB and PostgreSQL on 127.0.0.1, and changes nothing else).',
  );
}
