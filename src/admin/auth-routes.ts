import type { Request, Response } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { countUsers, findUserByEmail, insertUser, markLogin, setRecoveryCodes, takeTotpStep, type UserRow } from '../db/queries/users.ts';
import { AppError } from '../errors.ts';
import { parse } from '../api/validate.ts';
import type { UiContext } from './context.ts';
import { preSessionToken, requireCsrf, requirePreSessionCsrf } from './csrf.ts';
import { guardedRouter } from './guard.ts';
import { errorSummary, formParse } from './messages.ts';
import { recoveryHash, totpStep } from './mfa.ts';
import { strongPassword } from './password-policy.ts';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './passwords.ts';
import { knownContext, rememberContext } from './known-good.ts';
import { consumeSetupToken, setupTokenValid } from './setup.ts';
import { endSession, sessionOf, startSession } from './session.ts';
import type { LoginThrottle } from './throttle.ts';

const loginInput = z.object({
  email: z.string().trim().toLowerCase().max(254).default(''),
  password: z.string().max(1024).default(''),
  next: z.string().max(2048).optional(),
});
const codeInput = z.object({ code: z.string().trim().max(64).default(''), next: z.string().max(2048).optional() });

/** A new account's email and password (setup page and "add admin"): a strong password, typed twice. */
export const accountInput = z
  .object({
    email: z.string().trim().toLowerCase().email('must be an email address').max(254),
    password: z.string().max(1024),
    confirm: z.string().max(1024),
  })
  .superRefine(strongPassword)
  .refine((a) => a.password === a.confirm, { message: 'does not match the password', path: ['confirm'] });

/** Labels and ids of the account form's fields, for its error summary. */
export const ACCOUNT_LABELS = { email: { label: 'Email', id: 'email' }, password: { label: 'Password', id: 'password' }, confirm: { label: 'Repeat password', id: 'confirm' } };

/** Only same-site paths are followed after login (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) && !/[\r\n]/.test(next) ? next : '/';
}

/** Both factors are in: a full session, the browser remembered as known-good, the sign-in audited. */
async function completeSignIn(ui: UiContext, req: Request, res: Response, user: UserRow, how: string): Promise<void> {
  const { db, config } = ui.deps;
  await rememberContext(db, config, req, res, user.id);
  await markLogin(db, user.id);
  await startSession(db, config, req, res, user);
  await audit(db, { actor: `user:${user.email}`, action: 'user.login', ip: req.ip, details: { factor: how } });
}

