import Bowser from 'bowser';

/**
 * Words kinds use to say what a hit means (their `explain`): which program made the request,
 * what kind of place a decoy was planted in, and which ATT&CK collection technique reading it
 * there is. Input here is attacker text: every pattern is anchored or bounded and runs on a
 * clipped string, so none can take more than linear time.
 */

const UA_MAX = 512;

/** Command-line tools and libraries, matched before browsers (their agents carry no browser tokens). */
const TOOLS: readonly { re: RegExp; name: (m: RegExpExecArray) => string }[] = [
  { re: /^aws-cli\/([\w.-]{1,20})/, name: (m) => `aws-cli/${m[1]}` },
  { re: /\bBoto3\/([\w.-]{1,20})/, name: (m) => `Boto3 ${m[1]}` },
  { re: /\bBotocore\/([\w.-]{1,20})/, name: (m) => `botocore ${m[1]}` },
  { re: /\baws-sdk-js\/([\w.-]{1,20})/, name: (m) => `AWS SDK for JavaScript ${m[1]}` },
  { re: /\baws-sdk-(go|java|ruby|php|dotnet|cpp|rust|go-v2)\/([\w.-]{1,20})/, name: (m) => `AWS SDK for ${m[1]} ${m[2]}` },
  { re: /^kubectl\/(v?[\w.+-]{1,30})/, name: (m) => `kubectl ${m[1]}` },
  { re: /^curl\/([\w.-]{1,20})/, name: (m) => `curl ${m[1]}` },
  { re: /^Wget\/([\w.-]{1,20})/i, name: (m) => `Wget ${m[1]}` },
  { re: /^python-requests\/([\w.-]{1,20})/, name: (m) => `python-requests ${m[1]}` },
  { re: /^Python-urllib\/([\w.-]{1,20})/, name: (m) => `Python urllib ${m[1]}` },
  { re: /^python-httpx\/([\w.-]{1,20})/, name: (m) => `python-httpx ${m[1]}` },
  { re: /^Go-http-client\/([\w.-]{1,10})/, name: () => 'a Go program' },
  { re: /\bWindowsPowerShell\/([\w.-]{1,20})/, name: (m) => `Windows PowerShell ${m[1]}` },
  { re: /\bPowerShell\/([\w.-]{1,20})/, name: (m) => `PowerShell ${m[1]}` },
  { re: /^git\/([\w.-]{1,20})/, name: (m) => `git ${m[1]}` },
  { re: /^okhttp\/([\w.-]{1,20})/, name: (m) => `okhttp ${m[1]}` },
  { re: /^node-fetch\b|^undici\b|^node\b/, name: () => 'a Node.js program' },
  { re: /\bMicrosoft Office (Word|Excel|PowerPoint|Outlook) ([\d.]{1,20})/, name: (m) => `Microsoft ${m[1]} ${m[2]}` },
  { re: /\bMicrosoft Office Existence Discovery\b/, name: () => 'Microsoft Office' },
  { re: /\bMSOffice ([\d.]{1,10})/, name: (m) => `Microsoft Office ${m[1]}` },
  { re: /\bMicrosoft-WebDAV-MiniRedir\/([\d.]{1,20})/, name: (m) => `the Windows WebDAV client ${m[1]}` },
  { re: /\bLibreOffice(?:\/([\w.-]{1,20}))?/, name: (m) => (m[1] ? `LibreOffice ${m[1]}` : 'LibreOffice') },
];

/**
 * The program behind a user agent in a few words: `aws-cli/2.15.0`, `kubectl v1.29.1`,
 * `curl 8.5.0`, `Chrome 120 on Windows`, `LibreOffice`. Null when there is no user agent.
 */
export function describeClient(userAgent: string | null | undefined): string | null {
  if (!userAgent) return null;
  const ua = userAgent.slice(0, UA_MAX);
  // A trail reads the same few agents over and over (each hit is explained when it is placed
  // and again when its alert is written); parsing one with bowser costs more than the hit's insert.
  let words = described.get(ua);
  if (words === undefined) {
    if (described.size >= DESCRIBED_MAX) described.clear();
    described.set(ua, (words = clientWords(ua)));
  }
  return words;
}

