import { choose, personName } from './office.ts';

/**
 * The catalogue of decoy document contents shared by `word` and `excel`: each theme is what an
 * intruder hunting a file share hopes to find (pay, passwords, deals). Rows, names and figures
 * come from the token's seed, so each token's document differs and stays stable across downloads.
 */

export type Cell = string | number;

/** A table of the document (a Word table, or the main sheet of a workbook). */
export interface DecoyTable {
  columns: string[];
  rows: Cell[][];
  /** Number format of numeric columns: money or plain integers. */
  money: boolean;
  /** The last column is the sum of the columns from..to (0-based): a formula in a workbook. */
  total?: { from: number; to: number };
}

export interface DecoyContent {
  title: string;
  /** File name without extension. */
  fileStem: string;
  /** Sheet name (at most 31 characters, no []:*?/\). */
  sheet: string;
  paragraphs: string[];
  table: DecoyTable;
  /** Short lines for a workbook's second sheet. */
  notes: string[];
}

interface Theme {
  label: string;
  build(rand: () => number, when: Date, company: string): DecoyContent;
}

const DEPARTMENTS = ['Finance', 'Sales', 'Engineering', 'Operations', 'HR', 'Legal', 'IT', 'Marketing', 'Procurement', 'Customer Service'] as const;
const ROLES = ['Analyst', 'Senior Analyst', 'Manager', 'Team Lead', 'Specialist', 'Director', 'Engineer', 'Coordinator', 'Consultant'] as const;
const SYSTEMS = [
  ['Domain admin', 'DC01'], ['Backup server', 'BKP-02'], ['Firewall', 'FW-EDGE-1'], ['Core switch', 'SW-CORE-01'], ['vCenter', 'VC01'],
  ['SQL (ERP)', 'SQL-ERP-01'], ['File server', 'FS01'], ['Wi-Fi controller', 'WLC-01'], ['Printer admin', 'PRN-03'], ['NAS', 'NAS-02'], ['Hyper-V host', 'HV-04'],
] as const;
const WORDS = ['Summer', 'Winter', 'Welcome', 'Falcon', 'Harbour', 'Spring', 'Orion', 'Monday', 'Dragon', 'Maple', 'Coffee', 'Autumn'] as const;
const SYMBOLS = ['!', '#', '$', '@', '*', '?'] as const;
const CODENAMES = ['Project Heron', 'Project Atlas', 'Project Juniper', 'Project Kestrel', 'Project Granite', 'Project Lighthouse'] as const;
const TARGETS = ['a regional logistics provider', 'a specialist software vendor', 'a competitor in the DACH market', 'a family-owned distributor', 'a UK services group'] as const;
const COST_CENTRES = ['Facilities', 'IT infrastructure', 'Software licences', 'Travel', 'Recruitment', 'Training', 'Marketing events', 'Consulting', 'Insurance', 'Fleet'] as const;

const int = (rand: () => number, min: number, max: number): number => min + Math.floor(rand() * (max - min + 1));
const rows = <T>(rand: () => number, min: number, max: number, row: (i: number) => T): T[] => Array.from({ length: int(rand, min, max) }, (_, i) => row(i));
const quarter = (d: Date): string => `Q${Math.floor(d.getUTCMonth() / 3) + 1}`;
const day = (d: Date): string => d.toISOString().slice(0, 10);
const password = (rand: () => number): string =>
  rand() < 0.5 ? `${choose(WORDS, rand)}${int(rand, 2019, 2026)}${choose(SYMBOLS, rand)}` : `${choose(WORDS, rand)}${choose(SYMBOLS, rand)}${int(rand, 100, 9999)}`;
const login = (name: string): string => name.toLowerCase().replace(/^(\S)\S*\s+(\S+)$/, '$1.$2');