/** /login (password, then the authenticator code when the account has one), /logout and the first-run /setup page. */
export function authRoutes(ui: UiContext, throttle: LoginThrottle) {
  const { db, config } = ui.deps;
  const r = guardedRouter();

  r.get('/login', preSessionToken(config), async (req, res) => {
    if (sessionOf(res) && !sessionOf(res)?.session.mfaPending) return res.redirect(303, '/');
    const next = typeof req.query.next === 'string' ? safeNext(req.query.next) : '';
    ui.views.render(res, 'login', { title: 'Sign in', next, noAdmin: (await countUsers(db)) === 0 });
  });

  r.post('/login', preSessionToken(config), requirePreSessionCsrf, async (req, res) => {
    const input = parse(loginInput, req.body ?? {});
    const ip = req.ip ?? 'unknown';
    const again = (status: number, error: string) =>
      ui.views.render(res, 'login', { title: 'Sign in', next: safeNext(input.next), email: input.email, error }, status);
    const user = input.email ? await findUserByEmail(db, input.email) : undefined;
    const known = await knownContext(db, user?.id, req);
    // Counted before the password check, in one synchronous step: parallel attempts cannot pass the limit while hashing.
    const gate = throttle.begin({ account: input.email, address: ip, device: known.device, knownAddress: known.knownAddress });
    if (!gate.ok) {
      res.set('Retry-After', String(gate.retryAfter));
      const wait = gate.retryAfter < 60 ? `${gate.retryAfter} second${gate.retryAfter === 1 ? '' : 's'}` : `${Math.ceil(gate.retryAfter / 60)} minute${Math.ceil(gate.retryAfter / 60) === 1 ? '' : 's'}`;
      return again(429, `Too many failed sign-in attempts. Try again in ${wait}.`);
    }
    const ok = await verifyPassword(input.password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
    if (!user || !ok || user.disabledAt) {
      await audit(db, { actor: `user:${input.email || '(blank)'}`, action: 'user.login_failed', ip });
      return again(401, 'Email or password is not right.');
    }
    gate.attempt.succeeded();
    if (user.totpEnabledAt && user.totpSecret) {
      // The password was right; the session opens nothing until the code is in.
      await startSession(db, config, req, res, user, true);
      const next = safeNext(input.next);
      return res.redirect(303, `/login/mfa${next !== '/' ? `?next=${encodeURIComponent(next)}` : ''}`);
    }
    await completeSignIn(ui, req, res, user, 'password');
    res.redirect(303, safeNext(input.next));
  });

  const pendingUser = (res: Response): UserRow | undefined => {
    const s = sessionOf(res);
    return s?.session.mfaPending ? s.user : undefined;
  };

  r.get('/login/mfa', (req, res) => {
    if (!pendingUser(res)) return res.redirect(303, '/login');
    ui.views.render(res, 'login-mfa', { title: 'Authenticator code', next: typeof req.query.next === 'string' ? safeNext(req.query.next) : '' });
  });

  r.post('/login/mfa', requireCsrf, async (req, res) => {
    const user = pendingUser(res);
    if (!user?.totpSecret) return res.redirect(303, '/login');
    const input = parse(codeInput, req.body ?? {});
    const ip = req.ip ?? 'unknown';
    const known = await knownContext(db, user.id, req);
    // Codes are guessed against the same limits as passwords (per account and address, slowdown per account).
    const gate = throttle.begin({ account: user.email, address: ip, device: known.device, knownAddress: known.knownAddress });
    const again = (status: number, error: string) => {
      const summary = errorSummary({ code: error }, { code: { label: 'Code', id: 'code' } });
      ui.views.render(res, 'login-mfa', { title: 'Authenticator code', next: safeNext(input.next), summary, error }, status);
    };
    if (!gate.ok) {
      res.set('Retry-After', String(gate.retryAfter));
      return again(429, 'Too many wrong codes. Wait a few minutes, then try again.');
    }
    const step = totpStep(user.totpSecret, input.code);
    if (step !== null && (await takeTotpStep(db, user.id, step))) {
      gate.attempt.succeeded();
      await completeSignIn(ui, req, res, user, 'totp');
      return res.redirect(303, safeNext(input.next));
    }
    const hash = recoveryHash(input.code);
    if (input.code.length >= 10 && user.recoveryCodes.includes(hash)) {
      gate.attempt.succeeded();
      await setRecoveryCodes(db, user.id, user.recoveryCodes.filter((h) => h !== hash));
      await completeSignIn(ui, req, res, user, 'recovery-code');
      await audit(db, { actor: `user:${user.email}`, action: 'user.recovery_code_used', ip, details: { left: user.recoveryCodes.length - 1 } });
      return res.redirect(303, `/account?msg=recovery_used`);
    }
    await audit(db, { actor: `user:${user.email}`, action: 'user.login_failed', ip, details: { factor: 'totp' } });
    again(401, 'That code is not right, or it was used already. Enter the code your authenticator app shows now, or a recovery code.');
  });

  r.post('/logout', requireCsrf, async (req, res) => {
    const s = sessionOf(res);
    await endSession(db, config, req, res);
    if (s) await audit(db, { actor: `user:${s.user.email}`, action: 'user.logout', ip: req.ip });
    res.redirect(303, '/login?msg=logged_out');
  });

  r.get('/setup', preSessionToken(config), async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!(await setupTokenValid(db, token))) throw new AppError('not_found', 'This setup link is not valid: it was used already, has expired, or an admin exists. Sign in instead.');
    ui.views.render(res, 'setup', { title: 'Create the first admin', token });
  });

  r.post('/setup', preSessionToken(config), requirePreSessionCsrf, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const token = typeof body.token === 'string' ? body.token : '';
    if (!(await setupTokenValid(db, token))) throw new AppError('not_found', 'This setup link is not valid: it was used already, has expired, or an admin exists. Sign in instead.');
    const parsed = formParse(accountInput, body);
    if (!parsed.ok) {
      return ui.views.render(res, 'setup', { title: 'Create the first admin', token, email: body.email, fields: parsed.fields, summary: errorSummary(parsed.fields, ACCOUNT_LABELS) }, 400);
    }
    const hash = await hashPassword(parsed.data.password);
    // Taking the token is the compare-and-swap: of two forms submitted at once, one creates the admin.
    if ((await countUsers(db)) > 0 || !(await consumeSetupToken(db))) throw new AppError('conflict', 'An admin account exists already. Sign in instead.');
    const user = await insertUser(db, parsed.data.email, hash);
    await audit(db, { actor: `user:${user.email}`, action: 'user.setup', targetType: 'user', targetId: user.id, ip: req.ip });
    await startSession(db, config, req, res, user);
    res.redirect(303, '/?msg=welcome');
  });

  return r;
}
