/**
 * The boundary between the settings page and the alert pipeline. The pipeline provides these
 * functions (through `AppDeps.alerts`); when it is absent the page says so and sends nothing,
 * rather than pretending a test went out.
 */

/** Outcome of one delivery attempt, as stored and shown. */
export interface DeliveryResult {
  ok: boolean;
  /** SMTP reply code or HTTP status, when there was one. */
  status?: number;
  /** Why it failed (or a note on success, e.g. the message id). */
  error?: string;
  detail?: string;
}

/** What the settings page can ask of the alert pipeline; every call reports its real outcome. */
export interface AlertActions {
  /** Send a test email through SMTP_URL to `to`. */
  sendTestEmail(to: string): Promise<DeliveryResult>;
  /** POST a test payload to a webhook URL (SSRF rules apply). */
  testWebhook(url: string): Promise<DeliveryResult>;
  /** End-to-end drill: a synthetic hit through recording, incident and alert delivery. */
  drill?(): Promise<DeliveryResult>;
}
