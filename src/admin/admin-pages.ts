import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import { z } from 'zod';
import { audit } from '../db/queries/audit.ts';
import { clearTotp, deleteUser, findUserByEmail, getUser, insertUserWithRole, listUsers, setPassword, updateUser, type UserRow } from '../db/queries/users.ts';
import { USER_ROLES } from '../db/schema.ts';
import { AppError, notFound } from '../errors.ts';
import { ACCOUNT_LABELS, accountInput } from './auth-routes.ts';
import { uiActor, type UiContext } from './context.ts';
import { guardedRouter } from './guard.ts';
import { errorSummary, formParse } from './messages.ts';
import { putOnce, takeOnce } from './once.ts';
import { hashPassword } from './passwords.ts';
import { sessionOf } from './session.ts';

const ROLE_TEXT = { viewer: 'Viewer: reads everything, changes nothing', responder: 'Responder: incidents, tokens, network map, intel', admin: 'Admin: everything, including admins, API keys and settings' } as const;
const roleField = z.enum(USER_ROLES, { message: 'must be viewer, responder or admin' });
const editInput = z.object({ role: roleField, mfaRequired: z.literal('on').optional() });
const idOf = (v: unknown): string => (typeof v === 'string' && /^[\w-]{1,40}$/.test(v) ? v : '');

function roleOptions(selected: string) {
  return USER_ROLES.map((r) => ({ value: r, label: ROLE_TEXT[r], selected: r === selected }));
}

/** Other people's accounts (admin role only): add with a role, change role and MFA rule, reset password or authenticator, remove after confirmation. */
export function adminPages(ui: UiContext) {
  const { db, config } = ui.deps;
  const r = guardedRouter();

  const load = async (id: unknown): Promise<UserRow> => {
    const user = await getUser(db, idOf(id));
    if (!user) throw notFound('account');
    return user;
  };
  const admins = async () => (await listUsers(db)).filter((u) => u.role === 'admin');

  const renderList = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const me = sessionOf(res)?.user.id;
    const users = await listUsers(db);
    ui.views.render(
      res,
      'admins',
      { title: 'People', nav: 'admins', users: users.map((u) => ({ ...u, me: u.id === me, mfa: !!u.totpEnabledAt })), roles: roleOptions(String(extra.role ?? 'viewer')), fields: {}, mfaRequiredAll: config.MFA_REQUIRED, ...extra },
      status,
    );
  };

  r.get('/admins', (_req, res) => renderList(res));

  r.post('/admins', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(accountInput, body);
    const role = roleField.safeParse(body.role ?? 'viewer');
    const fields = parsed.ok ? {} : parsed.fields;
    if (!role.success) fields.role = 'must be viewer, responder or admin';
    if (parsed.ok && (await findUserByEmail(db, parsed.data.email))) fields.email = 'belongs to an account already';
    if (!parsed.ok || !role.success || Object.keys(fields).length) {
      return renderList(res, { email: body.email, role: body.role, fields, summary: errorSummary(fields, { ...ACCOUNT_LABELS, role: { label: 'Role', id: 'role' } }) }, 400);
    }
    const user = await insertUserWithRole(db, parsed.data.email, await hashPassword(parsed.data.password), role.data);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.create', targetType: 'user', targetId: user.email, ip: actor.ip, details: { role: user.role } });
    res.redirect(303, '/admins?msg=admin_added');
  });

  const renderEdit = (res: Response, user: UserRow, extra: Record<string, unknown> = {}, status = 200) =>
    ui.views.render(res, 'admin', { title: user.email, nav: 'admins', user, mfa: !!user.totpEnabledAt, roles: roleOptions(user.role), me: user.id === sessionOf(res)?.user.id, mfaRequiredAll: config.MFA_REQUIRED, ...extra }, status);

  r.get('/admins/:id', async (req, res) => renderEdit(res, await load(req.params.id)));

  r.post('/admins/:id', async (req, res) => {
    const user = await load(req.params.id);
    const parsed = formParse(editInput, req.body ?? {});
    if (!parsed.ok) return renderEdit(res, user, { summary: errorSummary(parsed.fields, { role: { label: 'Role', id: 'role' } }) }, 400);
    const role = parsed.data.role;
    if (role !== user.role && user.id === sessionOf(res)?.user.id) throw new AppError('conflict', 'You cannot change your own role; ask another admin.');
    if (user.role === 'admin' && role !== 'admin' && (await admins()).length <= 1) throw new AppError('conflict', 'This is the only admin: make someone else admin first.');
    await updateUser(db, user.id, { role, mfaRequired: parsed.data.mfaRequired === 'on' });
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.update', targetType: 'user', targetId: user.email, ip: actor.ip, details: { role, mfaRequired: parsed.data.mfaRequired === 'on' } });
    res.redirect(303, `/admins/${user.id}?msg=saved`);
  });

  r.post('/admins/:id/password', async (req, res) => {
    const user = await load(req.params.id);
    if (user.id === sessionOf(res)?.user.id) throw new AppError('conflict', 'Change your own password on your account page.');
    // A generated password, shown once to the admin who hands it over; the person changes it after signing in.
    const password = randomBytes(15).toString('base64url');
    await setPassword(db, user.id, await hashPassword(password));
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.password_reset', targetType: 'user', targetId: user.email, ip: actor.ip });
    const s = sessionOf(res);
    res.redirect(303, `/admins/password/${await putOnce(db, s?.session.id ?? '', { email: user.email, password })}`);
  });

  r.get('/admins/password/:ref', async (req, res) => {
    const shown = await takeOnce<{ email: string; password: string }>(db, sessionOf(res)?.session.id ?? '', String(req.params.ref));
    ui.views.render(res, 'secret-once', { title: 'New password', nav: 'admins', heading: 'New password', secret: shown?.password, about: shown ? `for ${shown.email}. Hand it over in person or by phone; they should change it after signing in (their other sessions were ended).` : '', back: '/admins', backText: 'Back to people' });
  });

  r.post('/admins/:id/mfa-reset', async (req, res) => {
    const user = await load(req.params.id);
    await clearTotp(db, user.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.mfa_reset', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, `/admins/${user.id}?msg=mfa_reset`);
  });

  r.get('/admins/:id/delete', async (req, res) => {
    const user = await load(req.params.id);
    ui.views.render(res, 'confirm', { title: `Remove ${user.email}`, nav: 'admins', heading: `Remove ${user.email}?`, text: 'They are signed out at once and can no longer sign in. What they did stays in the audit log.', action: `/admins/${user.id}/delete`, button: 'Remove account', cancel: '/admins' });
  });

  r.post('/admins/:id/delete', async (req, res) => {
    const user = await load(req.params.id);
    if (user.id === sessionOf(res)?.user.id) throw new AppError('conflict', 'You cannot remove your own account; ask another admin.');
    if (user.role === 'admin' && (await admins()).length <= 1) throw new AppError('conflict', 'The last admin cannot be removed.');
    await deleteUser(db, user.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.delete', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, '/admins?msg=admin_removed');
  });

  return r;
}
