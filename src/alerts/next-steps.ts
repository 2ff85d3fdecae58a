import type { TrailEntry } from '../db/queries/incidents.ts';
import type { Actor } from './actor.ts';
import { oneLine, unique } from './text.ts';

/**
 * Concrete next steps for the responder, from what the trail shows: isolate the actor's
 * host (or find it behind a resolver / mail server / bare address), reset the decoded
 * user's credentials, treat used decoy credentials as leaked, check logons on each planted host.
 */
export function nextSteps(trail: TrailEntry[], actor: Actor, user: string | null, incidentUrl: string): string[] {
  const steps: string[] = [];
  const ip = trail.find((e) => e.hit.sourceIp)?.hit.sourceIp ?? null;
  if (actor.relay === 'resolver') {
    const q = trail.find((e) => e.hit.qname)?.hit;
    steps.push(`The source ${ip ?? ''} is a DNS resolver: search its query log for ${q?.qname ?? 'the decoy name'} around ${q?.at.toISOString() ?? 'that time'} to find the client machine, then isolate it.`);
  } else if (actor.relay === 'mail-server') {
    steps.push(`The source ${ip ?? ''} is a mail server: trace the message in its logs to the sending account and machine.`);
  } else if (actor.host) {
    steps.push(`Isolate host ${actor.host} (EDR network containment or a quarantine VLAN) and capture memory before any reimage.`);
  } else if (ip) {
    steps.push(`Identify the machine behind ${ip} (DHCP, NAC or VPN logs) and isolate it.`);
  }
  if (user) steps.push(`Reset the credentials of ${user}, revoke its sessions and Kerberos tickets, and review its recent logons.`);
  for (const cred of unique(trail.map((e) => e.hit.credential))) {
    const planted = trail.find((e) => e.hit.credential === cred)?.token.plantedHost;
    steps.push(`Decoy credential ${cred} was used${planted ? ` (planted on ${planted})` : ''}: whoever read it had access to that file; reset the credentials of accounts that can read it and search authentication logs for other uses.`);
  }
  for (const host of unique(trail.map((e) => e.token.plantedHost))) {
    steps.push(`Check logon events on ${host} (Windows 4624/4625/4648, RDP/SMB sessions, SSH auth log) around the touch for the account that read the decoy.`);
  }
  steps.push(`Look for other connections from the source in the trail window (EDR, firewall, netflow), then acknowledge the incident: ${incidentUrl}`);
  return steps.map((s) => oneLine(s, 500));
}
