import type { Response } from 'express';
import { z } from 'zod';
import { KEY_PRESETS, presetOf, type KeyPreset } from '../access.ts';
import { createApiKey, getApiKey, listApiKeys, revokeApiKey } from '../db/queries/api-keys.ts';
import { audit } from '../db/queries/audit.ts';
import { notFound } from '../errors.ts';
import { uiActor, type UiContext } from './context.ts';
import { guardedRouter } from './guard.ts';
import { errorSummary, formParse } from './messages.ts';
import { putOnce, takeOnce } from './once.ts';
import { sessionOf } from './session.ts';

const EXPIRY_DAYS = ['30', '90', '365', 'never'] as const;
const keyInput = z.object({
  name: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
  preset: z.enum(Object.keys(KEY_PRESETS) as [KeyPreset, ...KeyPreset[]], { message: 'choose what the key may do' }),
  expires: z.enum(EXPIRY_DAYS, { message: 'choose when the key expires' }),
});
const LABELS = { name: { label: 'Name', id: 'key-name' }, preset: { label: 'What it may do', id: 'preset-read' }, expires: { label: 'Expires', id: 'expires' } };
const idOf = (v: unknown): string => (typeof v === 'string' && /^[\w-]{1,40}$/.test(v) ? v : '');

/** API keys: scopes from the policy table, optional expiry, last use; a new key is shown once through a one-time view; revoking asks first. */
export function keyPages(ui: UiContext) {
  const { db } = ui.deps;
  const r = guardedRouter();

  const renderKeys = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const now = Date.now();
    const keys = (await listApiKeys(db)).map((k) => {
      const preset = presetOf(k.scopes);
      return { ...k, scopeText: preset ? KEY_PRESETS[preset].label : k.scopes.join(', '), expired: !!k.expiresAt && k.expiresAt.getTime() <= now };
    });
    const chosen = String(extra.preset ?? 'read');
    ui.views.render(
      res,
      'api-keys',
      { title: 'API keys', nav: 'api-keys', keys, presets: Object.entries(KEY_PRESETS).map(([id, p]) => ({ id, label: p.label, checked: id === chosen })), expiries: EXPIRY_DAYS.map((d) => ({ value: d, label: d === 'never' ? 'Never' : `In ${d} days`, selected: d === String(extra.expires ?? '90') })), fields: {}, ...extra },
      status,
    );
  };

  r.get('/api-keys', (_req, res) => renderKeys(res));

  r.post('/api-keys', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const parsed = formParse(keyInput, body);
    if (!parsed.ok) return renderKeys(res, { name: body.name, preset: body.preset, expires: body.expires, fields: parsed.fields, summary: errorSummary(parsed.fields, LABELS) }, 400);
    const actor = uiActor(req, res);
    const { name, preset, expires } = parsed.data;
    const expiresAt = expires === 'never' ? null : new Date(Date.now() + Number(expires) * 86_400_000);
    const { key, row } = await createApiKey(db, name, actor.id, undefined, { scopes: KEY_PRESETS[preset].scopes, expiresAt });
    await audit(db, { actor: actor.id, action: 'api_key.create', targetType: 'api_key', targetId: row.id, ip: actor.ip, details: { name: row.name, scopes: row.scopes, expiresAt: expiresAt?.toISOString() ?? null } });
    // Post/redirect/get: the key goes to a one-time view; reloading it shows nothing and makes no second key.
    res.redirect(303, `/api-keys/created/${await putOnce(db, sessionOf(res)?.session.id ?? '', { key, name: row.name })}`);
  });

  r.get('/api-keys/created/:ref', async (req, res) => {
    const shown = await takeOnce<{ key: string; name: string }>(db, sessionOf(res)?.session.id ?? '', String(req.params.ref));
    ui.views.render(res, 'secret-once', { title: 'New API key', nav: 'api-keys', heading: 'New API key', secret: shown?.key, secretId: 'new-key', about: shown ? `"${shown.name}". Copy it now: it is shown only once.` : '', back: '/api-keys', backText: 'Back to API keys' });
  });

  const load = async (id: unknown) => {
    const key = await getApiKey(db, idOf(id));
    if (!key || key.revokedAt) throw notFound('active API key');
    return key;
  };

  r.get('/api-keys/:id/revoke', async (req, res) => {
    const key = await load(req.params.id);
    ui.views.render(res, 'confirm', { title: `Revoke ${key.name}`, nav: 'api-keys', heading: `Revoke the API key "${key.name}"?`, text: `Anything using it (prefix ${key.prefix}…) is refused from now on. This cannot be undone.`, action: `/api-keys/${key.id}/revoke`, button: 'Revoke key', cancel: '/api-keys' });
  });

  r.post('/api-keys/:id/revoke', async (req, res) => {
    const key = await load(req.params.id);
    if (!(await revokeApiKey(db, key.id))) throw notFound('active API key');
    const actor = uiActor(req, res);
    await audit(db, { actor: actor.id, action: 'api_key.revoke', targetType: 'api_key', targetId: key.id, ip: actor.ip });
    res.redirect(303, '/api-keys?msg=key_revoked');
  });

  return r;
}
