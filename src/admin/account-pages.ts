import { Router, type Response } from 'express';
import { z } from 'zod';
import { parse } from '../api/validate.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../db/queries/api-keys.ts';
import { audit } from '../db/queries/audit.ts';
import { countUsers, deleteUser, findUserByEmail, getUser, insertUser, listUsers } from '../db/queries/users.ts';
import { AppError, notFound } from '../errors.ts';
import { accountInput } from './auth-routes.ts';
import { uiActor, type UiContext } from './context.ts';
import { hashPassword } from './passwords.ts';
import { sessionOf } from './session.ts';

const keyName = z.object({ name: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters') });
const idParam = z.object({ id: z.string().regex(/^[\w-]{1,40}$/, 'is not an id') });

/** Admin accounts and API keys (a new key is shown exactly once). */
export function accountPages(ui: UiContext): Router {
  const { db } = ui.deps;
  const r = Router();

  const renderAdmins = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const me = sessionOf(res)?.user.id;
    const users = await listUsers(db);
    ui.views.render(res, 'admins', { title: 'Admins', nav: 'admins', users: users.map((u) => ({ ...u, me: u.id === me })), fields: {}, ...extra }, status);
  };

  r.get('/admins', (_req, res) => renderAdmins(res));

  r.post('/admins', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = accountInput.safeParse(body);
    if (!parsed.success) return renderAdmins(res, { email: body.email, fields: AppError.fromZod(parsed.error).fields }, 400);
    if (await findUserByEmail(db, parsed.data.email)) return renderAdmins(res, { email: body.email, fields: { email: 'an admin with this email exists already' } }, 409);
    const user = await insertUser(db, parsed.data.email, await hashPassword(parsed.data.password));
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.create', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, '/admins?msg=admin_added');
  });

  r.post('/admins/:id/delete', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const user = await getUser(db, id);
    if (!user) throw notFound('admin');
    if (user.id === sessionOf(res)?.user.id) throw new AppError('conflict', 'You cannot remove your own account; ask another admin.');
    if ((await countUsers(db)) <= 1) throw new AppError('conflict', 'The last admin cannot be removed.');
    await deleteUser(db, user.id);
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'user.delete', targetType: 'user', targetId: user.email, ip: actor.ip });
    res.redirect(303, '/admins?msg=admin_removed');
  });

  const renderKeys = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    ui.views.render(res, 'api-keys', { title: 'API keys', nav: 'api-keys', keys: await listApiKeys(db), fields: {}, ...extra }, status);
  };

  r.get('/api-keys', (_req, res) => renderKeys(res));

  r.post('/api-keys', async (req, res) => {
    const parsed = keyName.safeParse(req.body ?? {});
    if (!parsed.success) return renderKeys(res, { fields: AppError.fromZod(parsed.error).fields }, 400);
    const actor = uiActor(req, res);
    const { key, row } = await createApiKey(db, parsed.data.name, actor.id);
    await audit(db, { actor: actor.id, action: 'api_key.create', targetType: 'api_key', targetId: row.id, ip: actor.ip, details: { name: row.name } });
    // Rendered directly (not redirected): the key exists in clear only in this response.
    await renderKeys(res, { created: { key, name: row.name } }, 201);
  });

  r.post('/api-keys/:id/revoke', async (req, res) => {
    const { id } = parse(idParam, req.params);
    if (!(await revokeApiKey(db, id))) throw notFound('active API key');
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'api_key.revoke', targetType: 'api_key', targetId: id, ip: actor.ip });
    res.redirect(303, '/api-keys?msg=key_revoked');
  });

  return r;
}
