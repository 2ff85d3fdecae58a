/**
 * MITRE ATT&CK (Enterprise) technique names for the ids token kinds declare. Alerts print
 * `T1552.001 Credentials In Files` rather than a bare id, so a responder needs no lookup.
 */
export const TECHNIQUES: Readonly<Record<string, string>> = Object.freeze({
  T1005: 'Data from Local System',
  T1012: 'Query Registry',
  T1016: 'System Network Configuration Discovery',
  T1018: 'Remote System Discovery',
  T1021: 'Remote Services',
  'T1021.001': 'Remote Services: Remote Desktop Protocol',
  'T1021.002': 'Remote Services: SMB/Windows Admin Shares',
  'T1021.004': 'Remote Services: SSH',
  T1033: 'System Owner/User Discovery',
  T1039: 'Data from Network Shared Drive',
  T1046: 'Network Service Discovery',
  T1047: 'Windows Management Instrumentation',
  T1049: 'System Network Connections Discovery',
  'T1053.005': 'Scheduled Task/Job: Scheduled Task',
  T1057: 'Process Discovery',
  T1069: 'Permission Groups Discovery',
  T1072: 'Software Deployment Tools',
  T1078: 'Valid Accounts',
  'T1078.002': 'Valid Accounts: Domain Accounts',
  'T1078.003': 'Valid Accounts: Local Accounts',
  'T1078.004': 'Valid Accounts: Cloud Accounts',
  T1082: 'System Information Discovery',
  T1083: 'File and Directory Discovery',
  T1087: 'Account Discovery',
  'T1087.002': 'Account Discovery: Domain Account',
  T1110: 'Brute Force',
  'T1110.001': 'Brute Force: Password Guessing',
  'T1110.003': 'Brute Force: Password Spraying',
  T1114: 'Email Collection',
  'T1114.002': 'Email Collection: Remote Email Collection',
  T1135: 'Network Share Discovery',
  T1190: 'Exploit Public-Facing Application',
  T1213: 'Data from Information Repositories',
  T1482: 'Domain Trust Discovery',
  T1485: 'Data Destruction',
  T1486: 'Data Encrypted for Impact',
  T1490: 'Inhibit System Recovery',
  T1530: 'Data from Cloud Storage',
  T1534: 'Internal Spearphishing',
  T1552: 'Unsecured Credentials',
  'T1552.001': 'Unsecured Credentials: Credentials In Files',
  'T1552.004': 'Unsecured Credentials: Private Keys',
  'T1552.005': 'Unsecured Credentials: Cloud Instance Metadata API',
  'T1552.007': 'Unsecured Credentials: Container API',
  T1555: 'Credentials from Password Stores',
  'T1555.004': 'Credentials from Password Stores: Windows Credential Manager',
  'T1555.006': 'Credentials from Password Stores: Cloud Secrets Management Stores',
  T1558: 'Steal or Forge Kerberos Tickets',
  T1566: 'Phishing',
  'T1566.002': 'Phishing: Spearphishing Link',
  T1580: 'Cloud Infrastructure Discovery',
  'T1583.001': 'Acquire Infrastructure: Domains',
  'T1589.002': 'Gather Victim Identity Information: Email Addresses',
  T1591: 'Gather Victim Org Information',
  'T1598.003': 'Phishing for Information: Spearphishing Link',
  T1613: 'Container and Resource Discovery',
  T1619: 'Cloud Storage Object Discovery',
});

/** A technique id with its name, for alerts and exports. */
export interface Technique {
  id: string;
  name: string;
  url: string;
}

/** Name a technique id; unknown ids keep their id as name (a kind may be newer than this table). */
export function technique(id: string): Technique {
  return { id, name: TECHNIQUES[id] ?? id, url: `https://attack.mitre.org/techniques/${id.replace('.', '/')}/` };
}

/** A credential used away from the host it was planted on reached a (honey) remote service with a valid account. */
export const HOP_TECHNIQUES = ['T1021'] as const;
