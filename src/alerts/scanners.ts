import ipaddr from 'ipaddr.js';
import { normalizeIp } from '../net.ts';

/**
 * Known automated visitors that fetch URLs without a human intruder behind them: link
 * unfurlers (chat apps previewing a pasted link), mail-security pre-fetchers (rewritten-link
 * sandboxes), search crawlers and generic HTTP tools used by crawlers. Their hits are stored
 * and shown as `scanner` but do not alert unless ALERT_ON_CLASSIFICATIONS says so.
 *
 * Maintained here as data: one entry per product, a case-insensitive user-agent substring
 * and/or the networks the product fetches from.
 */
export interface KnownScanner {
  name: string;
  /** Case-insensitive substrings of the User-Agent header. */
  ua?: readonly string[];
  /** CIDRs the service fetches from (published ranges; extend with IGNORE_CIDRS for your own tools). */
  cidrs?: readonly string[];
}

export const KNOWN_SCANNERS: readonly KnownScanner[] = [
  // Link unfurlers
  { name: 'Slack link preview', ua: ['slackbot', 'slack-imgproxy', 'slackbot-linkexpanding'] },
  { name: 'Microsoft Teams link preview', ua: ['skypeuripreview'] },
  { name: 'Discord link preview', ua: ['discordbot'] },
  { name: 'Twitter/X card', ua: ['twitterbot'] },
  { name: 'Facebook/Meta preview', ua: ['facebookexternalhit', 'facebookcatalog', 'meta-externalagent'] },
  { name: 'LinkedIn preview', ua: ['linkedinbot'] },
  { name: 'WhatsApp preview', ua: ['whatsapp/'] },
  { name: 'Telegram preview', ua: ['telegrambot'] },
  { name: 'Mattermost preview', ua: ['mattermost-bot'] },
  { name: 'Google Chat / Hangouts preview', ua: ['google-hangouts', 'googleimageproxy'] },
  { name: 'Apple iMessage preview', ua: ['facebookexternalhit/1.1 facebot twitterbot/1.0'] },
  { name: 'Zoom preview', ua: ['zoombot'] },
  { name: 'Atlassian preview', ua: ['atlassian-token', 'jira-linkpreview', 'confluence'] },
  // Mail-security pre-fetchers and URL sandboxes
  { name: 'Proofpoint URL Defense', ua: ['proofpoint'], cidrs: ['148.163.128.0/19', '67.231.144.0/20'] },
  { name: 'Mimecast URL Protect', ua: ['mimecast'], cidrs: ['205.139.110.0/24', '207.211.30.0/24', '91.220.42.0/24'] },
  { name: 'Barracuda Link Protection', ua: ['barracuda'], cidrs: ['64.235.144.0/20', '209.222.80.0/21'] },
  // Not 'Microsoft Office Protocol Discovery': that OPTIONS probe is Office itself opening a planted document.
  { name: 'Microsoft Defender Safe Links', ua: ['safelinks', 'ms-office-urlchecker', 'bingpreview'] },
  { name: 'Cisco Secure Email (IronPort)', ua: ['ironport', 'cisco-urlscan'] },
  { name: 'Trend Micro / Sophos / Symantec scanners', ua: ['trendmicro', 'sophos', 'symantec', 'messagelabs', 'forcepoint', 'fortiguard'] },
  { name: 'Google Safe Browsing / Gmail proxy', ua: ['google-safety', 'googlesafebrowsing'] },
  // Crawlers and bots
  { name: 'Search crawlers', ua: ['googlebot', 'bingbot', 'yandexbot', 'baiduspider', 'duckduckbot', 'applebot', 'petalbot', 'sogou', 'seznambot'] },
  { name: 'SEO and archive crawlers', ua: ['ahrefsbot', 'semrushbot', 'mj12bot', 'dotbot', 'ia_archiver', 'archive.org_bot', 'ccbot', 'gptbot', 'claudebot', 'bytespider'] },
  { name: 'Internet-wide scanners', ua: ['censysinspect', 'expanse', 'shodan', 'zgrab', 'masscan', 'nuclei', 'internet-measurement', 'paloaltonetworks'] },
  { name: 'Uptime monitors', ua: ['uptimerobot', 'pingdom', 'statuscake', 'site24x7'] },
  { name: 'Generic bots', ua: ['bot/', 'crawler', 'spider/'] },
];

/** A compiled matcher: the scanner's name for a user agent / address, or null. */
export type ScannerMatcher = (userAgent: string | null, ip: string | null) => string | null;

/** Compile the list (plus SCANNER_UA_EXTRA substrings) once; matching is then a few string scans and one address parse. */
export function scannerMatcher(extraUa: readonly string[] = []): ScannerMatcher {
  const entries: KnownScanner[] = [...KNOWN_SCANNERS];
  if (extraUa.length) entries.push({ name: 'configured scanner (SCANNER_UA_EXTRA)', ua: extraUa.map((s) => s.toLowerCase()) });
  const uas = entries.flatMap((e) => (e.ua ?? []).map((needle) => ({ needle, name: e.name })));
  const nets = entries.flatMap((e) => (e.cidrs ?? []).map((c) => ({ range: ipaddr.parseCIDR(c), name: e.name })));
  const matchNets = (ip: string): string | null => {
    const n = normalizeIp(ip);
    if (!ipaddr.isValid(n)) return null;
    const addr = ipaddr.parse(n);
    for (const x of nets) if (x.range[0].kind() === addr.kind() && addr.match(x.range)) return x.name;
    return null;
  };
  // Sources and tools repeat (one intruder, many hits): remember each address's and user agent's answer.
  const byIp = new Map<string, string | null>();
  const byUa = new Map<string, string | null>();
  return (userAgent, ip) => {
    if (userAgent) {
      let name = byUa.get(userAgent);
      if (name === undefined) {
        const ua = userAgent.toLowerCase();
        name = uas.find((u) => ua.includes(u.needle))?.name ?? null;
        if (byUa.size >= 10_000) byUa.clear();
        byUa.set(userAgent, name);
      }
      if (name) return name;
    }
    if (!ip) return null;
    let hit = byIp.get(ip);
    if (hit === undefined) {
      hit = matchNets(ip);
      if (byIp.size >= 10_000) byIp.clear();
      byIp.set(ip, hit);
    }
    return hit;
  };
}