/** Agents described lately, and how many are kept (a flood of ever-new agents clears it). */
const described = new Map<string, string>();
const DESCRIBED_MAX = 2000;

function clientWords(ua: string): string {
  for (const t of TOOLS) {
    const m = t.re.exec(ua);
    if (m) return t.name(m);
  }
  const parsed = Bowser.parse(ua);
  // "Mozilla/5.0" alone is every browser's prefix, not a browser.
  const browser = parsed.browser.name === 'Mozilla' ? undefined : parsed.browser.name;
  const os = parsed.os.name;
  if (browser) {
    const major = parsed.browser.version?.split('.')[0];
    return `${browser}${major ? ` ${major}` : ''}${os ? ` on ${os}` : ''}`;
  }
  if (os) return `a program on ${os}`;
  const first = /^[\w.-]{1,40}(?:\/[\w.-]{1,20})?/.exec(ua)?.[0];
  return first ?? 'an unrecognised client';
}

/** Where a decoy lives: a network share, a machine's own disk, or somewhere else (a wiki, a mailbox, a web page). */
export type PlaceKind = 'share' | 'local' | 'other';

const SHARE = /^(?:\\\\|\/\/|smb:\/\/|cifs:\/\/|nfs:\/\/)([^\\/]{1,255})[\\/]+([^\\/]{1,255})/i;
const LOCAL = /^(?:[a-z]:[\\/]|\/|~\/|%[a-z]{1,30}%)/i;

/**
 * What kind of place a location names: `\\fs01\finance\Q3`, `//fs01/finance` and
 * `smb://fs01/finance` are shares; `C:\Users\…`, `/home/…`, `~/…` and `%APPDATA%\…` are
 * a machine's own disk; anything else (a wiki page, "Edge favourites") is `other`.
 */
export function placeKind(location: string | null | undefined): PlaceKind | null {
  if (!location) return null;
  if (SHARE.test(location)) return 'share';
  if (LOCAL.test(location)) return 'local';
  return 'other';
}

/**
 * One key per place, so that several folders of one share are one location:
 * `\\FS01\finance\Q3` and `\\fs01\Finance\Payroll` are both `\\fs01\finance`. Other places are
 * keyed by their host and the first two levels of their path.
 */
export function placeKey(location: string, plantedHost: string | null): string {
  const share = SHARE.exec(location);
  if (share) return `\\\\${(share[1] ?? '').toLowerCase().split('.')[0]}\\${(share[2] ?? '').toLowerCase()}`;
  const parts = location.toLowerCase().split(/[\\/]+/).filter(Boolean).slice(0, 3);
  return `${(plantedHost ?? '').toLowerCase().split('.')[0]}:${parts.join('\\')}`;
}

/** The share part of a location (`\\FS01\finance`), for sentences, or the location itself. */
export function placeLabel(location: string): string {
  const share = SHARE.exec(location);
  return share ? `\\\\${share[1]}\\${share[2]}` : location;
}

/**
 * The collection technique a read of the decoy proves, by where it was planted: a network share
 * is T1039 (Data from Network Shared Drive), a machine's own disk T1005 (Data from Local
 * System), anything else T1213 (Data from Information Repositories). None when the location is
 * unknown.
 */
export function collectionTechniques(token: { location: string | null }): string[] {
  const kind = placeKind(token.location);
  if (kind === 'share') return ['T1039'];
  if (kind === 'local') return ['T1005'];
  if (kind === 'other') return ['T1213'];
  return [];
}

/** `"Q3 salaries" (\\fs01\finance\Q3 on FS01)`: a decoy and where it was planted, for sentences. */
export function decoyWhere(token: { name: string; location: string | null; plantedHost: string | null }): string {
  const where = [token.location, token.plantedHost ? `on ${token.plantedHost}` : null].filter(Boolean).join(' ');
  return `"${token.name}"${where ? ` (${where})` : ''}`;
}

/** A string field of a stored hit's details, or null: kinds read their own details defensively (stored JSON). */
export function detail(details: Record<string, unknown> | null | undefined, key: string): string | null {
  const v = details?.[key];
  return typeof v === 'string' && v ? v : null;
}
