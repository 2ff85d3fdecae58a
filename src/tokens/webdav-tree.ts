import { createHash } from 'node:crypto';

/**
 * The decoy share's tree (webdav-share kind), generated lazily and deterministically from the
 * token id and a theme: a folder's children are a pure function of its path, so listing never
 * runs out, the same path always shows the same names, sizes and dates, and nothing is stored.
 * Depth is bounded (MAX_DEPTH folders below the root); every folder holds files.
 */

export const SHARE_THEMES = ['finance', 'hr', 'it-backups', 'engineering', 'security', 'legal'] as const;
export type ShareTheme = (typeof SHARE_THEMES)[number];

/** Folders below the share root at most (the deepest ones hold only files). */
export const MAX_DEPTH = 4;

interface Theme {
  share: string;
  top: string[];
  folders: string[];
  files: string[];
}

const YEARS = ['2022', '2023', '2024', '2025', '2026'];
const THEMES: Record<ShareTheme, Theme> = {
  finance: {
    share: 'Finance',
    top: ['Accounts Payable', 'Accounts Receivable', 'Budget', 'Payroll', 'Tax', 'Audit', 'Treasury', 'Month End Close'],
    folders: [...YEARS, 'Q1', 'Q2', 'Q3', 'Q4', 'Archive', 'Working', 'Final', 'Reconciliations', 'Board Pack', 'Vendors'],
    files: ['Budget {y}.xlsx', 'Forecast Q{q} {y}.xlsx', 'Payroll export {m}.csv', 'Bank reconciliation {m}.xlsx', 'Vendor master.xlsx', 'Board report Q{q}.docx', 'Audit findings {y}.docx', 'Wire instructions.docx', 'Salary bands {y}.xlsx', 'Invoice register {m}.csv', 'Cash flow {y}.xlsx', 'Tax filing {y}.pdf', 'Expense policy.pdf', 'GL trial balance {m}.xlsx'],
  },
  hr: {
    share: 'HR',
    top: ['Employees', 'Recruiting', 'Compensation', 'Performance Reviews', 'Policies', 'Leavers', 'Benefits'],
    folders: [...YEARS, 'Confidential', 'Offers', 'Contracts', 'Engineering', 'Sales', 'Operations', 'Archive', 'Templates'],
    files: ['Salary review {y}.docx', 'Headcount {m}.xlsx', 'Employee list {y}.xlsx', 'Offer letter template.docx', 'Performance ratings {y}.xlsx', 'Disciplinary notes.docx', 'Benefits enrolment {y}.csv', 'Org chart {y}.pdf', 'Termination checklist.docx', 'Bonus pool {y}.xlsx', 'Employee handbook.pdf', 'Background checks {m}.csv'],
  },
  'it-backups': {
    share: 'Backups',
    top: ['SQL', 'Exchange', 'Veeam', 'Configs', 'Domain Controllers', 'Firewall', 'Scripts', 'VMware'],
    folders: [...YEARS, 'daily', 'weekly', 'monthly', 'old', 'dc01', 'sql02', 'fw-edge', 'esx01'],
    files: ['backup_{y}{mm}{dd}.bak', 'full_{y}-{mm}-{dd}.sql', 'running-config_{y}{mm}{dd}.txt', 'ntds_{y}{mm}{dd}.zip', 'backup.log', 'restore-notes.txt', 'vcenter_{y}{mm}{dd}.zip', 'service-accounts.xlsx', 'passwords.kdbx', 'unattend.xml', 'backup-job.ps1', 'network-passwords.xlsx'],
  },
  engineering: {
    share: 'Engineering',
    top: ['Architecture', 'Releases', 'Runbooks', 'Design Docs', 'Infrastructure', 'Customers', 'Security Reviews'],
    folders: [...YEARS, 'v1', 'v2', 'v3', 'drafts', 'approved', 'archive', 'prod', 'staging', 'terraform', 'diagrams'],
    files: ['Architecture overview.docx', 'Release plan {y}.xlsx', 'Runbook - database failover.docx', 'prod-inventory.csv', 'terraform.tfvars', 'deploy-keys.txt', 'API design.docx', 'Incident review {m}.docx', 'Capacity plan {y}.xlsx', 'network-diagram.vsdx', 'VPN access.docx', 'service-credentials.xlsx'],
  },
  security: {
    share: 'Security',
    top: ['Incidents', 'Pentests', 'Vulnerability Scans', 'Access Reviews', 'Policies', 'Certificates', 'Firewall Rules'],
    folders: [...YEARS, 'Q1', 'Q2', 'Q3', 'Q4', 'external', 'internal', 'remediation', 'evidence', 'archive'],
    files: ['Pentest report {y}.pdf', 'Access review Q{q} {y}.xlsx', 'Privileged accounts.xlsx', 'Incident {y}-{mm}.docx', 'Firewall rules export.csv', 'Vulnerability scan {m}.csv', 'Break-glass procedure.docx', 'VPN access.docx', 'Network passwords.xlsx', 'wildcard-cert.pfx', 'Security policy {y}.pdf'],
  },
  legal: {
    share: 'Legal',
    top: ['Contracts', 'Litigation', 'M&A', 'NDAs', 'Board', 'Compliance', 'IP'],
    folders: [...YEARS, 'Signed', 'Drafts', 'Counterparty', 'Privileged', 'Archive', 'Project Falcon', 'Project Atlas', 'Templates'],
    files: ['Merger plans.docx', 'Board minutes {m}.docx', 'Term sheet.docx', 'Due diligence tracker.xlsx', 'Settlement agreement.pdf', 'NDA - {c}.pdf', 'Share purchase agreement draft.docx', 'Litigation hold {y}.docx', 'Contract register.xlsx', 'Privileged memo.docx'],
  },
};

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const COUNTERPARTIES = ['Meridian', 'Alder Street', 'Quayside', 'Brightwater', 'Sable Ridge', 'Corvel'];

