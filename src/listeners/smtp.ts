import { bannerLine, type ListenerEntry } from './registry.ts';

/** Inbound mail for MAIL_DOMAIN, looking like Postfix (channels/smtp.ts). */
export const smtpListener = {
  name: 'smtp',
  configKeys: ['SMTP_ENABLED', 'SMTP_HOST', 'SMTP_PORT', 'SMTP_HOSTNAME', 'SMTP_MAX_CONNECTIONS', 'SMTP_IDLE_TIMEOUT', 'SMTP_SESSION_TIMEOUT'],
  role: 'edge',
  enabled: (c) => c.SMTP_ENABLED,
  async start({ deps }) {
    const { listenSmtp } = await import('../channels/smtp.ts');
    return listenSmtp(deps);
  },
  banner: (c, a) => [bannerLine('SMTP', `${a.host}:${a.port}, mail for @${c.MAIL_DOMAIN} (email tokens)`)],
} satisfies ListenerEntry;
