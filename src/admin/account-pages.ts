import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { deleteSetting, getSetting, setSetting } from '../db/queries/settings.ts';
import { clearTotp, enableTotp, getUser, setPassword, setRecoveryCodes } from '../db/queries/users.ts';
import { AppError } from '../errors.ts';
import { uiActor, type UiContext } from './context.ts';
import { guardedRouter } from './guard.ts';
import { errorSummary, formParse } from './messages.ts';
import { newRecoveryCodes, newTotpSecret, totpQrSvg, totpStep, totpUri } from './mfa.ts';
import { putOnce, takeOnce } from './once.ts';
import { strongPassword } from './password-policy.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { sessionOf } from './session.ts';

const passwordChange = z
  .object({ current: z.string().max(1024), password: z.string().max(1024), confirm: z.string().max(1024), email: z.string().optional() })
  .superRefine(strongPassword)
  .refine((a) => a.password === a.confirm, { message: 'does not match the new password', path: ['confirm'] });
const PASSWORD_LABELS = { current: { label: 'Current password', id: 'current' }, password: { label: 'New password', id: 'new-password' }, confirm: { label: 'Repeat new password', id: 'confirm' } };
const codeInput = z.object({ code: z.string().trim().max(32).default('') });
/** How long a shown-but-unconfirmed enrolment secret is kept for the confirmation. */
const ENROL_TTL_MS = 15 * 60_000;

const pendingKey = (userId: string) => `mfa-enrol:${userId}`;

/** One's own account: password change, authenticator (TOTP) enrolment, recovery codes. Any role. */
export function accountPages(ui: UiContext) {
  const { db, config } = ui.deps;
  const r = guardedRouter();
  const me = (res: Parameters<typeof sessionOf>[0]) => {
    const s = sessionOf(res);
    if (!s) throw new AppError('unauthorized', 'Sign in first.');
    return s;
  };

  const renderAccount = (res: Parameters<typeof sessionOf>[0], extra: Record<string, unknown> = {}, status = 200) => {
    const { user } = me(res);
    ui.views.render(
      res,
      'account',
      { title: 'Your account', nav: 'account', user, mfaOn: !!user.totpEnabledAt, mfaRequired: config.MFA_REQUIRED || user.mfaRequired, codesLeft: user.recoveryCodes.length, fields: {}, ...extra },
      status,
    );
  };

  r.get('/account', (_req, res) => renderAccount(res));

  r.post('/account/password', async (req, res) => {
    const { user, session } = me(res);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(passwordChange, { ...body, email: user.email });
    const fields = parsed.ok ? {} : parsed.fields;
    if (parsed.ok && !(await verifyPassword(parsed.data.current, user.passwordHash))) fields.current = 'is not your current password';
    if (!parsed.ok || Object.keys(fields).length) return renderAccount(res, { fields, summary: errorSummary(fields, PASSWORD_LABELS) }, 400);
    await setPassword(db, user.id, await hashPassword(parsed.data.password), session.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.password_change', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, '/account?msg=password_changed');
  });

  r.get('/account/mfa', async (_req, res) => {
    const { user } = me(res);
    if (user.totpEnabledAt) return res.redirect(303, '/account');
    const now = Date.now();
    let pending = await getSetting<{ secret: string; at: number }>(db, pendingKey(user.id));
    if (!pending || pending.at < now - ENROL_TTL_MS) {
      pending = { secret: newTotpSecret(), at: now };
      await setSetting(db, pendingKey(user.id), pending);
    }
    const uri = totpUri(pending.secret, user.email, 'Honeytrail');
    ui.views.render(res, 'account-mfa', { title: 'Set up an authenticator app', nav: 'account', qr: await totpQrSvg(uri), secret: pending.secret.replace(/(.{4})/g, '$1 ').trim(), required: config.MFA_REQUIRED || user.mfaRequired });
  });

  r.post('/account/mfa', async (req, res) => {
    const { user } = me(res);
    if (user.totpEnabledAt) return res.redirect(303, '/account');
    const pending = await getSetting<{ secret: string; at: number }>(db, pendingKey(user.id));
    const { code } = codeInput.parse(req.body ?? {});
    const step = pending && pending.at > Date.now() - ENROL_TTL_MS ? totpStep(pending.secret, code) : null;
    if (!pending || step === null) {
      const error = pending ? 'That code is not right. Enter the 6 digits your app shows now.' : 'The set-up expired. Scan the new QR code and try again.';
      const uri = pending ? totpUri(pending.secret, user.email, 'Honeytrail') : '';
      return ui.views.render(
        res,
        'account-mfa',
        { title: 'Set up an authenticator app', nav: 'account', qr: uri ? await totpQrSvg(uri) : '', secret: pending?.secret.replace(/(.{4})/g, '$1 ').trim(), error, summary: errorSummary({ code: error }, { code: { label: 'Code', id: 'code' } }) },
        400,
      );
    }
    const { codes, hashes } = newRecoveryCodes();
    await enableTotp(db, user.id, pending.secret, step, hashes);
    await deleteSetting(db, pendingKey(user.id));
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.mfa_enable', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, `/account/recovery-codes?ref=${await putOnce(db, me(res).session.id, codes)}`);
  });

  r.get('/account/recovery-codes', async (req, res) => {
    const ref = typeof req.query.ref === 'string' ? req.query.ref : '';
    const codes = await takeOnce<string[]>(db, me(res).session.id, ref);
    ui.views.render(res, 'recovery-codes', { title: 'Recovery codes', nav: 'account', codes: codes ?? null });
  });

  r.post('/account/recovery-codes', async (req, res) => {
    const { user, session } = me(res);
    if (!user.totpEnabledAt) return res.redirect(303, '/account');
    const { codes, hashes } = newRecoveryCodes();
    await setRecoveryCodes(db, user.id, hashes);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.recovery_codes', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, `/account/recovery-codes?ref=${await putOnce(db, session.id, codes)}`);
  });

  r.get('/account/mfa/disable', (_req, res) => {
    const { user } = me(res);
    ui.views.render(res, 'confirm', {
      title: 'Turn off the authenticator?',
      nav: 'account',
      heading: 'Turn off sign-in with an authenticator app?',
      text: config.MFA_REQUIRED || user.mfaRequired ? 'A second factor is required for your account: after turning it off you must set up a new one before you can use the console.' : 'Your account will then be protected by its password alone.',
      action: '/account/mfa/disable',
      button: 'Turn off',
      cancel: '/account',
      password: true,
    });
  });

  r.post('/account/mfa/disable', async (req, res) => {
    const { user } = me(res);
    const current = typeof (req.body as Record<string, unknown>)?.current === 'string' ? String((req.body as Record<string, unknown>).current) : '';
    if (!(await verifyPassword(current, user.passwordHash))) {
      return ui.views.render(
        res,
        'confirm',
        { title: 'Turn off the authenticator?', nav: 'account', heading: 'Turn off sign-in with an authenticator app?', action: '/account/mfa/disable', button: 'Turn off', cancel: '/account', password: true, summary: [{ href: '#current', text: 'Current password: is not right' }], passwordError: 'is not right' },
        400,
      );
    }
    await clearTotp(db, user.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.mfa_disable', targetType: 'user', targetId: user.email, ip: actor.ip });
    const fresh = await getUser(db, user.id);
    res.redirect(303, fresh && (config.MFA_REQUIRED || fresh.mfaRequired) ? '/account/mfa' : '/account?msg=mfa_off');
  });

  return r;
}
