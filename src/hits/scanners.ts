import ipaddr from 'ipaddr.js';
import { normalizeIp } from '../net.ts';

/**
 * Known automated visitors that fetch URLs without a human intruder behind them: link
 * unfurlers, mail-security pre-fetchers (rewritten-link sandboxes), search crawlers.
 *
 * Only network evidence classifies a hit as `scanner`: the ranges these services publish (kept
 * here as data, one entry per product, plus ranges an operator imports with
 * `honeytrail intel import --purpose scanner`). A user agent or mailer is attacker text: a
 * match there is only a hint shown on the hit (an intruder who names their curl "Googlebot"
 * still pages).
 */
export interface KnownScanner {
  name: string;
  /** Case-insensitive substrings of the User-Agent header (a hint, never a verdict). */
  ua?: readonly string[];
  /** CIDRs the service fetches from, as the vendor publishes them. */
  cidrs?: readonly string[];
}

export const KNOWN_SCANNERS: readonly KnownScanner[] = [
  // Link unfurlers
  { name: 'Slack link preview', ua: ['slackbot', 'slack-imgproxy', 'slackbot-linkexpanding'] },
  { name: 'Microsoft Teams link preview', ua: ['skypeuripreview'] },
  { name: 'Discord link preview', ua: ['discordbot'] },
  { name: 'Twitter/X card', ua: ['twitterbot'], cidrs: ['199.16.156.0/22', '199.59.148.0/22'] },
  { name: 'Facebook/Meta preview', ua: ['facebookexternalhit', 'facebookcatalog', 'meta-externalagent'], cidrs: ['31.13.24.0/21', '66.220.144.0/20', '69.63.176.0/20', '69.171.224.0/19', '173.252.64.0/18', '2a03:2880::/32'] },
  { name: 'LinkedIn preview', ua: ['linkedinbot'] },
  { name: 'WhatsApp preview', ua: ['whatsapp/'] },
  { name: 'Telegram preview', ua: ['telegrambot'], cidrs: ['149.154.160.0/20', '91.108.4.0/22'] },
  { name: 'Mattermost preview', ua: ['mattermost-bot'] },
  { name: 'Google Chat / Hangouts preview', ua: ['google-hangouts', 'googleimageproxy'] },
  { name: 'Zoom preview', ua: ['zoombot'] },
  { name: 'Atlassian preview', ua: ['atlassian-token', 'jira-linkpreview'] },
  // Mail-security pre-fetchers and URL sandboxes
  { name: 'Proofpoint URL Defense', ua: ['proofpoint'], cidrs: ['148.163.128.0/19', '67.231.144.0/20'] },
  { name: 'Mimecast URL Protect', ua: ['mimecast'], cidrs: ['205.139.110.0/24', '207.211.30.0/24', '91.220.42.0/24', '195.130.217.0/24', '185.58.84.0/22'] },
  { name: 'Barracuda Link Protection', ua: ['barracuda'], cidrs: ['64.235.144.0/20', '209.222.80.0/21'] },
  // Not 'Microsoft Office Protocol Discovery': that OPTIONS probe is Office itself opening a planted document.
  {
    name: 'Microsoft Exchange Online Protection / Defender Safe Links',
    ua: ['safelinks', 'ms-office-urlchecker', 'bingpreview'],
    cidrs: ['40.92.0.0/15', '40.107.0.0/16', '52.100.0.0/14', '104.47.0.0/17', '2a01:111:f400::/48', '2a01:111:f403::/48'],
  },
  { name: 'Cisco Secure Email (IronPort)', ua: ['ironport', 'cisco-urlscan'] },
  { name: 'Trend Micro / Sophos / Symantec scanners', ua: ['trendmicro', 'sophos', 'symantec', 'messagelabs', 'forcepoint', 'fortiguard'] },
  { name: 'Google Safe Browsing / Gmail image proxy', ua: ['google-safety', 'googlesafebrowsing'], cidrs: ['66.102.0.0/20', '66.249.64.0/19'] },
  // Crawlers and bots
  { name: 'Search crawlers', ua: ['googlebot', 'bingbot', 'yandexbot', 'baiduspider', 'duckduckbot', 'applebot', 'petalbot', 'sogou', 'seznambot'], cidrs: ['157.55.39.0/24', '207.46.13.0/24', '40.77.167.0/24'] },
  { name: 'SEO and archive crawlers', ua: ['ahrefsbot', 'semrushbot', 'mj12bot', 'dotbot', 'ia_archiver', 'archive.org_bot', 'ccbot', 'gptbot', 'claudebot', 'bytespider'] },
  { name: 'Internet-wide scanners', ua: ['censysinspect', 'expanse', 'shodan', 'zgrab', 'masscan', 'nuclei', 'internet-measurement', 'paloaltonetworks'] },
  { name: 'Uptime monitors', ua: ['uptimerobot', 'pingdom', 'statuscake', 'site24x7'] },
  { name: 'Generic bots', ua: ['bot/', 'crawler', 'spider/'] },
];

/** A compiled matcher: which scanner a source network belongs to (a verdict), and which one a user agent names (a hint). */
export interface ScannerMatcher {
  network(ip: string | null): string | null;
  agent(userAgent: string | null): string | null;
}

/** Compile the list (plus SCANNER_UA_EXTRA hints and imported ranges) once; matching is then a few string scans and one address parse. */
export function scannerMatcher(extraUa: readonly string[] = [], extraRanges: readonly { cidr: string; name: string }[] = []): ScannerMatcher {
  const entries: KnownScanner[] = [...KNOWN_SCANNERS];
  if (extraUa.length) entries.push({ name: 'configured scanner (SCANNER_UA_EXTRA)', ua: extraUa.map((s) => s.toLowerCase()) });
  const uas = entries.flatMap((e) => (e.ua ?? []).map((needle) => ({ needle, name: e.name })));
  const nets = [
    ...entries.flatMap((e) => (e.cidrs ?? []).map((c) => ({ range: ipaddr.parseCIDR(c), name: e.name }))),
    ...extraRanges.flatMap((r) => (ipaddr.isValidCIDR(r.cidr) ? [{ range: ipaddr.parseCIDR(r.cidr), name: r.name }] : [])),
  ];
  const matchNets = (ip: string): string | null => {
    const n = normalizeIp(ip);
    if (!ipaddr.isValid(n)) return null;
    const addr = ipaddr.process(n);
    for (const x of nets) if (x.range[0].kind() === addr.kind() && addr.match(x.range)) return x.name;
    return null;
  };
  // Sources and tools repeat (one intruder, many hits): remember each address's and user agent's answer.
  const byIp = new Map<string, string | null>();
  const byUa = new Map<string, string | null>();
  return {
    network(ip) {
      if (!ip) return null;
      let hit = byIp.get(ip);
      if (hit === undefined) {
        hit = matchNets(ip);
        if (byIp.size >= 10_000) byIp.clear();
        byIp.set(ip, hit);
      }
      return hit;
    },
    agent(userAgent) {
      if (!userAgent) return null;
      let name = byUa.get(userAgent);
      if (name === undefined) {
        const ua = userAgent.slice(0, 1024).toLowerCase();
        name = uas.find((u) => ua.includes(u.needle))?.name ?? null;
        if (byUa.size >= 10_000) byUa.clear();
        byUa.set(userAgent, name);
      }
      return name;
    },
  };
}
