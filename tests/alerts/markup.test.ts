import { describe, expect, it } from 'vitest';
import { discordText, slackText, teamsText } from '../../src/alerts/markup.ts';
import type { AlertView, TrailLine } from '../../src/alerts/view.ts';
import { webhookBody } from '../../src/alerts/webhook-formats.ts';

/**
 * Attacker text in chat alerts (issue 15): every hostile string below must display as sent in
 * Slack, Teams and Discord and form no link, mention, spoiler, list or styling there. Each format
 * is checked against its own rules: Slack's entity escaping, CommonMark backslash escapes for
 * Teams' Adaptive Card markdown, Discord's backslash escapes.
 */
const HOSTILE = [
  '[URGENT - open incident](https://evil.example)',
  '<https://evil.example|open incident> <!here> <!channel> <!everyone> <@U012AB3CD> <#C024BE91L> <!subteam^SAZ94GDB8>',
  '@everyone @here @channel look',
  '||hidden evidence|| ~~struck~~ *bold* **bolder** _it_ __under__ `code` ```block```',
  '<@123456789012345678> <@&987654321> <t:1700000000:R> <:pwn:123456789012345678>',
  '![img](https://evil.example/x.png) [ref]: https://evil.example',
  '- list item',
  '1. numbered',
  '# heading',
  '-# subtext',
  '> quoted',
  'C:\\Users\\adm\\[x](y) \\*not bold\\* \\\\',
  '&lt;b&gt; &amp; & < >',
  'CORP\\m.keller@WS-22 → \\\\fs01\\finance',
];

