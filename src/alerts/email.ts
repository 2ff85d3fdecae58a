import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config.ts';
import type { DeliveryResult } from './deliver.ts';
import { oneLine } from '../text.ts';
import type { AlertView } from './view.ts';

const TEMPLATES = resolve(dirname(fileURLToPath(import.meta.url)), '../../templates/email');
const COLORS = { low: '#5b6b7a', medium: '#b7791f', high: '#c53030', critical: '#702459' } as const;

const hbs = Handlebars.create();
hbs.registerHelper('inc', (n: unknown) => Number(n) + 1);
let compiled: { html: Handlebars.TemplateDelegate; text: Handlebars.TemplateDelegate } | undefined;

/** The templates, compiled once: HTML escapes every value; the text part is not HTML, so it is not escaped. */
function templates() {
  compiled ??= {
    html: hbs.compile(readFileSync(resolve(TEMPLATES, 'alert.html.hbs'), 'utf8'), { strict: false }),
    text: hbs.compile(readFileSync(resolve(TEMPLATES, 'alert.txt.hbs'), 'utf8'), { noEscape: true }),
  };
  return compiled;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

/** Render an alert view into subject, HTML and text parts (templates in templates/email/). */
export function renderEmail(view: AlertView): RenderedEmail {
  const ctx = {
    ...view,
    isDigest: view.kind === 'digest',
    isTest: view.kind === 'test',
    severityLabel: view.kind === 'test' ? 'TEST' : view.severity.toUpperCase(),
    severityColor: view.kind === 'test' ? '#2b6cb0' : COLORS[view.severity],
  };
  const t = templates();
  return { subject: oneLine(view.subject, 240), html: t.html(ctx), text: t.text(ctx) };
}

/**
 * The Message-ID of the mail for an outbox row: derived from its idempotency key, so a
 * redelivery after a crash carries the same id (receivers drop the copy) and later mails of the
 * thread can name it in In-Reply-To and References.
 */
export function messageIdFor(messageKey: string, alertFrom: string): string {
  const domain = (/@([^>\s]+)>?\s*$/.exec(alertFrom)?.[1] ?? 'honeytrail.local').replace(/[^A-Za-z0-9.-]/g, '');
  return `<${createHash('sha256').update(messageKey).digest('hex').slice(0, 32)}@${domain}>`;
}

/** Where a mail belongs in its thread: the thread's first mail, and any other thread it continues (merged intrusions). */
export interface Threading {
  inReplyTo: string;
  references: string[];
}

/** One SMTP transport per worker (nodemailer over SMTP_URL: STARTTLS when offered, auth from the URL). */
export function createMailer(config: Pick<Config, 'SMTP_URL' | 'ALERT_FROM'>): {
  send(to: string, mail: RenderedEmail, messageKey: string, headers?: Record<string, string>, threading?: Threading): Promise<DeliveryResult>;
  close(): void;
} {
  let transport: Transporter | undefined;
  const get = (): Transporter | undefined => {
    if (!config.SMTP_URL) return undefined;
    // One connection per attempt (no pool): each outbox attempt maps to exactly one SMTP transaction.
    // Options in the URL's query string (e.g. ?tls.rejectUnauthorized=false) override these.
    transport ??= nodemailer.createTransport({ url: config.SMTP_URL, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
    return transport;
  };
  return {
    async send(to, mail, messageKey, headers = {}, threading) {
      const t = get();
      if (!t) return { ok: false, error: 'SMTP_URL is not set; cannot send email alerts' };
      try {
        const info = (await t.sendMail({
          from: config.ALERT_FROM,
          to: oneLine(to, 254),
          subject: mail.subject,
          text: mail.text,
          html: mail.html,
          // Same key, same Message-ID: a redelivery after a crash can be deduplicated by the mail system.
          messageId: messageIdFor(messageKey, config.ALERT_FROM),
          ...(threading ? { inReplyTo: threading.inReplyTo, references: threading.references } : {}),
          headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, oneLine(v, 200)])),
        })) as { response?: string; rejected?: unknown[] };
        const response = oneLine(info.response ?? '', 200);
        if (Array.isArray(info.rejected) && info.rejected.length) return { ok: false, status: response, error: `recipient rejected: ${to}` };
        return { ok: true, status: response };
      } catch (err) {
        const e = err as { message?: string; responseCode?: number; code?: string };
        return { ok: false, status: e.responseCode ? String(e.responseCode) : e.code, error: oneLine(e.message ?? String(err), 500) };
      }
    },
    close() {
      transport?.close();
      transport = undefined;
    },
  };
}
