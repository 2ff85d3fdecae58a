/**
 * Purple-team scenarios: short, ATT&CK-mapped intrusions a drill replays against the real
 * listeners with decoys of its own (src/drills/run.ts). Each step plants one decoy the way a
 * defender would and then does what an intruder does with it; `expect` says what the
 * correlation should conclude, so a run shows whether detection covers the scenario.
 */

/** What a step does with its decoy, over the decoy's own channel. */
export type DrillAction =
  /** Fetch the decoy's URL as the program that opens the file would (a document's linked picture). */
  | 'open'
  /** Resolve the decoy's host name at the DNS listener (Explorer reading a folder, a script's lookup). */
  | 'resolve'
  /** Sign in at the decoy's portal with the planted user name and password. */
  | 'sign-in';

export interface DrillStep {
  /** What the intruder does, in words (the report's line). */
  does: string;
  /** ATT&CK technique the step exercises. */
  technique: string;
  decoy: { kind: string; name: string; location: string; plantedHost?: string; params?: Record<string, unknown> };
  action: DrillAction;
  /** User agent of the step's request (the program the scenario imitates). */
  userAgent?: string;
}

export interface DrillScenario {
  name: string;
  title: string;
  /** What is replayed, for the settings page and `drill --list`. */
  summary: string;
  steps: readonly DrillStep[];
  /** What the correlation should conclude: one intrusion, lateral movement or not, techniques named. */
  expect: { lateral: boolean; techniques: readonly string[] };
}

const WORD_UA = 'Microsoft Office Word 2014 (16.0.17928) Windows NT 10.0';
const EXCEL_UA = 'Microsoft Office Excel 2014 (16.0.17928) Windows NT 10.0';
const BROWSER_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0';

export const SCENARIOS: readonly DrillScenario[] = [
  {
    name: 'read-share-use-key-elsewhere',
    title: 'Read a share, use a found password elsewhere',
    summary:
      'An intruder on a workstation opens a board document on the finance share (T1039), finds a password file in a user profile on WS-DRILL01 (T1552.001) and signs in with it from another machine (T1078, T1021): one intrusion, lateral movement from WS-DRILL01.',
    steps: [
      {
        does: 'opens the board pack on the finance share',
        technique: 'T1039',
        decoy: { kind: 'word', name: 'Q3 board pack (drill)', location: '\\\\FS-DRILL01\\finance\\Board', plantedHost: 'FS-DRILL01' },
        action: 'open',
        userAgent: WORD_UA,
      },
      {
        does: 'signs in at the remote-access portal with the password found in a profile on WS-DRILL01',
        technique: 'T1078',
        decoy: { kind: 'credentials', name: 'VPN password note (drill)', location: 'C:\\Users\\a.drill\\Documents\\passwords.txt', plantedHost: 'WS-DRILL01' },
        action: 'sign-in',
        userAgent: BROWSER_UA,
      },
    ],
    expect: { lateral: true, techniques: ['T1039', 'T1078'] },
  },
  {
    name: 'share-recon',
    title: 'Browse a file share',
    summary: 'An intruder browses the IT share and opens a spreadsheet and a document on it (T1039): one intrusion, no lateral movement.',
    steps: [
      {
        does: 'opens the server inventory spreadsheet on the IT share',
        technique: 'T1039',
        decoy: { kind: 'excel', name: 'Server inventory (drill)', location: '\\\\FS-DRILL01\\it\\Inventory', plantedHost: 'FS-DRILL01' },
        action: 'open',
        userAgent: EXCEL_UA,
      },
      {
        does: 'opens the network diagram on the IT share',
        technique: 'T1039',
        decoy: { kind: 'word', name: 'Network diagram (drill)', location: '\\\\FS-DRILL01\\it\\Docs', plantedHost: 'FS-DRILL01' },
        action: 'open',
        userAgent: WORD_UA,
      },
    ],
    expect: { lateral: false, techniques: ['T1039'] },
  },
  {
    name: 'name-lookup',
    title: 'Resolve a planted host name',
    summary:
      'An intruder collects a configuration file from a compromised application server (T1005) and resolves the backup server it names, through the DNS listener: the resolver that carries the query is shown as the relay, never as the actor.',
    steps: [
      {
        does: 'resolves the backup server name found in a configuration file',
        technique: 'T1005',
        decoy: { kind: 'dns', name: 'Backup server name (drill)', location: '/etc/backup/agent.conf', plantedHost: 'APP-DRILL01' },
        action: 'resolve',
      },
    ],
    expect: { lateral: false, techniques: ['T1005'] },
  },
];

export function findScenario(name: string): DrillScenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
