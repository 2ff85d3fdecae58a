import type { AlertActions, DeliveryResult } from '../admin/alert-actions.ts';
import type { Config } from '../config.ts';
import type { AnyDb } from '../db/store.ts';
import type { Logger } from '../logger.ts';
import { runDrill, type DrillResult } from './drill.ts';

function summarize(results: DrillResult[]): DeliveryResult {
  if (results.length === 0) return { ok: false, error: 'no alert channel is configured (set ALERT_TO or WEBHOOK_URLS)' };
  const failed = results.filter((r) => !r.ok);
  const lines = results.map((r) => `${r.channel} ${r.target}: ${r.ok ? 'delivered' : `failed (${r.error ?? r.status ?? 'unknown error'})`}`);
  return failed.length
    ? { ok: false, error: lines.join('; ') }
    : { ok: true, detail: lines.join('; '), status: Number(results[0]?.status) || undefined };
}

/** The settings page's test sends, backed by the real drill (every send is stored as a `test` alert). */
export function createAlertActions(deps: { db: AnyDb; config: Config; log: Logger }): AlertActions {
  return {
    sendTestEmail: async (to) => summarize(await runDrill(deps, { emails: [to], onlyExtra: true })),
    testWebhook: async (url) => summarize(await runDrill(deps, { webhooks: [url], onlyExtra: true })),
    drill: async () => summarize(await runDrill(deps)),
  };
}
