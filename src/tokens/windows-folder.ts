import { randomInt } from 'node:crypto';
import { zipSync } from 'fflate';
import { z } from 'zod';
import { placeKind } from './hit-words.ts';
import { defineKind } from './kind.ts';
import { pick } from './urls.ts';
import { tokenHostName } from './addresses.ts';

/** MS-DOS attribute bits, stored in the zip's external attributes when the entry is made on "DOS" (os 0). */
const DOS = { readOnly: 0x01, hidden: 0x02, system: 0x04, directory: 0x10, archive: 0x20 } as const;
/** Explorer reads desktop.ini only in a folder marked read-only (or system); the ini itself is hidden + system like Windows writes it. */
export const FOLDER_ATTRS = DOS.directory | DOS.readOnly;
export const INI_ATTRS = DOS.archive | DOS.hidden | DOS.system;

const FOLDER_NAMES = [
  'Finance', 'Payroll', 'HR Confidential', 'IT Admin', 'Backups', 'Contracts', 'Board Minutes', 'Passwords',
  'VPN Configs', 'Salaries', 'Legal', 'Audit 2024', 'Audit 2025', 'M&A', 'Network Diagrams', 'Server Inventory',
] as const;
const FOLDER_TYPES = ['Generic', 'Documents', 'Generic', 'Documents', 'Pictures'] as const;

/** The Windows variables Explorer expands in the UNC path, by what they reveal. */
const VARIABLES = { user: '%USERNAME%', computer: '%COMPUTERNAME%', domain: '%USERDOMAIN%' } as const;
type Part = keyof typeof VARIABLES;
const ORDERS: readonly (readonly Part[])[] = [
  ['user', 'computer', 'domain'], ['computer', 'user', 'domain'], ['domain', 'user', 'computer'],
  ['domain', 'computer', 'user'], ['computer', 'domain', 'user'], ['user', 'domain', 'computer'],
];
/** A label after the variables, as a file server's DFS or cache name would read. */
const MARKERS = ['fs', 'dfs', 'files', 'share', 'res', 'cache', 'sync', 'store', 'nas', 'docs', 'static', 'home'] as const;
const SHARES = ['icons', 'NETLOGON', 'Public', 'deploy$', 'branding', 'IT$', 'Resources', 'Common'] as const;
const ICONS = ['folder.ico', 'dept.ico', 'shared.ico', 'locked.ico', 'archive.ico', 'icons.dll', 'shell.dll', 'finance.ico'] as const;

/** Where the folder's icon lives: drawn per token, so no two decoys share one layout. */
const layout = z.object({
  order: z.array(z.enum(['user', 'computer', 'domain'])).length(3),
  marker: z.string().regex(/^[a-z]{2,12}$/),
  share: z.string().regex(/^[\w$]{1,32}$/),
  file: z.string().regex(/^[\w.-]{1,40}$/),
  index: z.number().int().min(-400).max(400),
});
type Layout = z.infer<typeof layout>;

function newLayout(): Layout {
  const file = pick(ICONS);
  return { order: [...pick(ORDERS)], marker: pick(MARKERS), share: pick(SHARES), file, index: file.endsWith('.dll') ? randomInt(1, 40) : 0 };
}

