import { discordText as dc, slackText, teamsText as tm } from './markup.ts';
import type { AlertView } from './view.ts';

export type WebhookFormat = 'json' | 'slack' | 'teams' | 'discord';

/** Version of the generic JSON body; bump it (and document the change in README) when fields change meaning. */
export const WEBHOOK_SCHEMA = 'honeytrail.alert/v1';

const COLORS = { low: 0x5b6b7a, medium: 0xb7791f, high: 0xc53030, critical: 0x702459 } as const;
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
/** Clip Slack text without cutting an `&amp;`-style entity in half (a bare `&` would start a new one). */
const sclip = (s: string, n: number) => {
  const c = clip(s, n);
  const amp = c.lastIndexOf('&');
  return c !== s && amp >= 0 && !c.slice(amp).includes(';') ? `${c.slice(0, amp)}…` : c;
};

/** Build the body for a webhook format from one alert view. */
export function webhookBody(format: WebhookFormat, view: AlertView, deliveryId: string): unknown {
  switch (format) {
    case 'slack':
      return slack(view);
    case 'teams':
      return teams(view);
    case 'discord':
      return discord(view);
    default:
      return generic(view, deliveryId);
  }
}

/**
 * Generic JSON, schema `honeytrail.alert/v1` (documented in README "Alerts"). Additive changes
 * keep v1; a changed meaning gets v2.
 */
export function generic(v: AlertView, deliveryId: string) {
  return {
    schema: WEBHOOK_SCHEMA,
    deliveryId,
    event: v.kind === 'test' ? 'alert.test' : `alert.${v.kind}`,
    sentAt: new Date().toISOString(),
    severity: v.severity,
    subject: v.subject,
    conclusion: v.conclusion,
    summary: v.sentence,
    thread: v.threadTag,
    incident: v.incident,
    actor: v.actor,
    decoy: v.decoy,
    hits: v.newHits,
    hitsNotListed: v.newHitsMore,
    events: v.newEvents,
    trail: v.trail,
    trailNotListed: v.trailMore,
    path: v.path,
    group: v.group,
    techniques: v.techniques,
    nextSteps: v.nextSteps,
    links: { incident: v.incident.url, token: v.decoy.url },
  };
}