/** One entry of the generated tree. */
export interface TreeNode {
  /** Share-relative path without leading or trailing slash ('' is the root). */
  path: string;
  name: string;
  dir: boolean;
  size: number;
  modified: Date;
}

export function shareName(theme: ShareTheme): string {
  return THEMES[theme].share;
}

function hash(seed: string): Buffer {
  return createHash('sha256').update(seed).digest();
}

/** The children of a generated folder (empty for files and for paths outside the tree). */
export function children(seed: string, theme: ShareTheme, dir: TreeNode): TreeNode[] {
  if (!dir.dir) return [];
  const t = THEMES[theme];
  const depth = dir.path === '' ? 0 : dir.path.split('/').length;
  const h = hash(`${seed}\u0000${dir.path}`);
  const byte = (i: number) => h[i % h.length] ?? 0;
  const out = new Map<string, TreeNode>();
  const folderCount = depth === 0 ? 4 + (byte(0) % 4) : depth >= MAX_DEPTH ? 0 : 1 + (byte(0) % 4);
  const fileCount = (depth === 0 ? 1 : 3) + (byte(1) % 7);
  const pool = depth === 0 ? t.top : t.folders;
  // Dates step back from the folder's own date: newer folders hold newer files.
  const base = dir.modified.getTime();
  // Distinct folder names: the pool in an order of its own for this folder.
  const order = pool.map((n) => ({ n, k: hash(`${seed}\u0000${dir.path}\u0000${n}`).readUInt32BE(0) })).sort((a, b) => a.k - b.k);
  for (let i = 0; i < Math.min(folderCount, order.length); i++) {
    const name = order[i]?.n ?? 'Archive';
    const path = dir.path ? `${dir.path}/${name}` : name;
    out.set(name.toLowerCase(), { path, name, dir: true, size: 0, modified: new Date(base - (byte(10 + i) * 3 + 1) * 86_400_000) });
  }
  for (let i = 0; i < fileCount; i++) {
    const r = hash(`${seed}\u0000${dir.path}\u0000${i}`);
    const when = new Date(base - (r.readUInt16BE(0) % 400) * 86_400_000 - (r.readUInt32BE(2) % 86_400) * 1000);
    const name = fileName(t.files[r.readUInt16BE(6) % t.files.length] ?? 'notes.txt', when, r);
    if (out.has(name.toLowerCase())) continue;
    const path = dir.path ? `${dir.path}/${name}` : name;
    out.set(name.toLowerCase(), { path, name, dir: false, size: declaredSize(name, r), modified: when });
  }
  return [...out.values()];
}

function fileName(pattern: string, when: Date, r: Buffer): string {
  const mm = String(when.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(when.getUTCDate()).padStart(2, '0');
  return pattern
    .replace('{y}', String(when.getUTCFullYear()))
    .replace('{q}', String(Math.floor(when.getUTCMonth() / 3) + 1))
    .replace('{m}', `${MONTHS[when.getUTCMonth()] ?? 'June'} ${when.getUTCFullYear()}`)
    .replace('{mm}', mm)
    .replace('{dd}', dd)
    .replace('{c}', COUNTERPARTIES[(r[9] ?? 0) % COUNTERPARTIES.length] ?? 'Meridian');
}

/** Size of generated filler files (office documents are rendered and measured instead). */
function declaredSize(name: string, r: Buffer): number {
  const n = r.readUInt32BE(10);
  if (/\.(txt|csv|log|ps1|xml|tfvars)$/i.test(name)) return 600 + (n % 40_000);
  return 20_000 + (n % 480_000);
}

/** The share root: a folder dated a few days ago, stable per token. */
export function root(seed: string): TreeNode {
  const days = 1 + ((hash(seed)[0] ?? 0) % 9);
  const now = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return { path: '', name: '', dir: true, size: 0, modified: new Date(now - days * 86_400_000) };
}

/** The generated node at a share-relative path, or null; case-insensitive as a Windows share is. */
export function find(seed: string, theme: ShareTheme, path: string): TreeNode | null {
  let node = root(seed);
  if (path === '') return node;
  const parts = path.split('/');
  if (parts.length > MAX_DEPTH + 1) return null;
  for (const part of parts) {
    const next = children(seed, theme, node).find((c) => c.name.toLowerCase() === part.toLowerCase());
    if (!next) return null;
    node = next;
  }
  return node;
}

/** Deterministic filler bytes of a generated file: text for text files, a format's magic then noise otherwise. */
export function fillerContent(seed: string, node: TreeNode): Buffer {
  const out = Buffer.alloc(node.size);
  // mulberry32 seeded from the path: linear and cheap (a hash per block cost ~15 ms for 500 KB).
  let a = hash(`${seed}\u0000content\u0000${node.path}`).readUInt32BE(0);
  for (let i = 0; i + 4 <= out.length; i += 4) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out.writeUInt32LE((t ^ (t >>> 14)) >>> 0, i);
  }
  if (/\.(txt|csv|log|ps1|xml|tfvars)$/i.test(node.name)) {
    const line = `${node.name.replace(/\.[^.]+$/, '')};${node.modified.toISOString()};`;
    for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) % 5 === 0 ? 10 : line.charCodeAt((out[i] ?? 0) % line.length);
  } else {
    const magic = /\.pdf$/i.test(node.name) ? '%PDF-1.7\n' : /\.(zip|vsdx)$/i.test(node.name) ? 'PK\u0003\u0004' : /\.bak$/i.test(node.name) ? 'TAPE' : '';
    Buffer.from(magic, 'latin1').copy(out, 0);
  }
  return out;
}
