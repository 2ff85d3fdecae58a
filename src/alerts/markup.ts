/**
 * Escapers for attacker text in chat alerts, one per format's own markup. A mail subject, a
 * path or a decoded user name reaches the SOC channel inside our message: without these,
 * `[URGENT - open incident](https://evil.example)` becomes a link there, `<!here>` pages the
 * channel, and `||x||` hides evidence. Each escaper makes the text display as sent.
 */

/** `@everyone`, `@here`, `@channel` as plain words: a zero-width space after the `@` keeps them from being read as mentions. */
const BROADCAST = /@(everyone|here|channel)\b/gi;
const unmention = (s: string): string => s.replace(BROADCAST, '@\u200b$1');

/**
 * Slack mrkdwn. Slack's own rule: escape `&`, `<` and `>` as HTML entities, which is what
 * keeps links (`<url|text>`), user, channel and group mentions (`<@U…>`, `<#C…>`,
 * `<!subteam^…>`) and broadcasts (`<!here>`, `<!channel>`, `<!everyone>`) from forming and a
 * leading `>` from quoting. Slack has no escape for `*_~\``, which can only restyle text.
 */
export function slackText(s: string): string {
  return unmention(s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
}

/** CommonMark punctuation the Adaptive Card TextBlock/FactSet markdown subset (and HTML-like input) gives meaning to anywhere in a line. */
const TEAMS_SPECIAL = /[\\`*_~[\]<>|]/g;

/**
 * Microsoft Teams Adaptive Card markdown (TextBlock and FactSet; bold, italic, lists and
 * `[title](url)` links): a backslash before every character that could open markup, and a
 * leading list marker (`- `, `+ `, `1. `) or heading escaped, so the text cannot become a link or a list.
 */
export function teamsText(s: string): string {
  return escapeLeading(s.replace(TEAMS_SPECIAL, '\\$&'));
}

/** Characters Discord markdown gives meaning to anywhere in a line: emphasis, code, spoilers, masked links, mentions, timestamps and custom emoji. */
const DISCORD_SPECIAL = /[\\`*_~|[\]<>]/g;

/**
 * Discord markdown (embed titles, descriptions and field values): a backslash before every
 * markdown character (masked links `[text](url)`, `||spoilers||`, `<@id>` mentions, `<t:…>`
 * timestamps, headings, quotes), a leading list marker escaped, and `@everyone`/`@here`
 * broken. The webhook body's `allowed_mentions: { parse: [] }` stops pings as well.
 */
export function discordText(s: string): string {
  return unmention(escapeLeading(s.replace(DISCORD_SPECIAL, '\\$&')));
}

/** Markup that only counts at the start of a line: list items (`- x`, `+ x`, `12. x`), headings (`# x`) and Discord's subtext (`-# x`). */
function escapeLeading(s: string): string {
  return s.replace(/^(\s*)(?:([-+#])|(\d{1,9})\.)(?=[\s#]|$)/, (_m, space: string, mark: string | undefined, digits: string | undefined) =>
    mark ? `${space}\\${mark}` : `${space}${digits ?? ''}\\.`,
  );
}