/** Slack Block Kit. Slack renders mrkdwn, so `<`, `>` and `&` in our text are escaped the way Slack asks. */
function slack(v: AlertView) {
  const esc = slackText;
  const trail = v.trail.slice(-15).map((t) => `• ${t.at} — ${esc(t.source)}: ${esc(t.what)} (*${esc(t.decoy)}*, ${esc(t.planted)})`).join('\n');
  return {
    text: esc(v.subject),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(v.subject, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: sclip(esc(v.sentence), 2900) } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Severity*\n${v.severity.toUpperCase()}` },
          { type: 'mrkdwn', text: `*Actor*\n${sclip(esc(v.actor.label), 500)}` },
          { type: 'mrkdwn', text: `*Decoy*\n${sclip(esc(v.decoy.name), 500)}` },
          { type: 'mrkdwn', text: `*Planted*\n${sclip(esc([v.decoy.location, v.decoy.plantedHost].filter(Boolean).join(' on ') || 'not recorded'), 500)}` },
        ],
      },
      ...(v.path.hops.length ? [{ type: 'section', text: { type: 'mrkdwn', text: sclip(`*Path*\n${esc(v.path.text)}`, 2900) } }] : []),
      ...(v.incident.evidence.length
        ? [{ type: 'section', text: { type: 'mrkdwn', text: sclip(`*Why ${v.severity.toUpperCase()}*\n${v.incident.evidence.map((e) => `• ${e.group}/${e.code}: ${esc(e.text)}`).join('\n')}`, 2900) } }]
        : []),
      { type: 'section', text: { type: 'mrkdwn', text: sclip(`*Trail*\n${trail || 'none'}`, 2900) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: sclip(v.techniques.map((t) => `${t.id} ${esc(t.name)}`).join(' · ') || 'no techniques', 2900) }] },
      {
        type: 'actions',
        elements: [
          { type: 'button', text: { type: 'plain_text', text: 'Open incident' }, url: v.incident.url, style: 'danger' },
          { type: 'button', text: { type: 'plain_text', text: 'Open decoy' }, url: v.decoy.url },
        ],
      },
    ],
  };
}

/** Microsoft Teams: an Adaptive Card (1.4) in a message attachment, as Teams workflows/connectors accept. */
function teams(v: AlertView) {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: tm(v.subject), weight: 'Bolder', size: 'Medium', wrap: true, color: v.severity === 'low' ? 'Default' : 'Attention' },
            { type: 'TextBlock', text: tm(v.sentence), wrap: true },
            {
              type: 'FactSet',
              facts: [
                { title: 'Severity', value: v.severity.toUpperCase() },
                { title: 'Actor', value: tm(v.actor.label) },
                { title: 'Decoy', value: tm(v.decoy.name) },
                { title: 'Planted', value: tm([v.decoy.location, v.decoy.plantedHost].filter(Boolean).join(' on ') || 'not recorded') },
                { title: 'Techniques', value: tm(v.techniques.map((t) => `${t.id} ${t.name}`).join(', ')) || 'none' },
                ...(v.path.hops.length ? [{ title: 'Path', value: tm(v.path.text) }] : []),
              ],
            },
            ...(v.incident.evidence.length ? [{ type: 'TextBlock', text: `Why ${v.severity.toUpperCase()}`, weight: 'Bolder', wrap: true }] : []),
            ...v.incident.evidence.map((e) => ({ type: 'TextBlock', text: `${e.group}/${e.code}: ${tm(e.text)}`, wrap: true, spacing: 'None' })),
            { type: 'TextBlock', text: 'Trail', weight: 'Bolder', wrap: true },
            ...v.trail.slice(-15).map((t) => ({ type: 'TextBlock', text: `${t.at} · ${tm(t.source)}: ${tm(t.what)} (${tm(t.decoy)}, ${tm(t.planted)})`, wrap: true, spacing: 'None' })),
          ],
          actions: [
            { type: 'Action.OpenUrl', title: 'Open incident', url: v.incident.url },
            { type: 'Action.OpenUrl', title: 'Open decoy', url: v.decoy.url },
          ],
        },
      },
    ],
  };
}

/** Discord: one embed (title <= 256, description <= 4096, fields <= 25 with values <= 1024). */
function discord(v: AlertView) {
  return {
    username: 'Honeytrail',
    allowed_mentions: { parse: [] },
    embeds: [
      {
        title: clip(dc(v.subject), 256),
        description: clip(dc(v.sentence), 4096),
        url: v.incident.url,
        color: COLORS[v.severity],
        timestamp: v.incident.lastAt,
        fields: [
          { name: 'Actor', value: clip(dc(v.actor.label), 1024), inline: true },
          { name: 'Decoy', value: clip(dc(v.decoy.name), 1024), inline: true },
          { name: 'Planted', value: clip(dc([v.decoy.location, v.decoy.plantedHost].filter(Boolean).join(' on ') || 'not recorded'), 1024) },
          ...(v.path.hops.length ? [{ name: 'Path', value: clip(dc(v.path.text), 1024) }] : []),
          ...(v.incident.evidence.length ? [{ name: `Why ${v.severity.toUpperCase()}`, value: clip(v.incident.evidence.map((e) => `${e.group}/${e.code}: ${dc(e.text)}`).join('\n'), 1024) }] : []),
          { name: 'Trail', value: clip(v.trail.slice(-10).map((t) => `${t.at} ${dc(t.source)}: ${dc(t.what)} (${dc(t.decoy)})`).join('\n') || 'none', 1024) },
          { name: 'ATT&CK', value: clip(v.techniques.map((t) => `${t.id} ${dc(t.name)}`).join('\n') || 'none', 1024) },
        ],
      },
    ],
  };
}