/** What Discord (and CommonMark) shows for escaped text: a backslash before punctuation vanishes, the escaped character stays. */
const unescapeMarkdown = (s: string) => s.replace(/\\([!-/:-@[-`{-~])/g, '$1').replaceAll('\u200b', '');
/** The same text with escaped characters removed: what is left may hold no markup. */
const unescapedRest = (s: string) => s.replace(/\\[!-/:-@[-`{-~]/g, '');
const unescapeSlack = (s: string) => s.replaceAll('\u200b', '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function markdownIsInert(text: string, specials: RegExp): void {
  const rest = unescapedRest(text);
  expect(rest, text).not.toMatch(specials);
  expect(rest, text).not.toMatch(/\]\(/);
  expect(text, text).not.toMatch(/^\s*([-+#>]|\d+\.)/);
  expect(text, text).not.toMatch(/@(everyone|here)\b/);
}

function slackIsInert(text: string): void {
  expect(text, text).not.toMatch(/[<>]/);
  expect(text.replace(/&(amp|lt|gt);/g, ''), text).not.toContain('&');
  expect(text, text).not.toMatch(/@(everyone|here|channel)\b/);
}

describe('escapers', () => {
  it.each(HOSTILE)('Discord: %s displays as sent and forms no markup', (s) => {
    const out = discordText(s);
    expect(unescapeMarkdown(out)).toBe(s);
    markdownIsInert(out, /[[\]*_~`|<>]/);
  });

  it.each(HOSTILE)('Teams: %s displays as sent and forms no markup', (s) => {
    const out = teamsText(s);
    expect(unescapeMarkdown(out)).toBe(s);
    markdownIsInert(out.replace(/@(everyone|here)\b/g, '@\u200b$1'), /[[\]*_~`|<>]/);
  });

  it.each(HOSTILE)('Slack: %s displays as sent and forms no link or mention', (s) => {
    const out = slackText(s);
    expect(unescapeSlack(out)).toBe(s);
    slackIsInert(out);
  });

  it('leaves ordinary alert text readable', () => {
    expect(discordText('10.20.4.17 (WS-ACCT-07) touched 3 decoys on 2 hosts')).toBe('10.20.4.17 (WS-ACCT-07) touched 3 decoys on 2 hosts');
    expect(teamsText('aws-cli called sts:GetCallerIdentity in eu-west-1')).toBe('aws-cli called sts:GetCallerIdentity in eu-west-1');
    expect(slackText('Explorer listed a folder as CORP\\m.keller')).toBe('Explorer listed a folder as CORP\\m.keller');
  });
});

function hostileView(): AlertView {
  const evil = HOSTILE.join(' ');
  const line = (i: number): TrailLine => ({
    hitId: i, at: '2026-01-01T10:00:00.000Z', decoy: HOSTILE[i % HOSTILE.length] ?? evil, decoyUrl: 'https://admin.example/tokens/x', kind: 'web-bug',
    planted: HOSTILE[(i + 3) % HOSTILE.length] ?? evil, what: HOSTILE[(i + 7) % HOSTILE.length] ?? evil, source: HOSTILE[(i + 5) % HOSTILE.length] ?? evil, classification: 'alert', isNew: true, repeats: 1, techniques: ['T1083'],
  });
  const trail = HOSTILE.map((_, i) => line(i));
  return {
    kind: 'first',
    severity: 'high',
    subject: `[Honeytrail #1] [HIGH] ${HOSTILE[0]}`,
    threadTag: '[Honeytrail #1]',
    conclusion: evil,
    sentence: evil,
    incident: { id: 1, status: 'open', firstAt: '2026-01-01T10:00:00.000Z', lastAt: '2026-01-01T10:00:00.000Z', hitCount: 1, tokenCount: 1, locationCount: 1, hostCount: 1, machineCount: 2, lateral: true, reasons: [evil], evidence: [{ group: 'evidence', code: 'hop', text: evil, at: '2026-01-01T10:00:00.000Z' }], merged: [], url: 'https://admin.example/incidents/1', drill: null },
    actor: { label: HOSTILE[1] ?? evil, ip: '10.0.0.1', asset: null, segment: null, criticality: null, user: null, computer: null, domain: null, claimed: true, userAgent: evil, relay: null, relayIp: null, facts: [] },
    decoy: { id: 'x', name: HOSTILE[3] ?? evil, kind: 'web-bug', location: HOSTILE[13] ?? evil, plantedHost: HOSTILE[2] ?? evil, url: 'https://admin.example/tokens/x' },
    newHits: trail,
    newHitsMore: 0,
    newEvents: trail.length,
    trail,
    trailMore: 0,
    // The path carries host names a lookup reported: attacker text too.
    path: { text: evil, hops: [{ from: HOSTILE[4] ?? evil, to: HOSTILE[5] ?? evil, at: '2026-01-01T10:00:00.000Z', via: 'identity', text: evil, claimed: true }], machines: [] },
    group: null,
    techniques: [{ id: 'T1083', name: 'File and Directory Discovery', url: 'https://attack.mitre.org/techniques/T1083/' }],
    nextSteps: [],
  };
}

describe('webhook bodies with hostile alert text', () => {
  it('Discord: title, description and every field are inert', () => {
    const body = webhookBody('discord', hostileView(), 'd1') as { embeds: { title: string; description: string; fields: { value: string }[] }[] };
    const embed = body.embeds[0];
    if (!embed) throw new Error('no embed');
    const texts = [embed.title, embed.description, ...embed.fields.map((f) => f.value)];
    for (const text of texts) for (const l of text.split('\n')) markdownIsInert(l.replace(/…$/, ''), /[[\]*_~`|<>]/);
    expect(unescapeMarkdown(embed.description)).toBe(hostileView().sentence);
  });

  it('Teams: every TextBlock and fact is inert', () => {
    const body = webhookBody('teams', hostileView(), 't1') as { attachments: { content: { body: { type: string; text?: string; facts?: { value: string }[] }[] } }[] };
    const blocks = body.attachments[0]?.content.body ?? [];
    const texts = blocks.flatMap((b) => (b.type === 'FactSet' ? (b.facts ?? []).map((f) => f.value) : [b.text ?? '']));
    expect(texts.length).toBeGreaterThan(10);
    for (const text of texts) markdownIsInert(text.replace(/@(everyone|here)\b/g, '@\u200b$1'), /[[\]*_~`|<>]/);
    expect(unescapeMarkdown(blocks[1]?.text ?? '')).toBe(hostileView().sentence);
  });

  it('Slack: every mrkdwn text is inert', () => {
    const body = webhookBody('slack', hostileView(), 's1') as { text: string; blocks: { type: string; text?: { type: string; text: string }; fields?: { text: string }[]; elements?: { type: string; text?: string | { text: string } }[] }[] };
    const texts = [body.text];
    for (const b of body.blocks) {
      if (b.text?.type === 'mrkdwn') texts.push(b.text.text);
      for (const f of b.fields ?? []) texts.push(f.text);
      for (const e of b.elements ?? []) if (e.type === 'mrkdwn' && typeof e.text === 'string') texts.push(e.text);
    }
    expect(texts.length).toBeGreaterThan(6);
    for (const text of texts) slackIsInert(text);
  });
});
