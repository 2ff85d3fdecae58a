import { Router, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { DeliveryResult } from './alert-actions.ts';
import { uiActor, type UiContext } from './context.ts';
import { audit } from '../db/queries/audit.ts';
import { redactUrl } from '../db/url.ts';

const emailInput = z.object({ to: z.string().trim().toLowerCase().email('must be an email address').max(254) });
const webhookInput = z.object({ url: z.string().trim().url('must be a URL').max(2048).refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL') });


/** Settings: read-only configuration, alert delivery tests and the drill. */
export function settingsPages(ui: UiContext): Router {
  const { db, config } = ui.deps;
  const r = Router();

  const renderSettings = (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    ui.views.render(
      res,
      'settings',
      {
        title: 'Settings',
        nav: 'settings',
        smtpUrl: config.SMTP_URL ? redactUrl(config.SMTP_URL) : null, // never show a stored password
        alertFrom: config.ALERT_FROM,
        alertTo: config.ALERT_TO,
        defaultTo: config.ALERT_TO[0] ?? '',
        alertsAvailable: !!ui.deps.alerts,
        drillAvailable: !!ui.deps.alerts?.drill,
        adminUrl: config.ADMIN_URL,
        publicUrl: config.PUBLIC_URL,
        dnsZone: config.DNS_ZONE,
        fields: {},
        ...extra,
      },
      status,
    );
  };

  r.get('/settings', (_req, res) => renderSettings(res));

  /** Run one test action; without the alert module the answer is a clear 503, never a fake success. */
  const runTest = async (res: Response, what: string, run: (() => Promise<DeliveryResult>) | undefined, target: string, actorId: string, ip: string | null) => {
    if (!run) {
      return renderSettings(res, { result: { what, target, ok: false, error: 'The alert delivery module is not installed in this build, so nothing was sent.' } }, 503);
    }
    let result: DeliveryResult;
    try {
      result = await run();
    } catch (err) {
      result = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    await audit(db, { actor: actorId, action: `settings.${what}`, targetType: 'alert', targetId: target, ip, details: { ok: result.ok, status: result.status } });
    renderSettings(res, { result: { what, target, ...result } }, result.ok ? 200 : 502);
  };

  r.post('/settings/test-email', async (req, res) => {
    const parsed = emailInput.safeParse(req.body ?? {});
    if (!parsed.success) return renderSettings(res, { fields: AppError.fromZod(parsed.error, 'email').fields }, 400);
    const actor = uiActor(req, res);
    const alerts = ui.deps.alerts;
    await runTest(res, 'test-email', alerts ? () => alerts.sendTestEmail(parsed.data.to) : undefined, parsed.data.to, actor.id, actor.ip ?? null);
  });

  r.post('/settings/test-webhook', async (req, res) => {
    const parsed = webhookInput.safeParse(req.body ?? {});
    if (!parsed.success) return renderSettings(res, { fields: AppError.fromZod(parsed.error, 'webhook').fields }, 400);
    const actor = uiActor(req, res);
    const alerts = ui.deps.alerts;
    await runTest(res, 'test-webhook', alerts ? () => alerts.testWebhook(parsed.data.url) : undefined, parsed.data.url, actor.id, actor.ip ?? null);
  });

  r.post('/settings/drill', async (req, res) => {
    const actor = uiActor(req, res);
    const drill = ui.deps.alerts?.drill?.bind(ui.deps.alerts);
    await runTest(res, 'drill', drill, 'all recipients', actor.id, actor.ip ?? null);
  });

  return r;
}
