import { createHash } from 'node:crypto';
import type { Config } from '../config.ts';
import { audit } from '../db/queries/audit.ts';
import { deleteSetting, getSetting, setSetting, takeSetting } from '../db/queries/settings.ts';
import { countUsers, findUserByEmail, insertUser } from '../db/queries/users.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { passwordProblem } from './password-policy.ts';
import { hashPassword } from './passwords.ts';
import { randomToken } from './session.ts';
import { safeEqual } from './csrf.ts';

/**
 * First run. With no admin account, either create one from ADMIN_EMAIL / ADMIN_PASSWORD, or
 * issue a one-time setup link (its token is stored only as a hash and dies after use or
 * `SETUP_TTL_MS`). The link goes to the console, never to the log.
 */

const SETUP_KEY = 'admin.setup_token';
/** How long a printed setup link stays valid. */
export const SETUP_TTL_MS = 24 * 3600_000;

interface StoredSetup {
  hash: string;
  expiresAt: number;
}

/** What start-up should tell the operator about the admin account. */
export type FirstRun = { kind: 'ready' } | { kind: 'bootstrapped'; email: string } | { kind: 'setup'; url: string };

const sha256 = (v: string): string => createHash('sha256').update(v).digest('hex');

/**
 * Called once at start-up. A fresh setup link replaces any earlier one, so only the link on
 * the latest console output works. `baseUrl` is where operators reach the admin listener.
 */
export async function ensureFirstAdmin(db: AnyDb, config: Config, log: Logger, baseUrl = config.ADMIN_URL): Promise<FirstRun> {
  if ((await countUsers(db)) > 0) {
    await deleteSetting(db, SETUP_KEY);
    if (config.ADMIN_EMAIL || config.ADMIN_PASSWORD) {
      log.warn(
        { email: config.ADMIN_EMAIL },
        'ADMIN_EMAIL / ADMIN_PASSWORD are ignored: an admin account exists already (they only create the first one). Change a password on the Account page or with "honeytrail admin reset-password --email ADDRESS"; then remove them from the environment',
      );
    }
    return { kind: 'ready' };
  }
  const weak = config.ADMIN_PASSWORD ? passwordProblem(config.ADMIN_PASSWORD, config.ADMIN_EMAIL ? [config.ADMIN_EMAIL] : []) : null;
  if (weak) log.error({ email: config.ADMIN_EMAIL }, `ADMIN_PASSWORD ${weak} No admin was created from it; use the setup link instead, or set a stronger one and restart`);
  if (config.ADMIN_EMAIL && config.ADMIN_PASSWORD && !weak) {
    if (!(await findUserByEmail(db, config.ADMIN_EMAIL))) await insertUser(db, config.ADMIN_EMAIL, await hashPassword(config.ADMIN_PASSWORD));
    await audit(db, { actor: 'system', action: 'user.bootstrap', targetType: 'user', targetId: config.ADMIN_EMAIL });
    log.info({ email: config.ADMIN_EMAIL }, 'first run: created the admin account from ADMIN_EMAIL');
    return { kind: 'bootstrapped', email: config.ADMIN_EMAIL };
  }
  const token = randomToken();
  await setSetting(db, SETUP_KEY, { hash: sha256(token), expiresAt: Date.now() + SETUP_TTL_MS } satisfies StoredSetup);
  log.warn('first run: no admin account yet; open the setup link printed on the console');
  return { kind: 'setup', url: `${baseUrl}/setup?token=${token}` };
}

/** Whether `token` is the live setup token (and no admin exists yet). */
export async function setupTokenValid(db: AnyDb, token: string): Promise<boolean> {
  if ((await countUsers(db)) > 0) return false;
  const stored = await getSetting<StoredSetup>(db, SETUP_KEY);
  return !!stored && stored.expiresAt > Date.now() && safeEqual(sha256(token), stored.hash);
}

/**
 * Burn the setup token before the first admin is created. Returns false when it was gone
 * already: of two setup forms submitted at once, only the one that took the token goes on.
 */
export async function consumeSetupToken(db: AnyDb): Promise<boolean> {
  return (await takeSetting<StoredSetup>(db, SETUP_KEY)) !== undefined;
}
