import { Router } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { countUsers, findUserByEmail, insertUser, markLogin } from '../db/queries/users.ts';
import { AppError } from '../errors.ts';
import { parse } from '../api/validate.ts';
import type { UiContext } from './context.ts';
import { preSessionToken, requireCsrf, requirePreSessionCsrf } from './csrf.ts';
import { DUMMY_HASH_PROMISE, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from './passwords.ts';
import { knownContext, rememberContext } from './known-good.ts';
import { consumeSetupToken, setupTokenValid } from './setup.ts';
import { endSession, requireLogin, sessionOf, startSession } from './session.ts';
import type { LoginThrottle } from './throttle.ts';

const loginInput = z.object({
  email: z.string().trim().toLowerCase().max(254).default(''),
  password: z.string().max(1024).default(''),
  next: z.string().max(2048).optional(),
});

/** A new account's email and password (setup page and "add admin"). */
export const accountInput = z
  .object({
    email: z.string().trim().toLowerCase().email('must be an email address').max(254),
    password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(1024),
    confirm: z.string().max(1024),
  })
  .refine((a) => a.password === a.confirm, { message: 'does not match the password', path: ['confirm'] });

/** Only same-site paths are followed after login (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])/.test(next) && !/[\r\n]/.test(next) ? next : '/';
}

/** /login, /logout and the first-run /setup page. */
export function authRoutes(ui: UiContext, throttle: LoginThrottle): Router {
  const { db, config } = ui.deps;
  const r = Router();

  r.get('/login', preSessionToken(config), async (req, res) => {
    if (sessionOf(res)) return res.redirect(303, '/');
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
      const wait = gate.retryAfter < 60 ? `${gate.retryAfter} second(s)` : `${Math.ceil(gate.retryAfter / 60)} minute(s)`;
      return again(429, `Too many failed sign-in attempts. Try again in ${wait}.`);
    }
    const ok = await verifyPassword(input.password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
    if (!user || !ok || user.disabledAt) {
      await audit(db, { actor: `user:${input.email || '(blank)'}`, action: 'user.login_failed', ip });
      return again(401, 'Email or password is not right.');
    }
    gate.attempt.succeeded();
    await rememberContext(db, config, req, res, user.id);
    await markLogin(db, user.id);
    await startSession(db, config, req, res, user);
    await audit(db, { actor: `user:${user.email}`, action: 'user.login', ip });
    res.redirect(303, safeNext(input.next));
  });

  r.post('/logout', requireLogin, requireCsrf, async (req, res) => {
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
    const parsed = accountInput.safeParse(body);
    if (!parsed.success) {
      const fields = AppError.fromZod(parsed.error).fields ?? {};
      return ui.views.render(res, 'setup', { title: 'Create the first admin', token, email: body.email, fields }, 400);
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