export const THEMES = {
  salaries: {
    label: 'Salary review',
    build(rand, when, company) {
      const year = when.getUTCFullYear();
      return {
        title: `Salary review ${year}`,
        fileStem: `Salaries_${year}_${quarter(when)}`,
        sheet: `Salaries ${year}`,
        paragraphs: [
          `Strictly confidential. Proposed base salaries and bonus targets for ${company} after the ${year} review cycle.`,
          'Figures are annual gross amounts. Changes take effect with the next payroll run once approved by the compensation committee.',
        ],
        table: {
          columns: ['Employee', 'Department', 'Role', 'Base salary', 'Bonus %'],
          rows: rows(rand, 12, 28, () => [personName(rand), choose(DEPARTMENTS, rand), choose(ROLES, rand), int(rand, 42, 165) * 1000, int(rand, 0, 20)]),
          money: true,
        },
        notes: ['Source: HR system export', `Prepared ${day(when)}`, 'Do not forward outside the compensation committee'],
      };
    },
  },
  'network-passwords': {
    label: 'Network passwords',
    build(rand, when, company) {
      return {
        title: 'Infrastructure accounts',
        fileStem: rand() < 0.5 ? 'passwords' : 'Network_accounts',
        sheet: 'Accounts',
        paragraphs: [
          `Service and administrator accounts for the ${company} network. Keep this list up to date after every password change.`,
          'Temporary list until the password vault migration is finished.',
        ],
        table: {
          columns: ['System', 'Host', 'Username', 'Password', 'Notes'],
          rows: rows(rand, 7, 11, (i) => {
            const [system, host] = choose(SYSTEMS, rand);
            return [system, `${host.toLowerCase()}${i % 3 === 0 ? '' : `.corp.local`}`, rand() < 0.4 ? 'administrator' : `svc_${host.toLowerCase().replace(/-\d+$/, '').replace(/-/g, '')}`, password(rand), rand() < 0.3 ? 'changed after audit' : ''];
          }),
          money: false,
        },
        notes: [`Last checked ${day(when)}`, 'Local admin passwords are in the IT folder'],
      };
    },
  },
  'vpn-access': {
    label: 'VPN access',
    build(rand, when, company) {
      const gateway = `vpn${int(rand, 1, 3)}.${company.toLowerCase().replace(/[^a-z]+/g, '').slice(0, 12) || 'corp'}.com`;
      return {
        title: 'Remote access (VPN) accounts',
        fileStem: rand() < 0.5 ? 'VPN_access' : 'vpn-accounts',
        sheet: 'VPN users',
        paragraphs: [`Gateway: ${gateway}. Accounts issued to contractors and remote staff of ${company}.`, 'MFA exemptions are temporary and are reviewed monthly.'],
        table: {
          columns: ['Name', 'Username', 'Initial password', 'Group', 'MFA exempt'],
          rows: rows(rand, 8, 16, () => {
            const name = personName(rand);
            return [name, login(name), password(rand), choose(['Contractors', 'Staff', 'IT', 'Vendors'] as const, rand), rand() < 0.3 ? 'yes' : 'no'];
          }),
          money: false,
        },
        notes: [`Gateway ${gateway}`, `Exported ${day(when)}`],
      };
    },
  },
  'merger-plans': {
    label: 'Merger plans',
    build(rand, when, company) {
      const code = choose(CODENAMES, rand);
      return {
        title: `${code}: acquisition outline`,
        fileStem: `${code.replace(/\s+/g, '_')}_outline`,
        sheet: 'Workstreams',
        paragraphs: [
          `${code} is the proposed acquisition of ${choose(TARGETS, rand)} by ${company}. The information in this document is inside information; do not share it beyond the deal team.`,
          `Indicative valuation: ${int(rand, 40, 480)} million, subject to due diligence. Announcement is targeted for ${quarter(when)} ${when.getUTCFullYear() + 1}.`,
          'Open points: financing structure, retention packages for key staff, and regulatory filings.',
        ],
        table: {
          columns: ['Workstream', 'Owner', 'Target date', 'Status', 'Budget'],
          rows: ['Financial due diligence', 'Legal due diligence', 'Financing', 'Integration planning', 'Communications', 'Regulatory filings'].map((w) => [w, personName(rand), day(new Date(when.getTime() + int(rand, 10, 200) * 86_400_000)), choose(['open', 'in progress', 'on hold', 'done'] as const, rand), int(rand, 20, 900) * 1000]),
          money: true,
        },
        notes: ['Deal team only', `Version ${int(rand, 2, 9)}`],
      };
    },
  },
  'board-minutes': {
    label: 'Board minutes',
    build(rand, when, company) {
      const date = day(when);
      return {
        title: `Minutes of the board meeting, ${date}`,
        fileStem: `Board_minutes_${date}`,
        sheet: 'Actions',
        paragraphs: [
          `Present: ${personName(rand)} (chair), ${personName(rand)}, ${personName(rand)}, ${personName(rand)}. Minutes: ${personName(rand)}.`,
          `1. The board reviewed the ${quarter(when)} results of ${company}; revenue is ${int(rand, 2, 14)}% below plan and the forecast will be revised.`,
          `2. The restructuring of ${choose(DEPARTMENTS, rand)} was approved; about ${int(rand, 8, 60)} positions are affected. Staff will be informed after the works council meeting.`,
          '3. The board discussed a possible sale of a business unit. Details remain confidential.',
        ],
        table: {
          columns: ['Action', 'Owner', 'Due', 'Status', 'Budget'],
          rows: ['Revise forecast', 'Prepare restructuring plan', 'Brief works council', 'Engage advisors', 'Update risk register'].map((a) => [a, personName(rand), day(new Date(when.getTime() + int(rand, 7, 90) * 86_400_000)), 'open', int(rand, 0, 250) * 1000]),
          money: true,
        },
        notes: ['Confidential', `Meeting of ${date}`],
      };
    },
  },
  budget: {
    label: 'Budget',
    build(rand, when, company) {
      const year = when.getUTCFullYear() + (when.getUTCMonth() >= 8 ? 1 : 0);
      return {
        title: `Budget ${year}`,
        fileStem: `Budget_${year}_final`,
        sheet: `Budget ${year}`,
        paragraphs: [`Operating budget of ${company} for ${year} by cost centre, in thousands.`, 'Approved by the executive team; reallocation above 10% needs CFO sign-off.'],
        table: {
          columns: ['Cost centre', 'Q1', 'Q2', 'Q3', 'Q4', 'Total'],
          rows: COST_CENTRES.filter(() => rand() < 0.8).map((c) => {
            const q = [int(rand, 20, 900), int(rand, 20, 900), int(rand, 20, 900), int(rand, 20, 900)];
            return [c, ...q, q.reduce((a, b) => a + b, 0)];
          }),
          money: true,
          total: { from: 1, to: 4 },
        },
        notes: [`Status: approved ${day(when)}`, 'Amounts in thousands'],
      };
    },
  },
} satisfies Record<string, Theme>;

export type ThemeId = keyof typeof THEMES;
export const THEME_IDS = Object.keys(THEMES) as [ThemeId, ...ThemeId[]];

/**
 * Custom text from the defender, in the same shape as a catalogue theme: an own title replaces
 * the theme's; own text replaces the theme's paragraphs and its table (they would not match).
 */
export function customContent(title: string, body: string, theme: DecoyContent): DecoyContent {
  const paragraphs = body.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const own = paragraphs.length > 0;
  return {
    ...theme,
    title: title || theme.title,
    paragraphs: own ? paragraphs : theme.paragraphs,
    table: own ? { ...theme.table, rows: [] } : theme.table,
  };
}