const params = z.object({
  folderName: z
    .string()
    .trim()
    .min(1)
    .max(80)
    .regex(/^[^\\/:*?"<>|\u0000-\u001f]+$/, 'must be a valid Windows folder name')
    .optional()
    .describe('Name of the folder in the zip (default: a plausible random name)'),
  layout: layout.optional().describe('Filled in at creation: how the icon path spells user, computer and domain'),
});

type FolderParams = z.infer<typeof params>;

/**
 * The UNC host Explorer resolves while drawing the folder: user, computer and domain expanded by
 * Windows, in the token's own order, then its marker label. Tokens made before layouts were drawn
 * keep the layout they were planted with (`<user>.<computer>.<domain>.INI`).
 */
export function iconHost(tokenHost: string, l?: Layout): string {
  if (!l) return `%USERNAME%.%COMPUTERNAME%.%USERDOMAIN%.INI.${tokenHost}`;
  return `${l.order.map((p) => VARIABLES[p]).join('.')}.${l.marker}.${tokenHost}`;
}

/** desktop.ini as Explorer writes it: UTF-16LE with a BOM and CRLF line ends. */
export function desktopIni(tokenHost: string, l?: Layout): Buffer {
  const target = l ? `\\\\${iconHost(tokenHost, l)}\\${l.share}\\${l.file},${l.index}` : `\\\\${iconHost(tokenHost)}\\resource.dll`;
  const lines = ['[.ShellClassInfo]', `IconResource=${target}`];
  if (randomInt(2) === 0) lines.push('[ViewState]', 'Mode=', 'Vid=', `FolderType=${pick(FOLDER_TYPES)}`);
  const text = `${lines.join('\r\n')}\r\n`;
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

type Actor = { user: string | null; host: string | null; domain: string | null };
const expanded = (label: string | undefined): string | null => (label && !/^%\w+%$/.test(label) ? label : null);

/**
 * Decode the labels left of the token host with the token's layout. Computer and domain names are
 * single labels; the user name may hold dots, so it takes whatever lies between them. A lookup
 * without the marker label is not Explorer drawing the folder (a scanner or someone reading the
 * file): noise.
 */
export function decodeLabels(raw: readonly string[], l?: Layout): Actor | null {
  if (!l) return decodeIniLabels(raw);
  if (raw.length < 4 || (raw[raw.length - 1] ?? '').toLowerCase() !== l.marker) return null;
  const parts = raw.slice(0, -1);
  const at = l.order.indexOf('user');
  const user = parts.slice(at, parts.length - (2 - at));
  const single = parts.filter((_, i) => i < at || i >= parts.length - (2 - at));
  const others: Part[] = l.order.filter((p) => p !== 'user');
  const value = (p: Part) => expanded(single[others.indexOf(p)]);
  return { user: expanded(user.join('.')), host: value('computer'), domain: value('domain') };
}

/**
 * Decode `user.computer.domain.INI` (the layout of tokens made before layouts were drawn). User
 * names may contain dots, so computer and domain are taken from the right.
 */
export function decodeIniLabels(raw: readonly string[]): Actor | null {
  if (raw.length < 2 || (raw[raw.length - 1] ?? '').toLowerCase() !== 'ini') return null;
  const parts = raw.slice(0, -1).map((p) => (/^%\w+%$/.test(p) ? '' : p));
  const [domain, host] = parts.length >= 3 ? [parts[parts.length - 1], parts[parts.length - 2]] : [null, parts[1]];
  const user = parts.slice(0, parts.length >= 3 ? -2 : 1).join('.');
  return { user: user || null, host: host || null, domain: domain || null };
}

/** A zipped folder whose desktop.ini makes Windows Explorer resolve a token host naming the user, computer and domain. */
export const windowsFolder = defineKind<FolderParams>({
  id: 'windows-folder',
  label: 'Windows folder',
  description: 'A zipped folder with a desktop.ini. When someone browses the folder in Windows Explorer, Windows looks up a name that reveals the user, computer and domain.',
  channels: ['dns'],
  techniques: ['T1135', 'T1083', 'T1039'],
  params,
  example: { folderName: 'Payroll 2025' },
  internalParams: ['layout'],
  create(_ctx, _id, p) {
    return { params: { folderName: p.folderName ?? pick(FOLDER_NAMES), layout: p.layout ?? newLayout() } };
  },
  artifact(ctx, token) {
    const folder = token.params.folderName ?? 'Finance';
    return {
      hostname: `${tokenHostName(ctx.config.DNS_ZONE, token)}`,
      filename: `${folder}.zip`,
      contentType: 'application/zip',
      hint: `Unzip "${folder}" onto a file share or a desktop (keep its attributes, e.g. with Explorer or 7-Zip). Browsing it in Explorer fires the token.`,
    };
  },
  render(ctx, token) {
    const folder = token.params.folderName ?? 'Finance';
    // A plausible last-modified time within the past year, different for every download.
    const mtime = new Date(Date.now() - randomInt(3, 365) * 86_400_000 - randomInt(86_400) * 1000);
    const body = zipSync(
      {
        [`${folder}/`]: [new Uint8Array(0), { os: 0, attrs: FOLDER_ATTRS, mtime }],
        [`${folder}/desktop.ini`]: [desktopIni(tokenHostName(ctx.config.DNS_ZONE, token), token.params.layout), { os: 0, attrs: INI_ATTRS, mtime, level: 6 }],
      },
      { level: 6 },
    );
    return { filename: `${folder}.zip`, contentType: 'application/zip', body: Buffer.from(body) };
  },
  explain(hit, token) {
    const who = [hit.actorUser ? `${hit.actorDomain ? `${hit.actorDomain}\\` : ''}${hit.actorUser}` : null, hit.actorHost ? `on ${hit.actorHost}` : null].filter(Boolean).join(' ');
    const where = token.location ?? `the decoy folder "${token.name}"`;
    // Explorer reads desktop.ini when it shows the folder: browsing a share is discovery, not collection.
    const techniques = placeKind(token.location) === 'share' ? ['T1083', 'T1135'] : ['T1083'];
    return { action: `Explorer listed ${where}${who ? ` as ${who}` : ''} (names reported by the lookup)`, evidence: 'touch', techniques };
  },
  dns: {
    describe(query, token) {
      const actor = decodeLabels(query.rawDataLabels, token.params.layout);
      if (!actor) return { classification: 'noise', details: { reason: 'lookup without desktop.ini user data' } };
      return { actor, details: { folderBrowse: true } };
    },
  },
});
