import { guardedRouter } from './guard.ts';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { errorSummary, formParse } from './messages.ts';
import { putOnce, takeOnce } from './once.ts';
import { sessionOf } from './session.ts';
import type { DeliveryResult } from './alert-actions.ts';
import { uiActor, type UiContext } from './context.ts';
import { audit } from '../db/queries/audit.ts';
import { redactUrl } from '../db/url.ts';
import { notFound } from '../errors.ts';
import { getDrillRun, recentDrillRuns } from '../db/queries/drills.ts';
import { listScenarios, runScenario } from '../drills/run.ts';
import { findScenario } from '../drills/scenarios.ts';

const emailInput = z.object({ to: z.string().trim().toLowerCase().email('must be an email address').max(254) });
const webhookInput = z.object({ url: z.string().trim().url('must be a URL').max(2048).refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL') });


/** Settings: read-only configuration, alert delivery tests and the drill. */
export function settingsPages(ui: UiContext): Router {
  const { db, config } = ui.deps;
  const r = guardedRouter();

  const renderSettings = async (res: Response, extra: Record<string, unknown> = {}, status = 200) => {
    const drillRuns = (await recentDrillRuns(db, 10)).map((d) => ({ id: d.id, scenario: d.scenario, status: d.status, startedAt: d.startedAt.toISOString() }));
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
        scenarios: listScenarios(),
        drillRuns,
        fields: {},
        ...extra,
      },
      status,
    );
  };

  r.get('/settings', async (req, res) => {
    // The outcome of a test sent by the POST before the redirect, shown once (post/redirect/get: a reload sends nothing).
    const ref = typeof req.query.result === 'string' ? req.query.result : '';
    const result = ref ? await takeOnce<Record<string, unknown>>(db, sessionOf(res)?.session.id ?? '', ref) : undefined;
    await renderSettings(res, result ? { result } : ref ? { resultGone: true } : {});
  });

  const showResult = async (res: Response, result: Record<string, unknown>) => {
    res.redirect(303, `/settings?result=${await putOnce(db, sessionOf(res)?.session.id ?? '', result)}`);
  };

  /** Run one test action; without the alert module the answer is a clear 503, never a fake success. */
  const runTest = async (res: Response, what: string, run: (() => Promise<DeliveryResult>) | undefined, target: string, actorId: string, ip: string | null) => {
    if (!run) {
      return showResult(res, { what, target, ok: false, error: 'The alert delivery module is not installed in this build, so nothing was sent.' });
    }
    let result: DeliveryResult;
    try {
      result = await run();
    } catch (err) {
      result = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    await audit(db, { actor: actorId, action: `settings.${what}`, targetType: 'alert', targetId: target, ip, details: { ok: result.ok, status: result.status } });
    await showResult(res, { what, target, ...result });
  };

  r.post('/settings/test-email', async (req, res) => {
    const parsed = formParse(emailInput, req.body ?? {}, 'email');
    if (!parsed.ok) return await renderSettings(res, { fields: parsed.fields, summary: errorSummary(parsed.fields, { 'email.to': { label: 'Send a test alert to', id: 'to' } }) }, 400);
    const actor = uiActor(req, res);
    const alerts = ui.deps.alerts;
    await runTest(res, 'test-email', alerts ? () => alerts.sendTestEmail(parsed.data.to) : undefined, parsed.data.to, actor.id, actor.ip ?? null);
  });

  r.post('/settings/test-webhook', async (req, res) => {
    const parsed = formParse(webhookInput, req.body ?? {}, 'webhook');
    if (!parsed.ok) return await renderSettings(res, { fields: parsed.fields, summary: errorSummary(parsed.fields, { 'webhook.url': { label: 'Webhook URL', id: 'url' } }) }, 400);
    const actor = uiActor(req, res);
    const alerts = ui.deps.alerts;
    await runTest(res, 'test-webhook', alerts ? () => alerts.testWebhook(parsed.data.url) : undefined, parsed.data.url, actor.id, actor.ip ?? null);
  });

  r.post('/settings/drill', async (req, res) => {
    const actor = uiActor(req, res);
    const drill = ui.deps.alerts?.drill?.bind(ui.deps.alerts);
    await runTest(res, 'drill', drill, 'all recipients', actor.id, actor.ip ?? null);
  });

  // A purple-team scenario runs to its end (seconds), then the browser is sent to its report (post/redirect/get).
  r.post('/settings/scenario', async (req, res) => {
    const name = typeof req.body?.scenario === 'string' ? req.body.scenario : '';
    if (!findScenario(name)) {
      const fields = { scenario: 'Choose one of the scenarios listed' };
      return await renderSettings(res, { fields, summary: errorSummary(fields, { scenario: { label: 'Scenario', id: 'scenario' } }) }, 400);
    }
    const actor = uiActor(req, res);
    const { row } = await runScenario(ui.deps, { scenario: name, actor });
    res.redirect(303, `/settings/drills/${row.id}`);
  });

  r.get('/settings/drills/:id', async (req, res) => {
    const id = String(req.params.id);
    const run = /^[0-9a-z]{1,32}$/.test(id) ? await getDrillRun(db, id) : undefined;
    if (!run) throw notFound('drill run');
    const report = run.report as Record<string, unknown>;
    ui.views.render(res, 'drill-run', {
      title: `Drill ${run.id}`,
      nav: 'settings',
      run: { ...run, startedAt: run.startedAt.toISOString(), finishedAt: run.finishedAt?.toISOString() ?? 'still running' },
      report: { ...report, scenario: report.scenario ?? { title: run.scenario, summary: '' }, gaps: report.gaps ?? [] },
      passed: run.status === 'passed',
    });
  });

  return r;
}
