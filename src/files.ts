import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * Files at rest hold planted secrets, hit data and API keys, so Honeytrail creates them for its
 * own user only: directories 0700, files 0600, whatever the umask. SQLite gives the WAL and
 * shared-memory files the database file's mode, so a database created 0600 keeps them 0600 too.
 */

/** Owner-only modes. */
export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/**
 * Create `dir` (and missing parents) 0700. A directory that already exists is left as the
 * operator made it (it may be a shared mount), but reported when others can read it.
 */
export function ensurePrivateDir(dir: string): { loose: boolean } {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    // mkdir applies the umask, which may only take bits away; chmod states the mode exactly.
    chmodSync(dir, PRIVATE_DIR);
    return { loose: false };
  }
  return { loose: (statSync(dir).mode & 0o077) !== 0 };
}

/**
 * Make `file` owner-only: create it empty 0600 when missing, or take group and other bits away
 * from one an earlier version created 0644. Returns whether its mode was changed.
 */
export function ensurePrivateFile(file: string): boolean {
  if (!existsSync(file)) {
    closeSync(openSync(file, 'a', PRIVATE_FILE));
    chmodSync(file, PRIVATE_FILE);
    return false;
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return false;
  chmodSync(file, mode & 0o700);
  return true;
}
