import type { TrailEntry } from '../db/queries/incidents.ts';
import type { Actor } from '../hits/actor.ts';
import { oneLine, unique } from '../text.ts';
import type { PathView } from './path.ts';

/**
 * Concrete next steps for the responder, from what the intrusion shows: isolate every machine
 * on its path (or find the machine behind a resolver / mail server), reset the user's
 * credentials, treat used decoy credentials as leaked and the hosts they were taken from as
 * compromised, check logons on each planted host.
 */
export function nextSteps(trail: TrailEntry[], actor: Actor, user: string | null, incidentUrl: string, path?: PathView): string[] {
  const steps: string[] = [];
  const seen = path?.machines.filter((m) => !m.inferred).map((m) => m.label) ?? [];
  const takenFrom = path?.machines.filter((m) => m.inferred).map((m) => m.label) ?? [];
  if (seen.length > 1) {
    steps.push(`Isolate ${seen.join(', ')} (EDR network containment or a quarantine VLAN): the intrusion moved between them (${path?.text ?? ''}). Capture memory before any reimage.`);
  } else if (actor.relay?.kind === 'resolver') {
    const q = trail.find((e) => e.hit.qname)?.hit;
    const named = actor.machine?.claimed ? ` The lookup reports ${actor.machine.label}, but the attacker controls that name.` : '';
    steps.push(`${actor.relay.ip ?? 'The source'} is a DNS resolver, not the actor: search its query log for ${q?.qname ?? 'the decoy name'} around ${q?.at.toISOString() ?? 'that time'} to find the client machine, then isolate it.${named}`);
  } else if (actor.relay?.kind === 'mail-server') {
    steps.push(`${actor.relay.ip ?? 'The source'} is a mail server relaying for the sender: trace the message in its logs to the sending account and machine.`);
  } else if (actor.host) {
    steps.push(`Isolate host ${actor.host} (EDR network containment or a quarantine VLAN) and capture memory before any reimage.`);
  } else if (actor.ip) {
    steps.push(`Identify the machine behind ${actor.ip} (DHCP, NAC or VPN logs) and isolate it.`);
  }
  for (const host of takenFrom) steps.push(`Treat ${host} as compromised: a secret planted on it was used elsewhere, so someone read its files. Look for the initial access there.`);
  if (user) steps.push(`Reset the credentials of ${user}, revoke its sessions and Kerberos tickets, and review its recent logons (the name was reported by the attacker's machine: confirm it in your logs).`);
  for (const cred of unique(trail.map((e) => e.hit.credential))) {
    const planted = trail.find((e) => e.hit.credential === cred)?.token.plantedHost;
    steps.push(`Decoy credential ${cred} was used${planted ? ` (planted on ${planted})` : ''}: whoever read it had access to that file; reset the credentials of accounts that can read it and search authentication logs for other uses.`);
  }
  for (const host of unique(trail.map((e) => e.token.plantedHost))) {
    steps.push(`Check logon events on ${host} (Windows 4624/4625/4648, RDP/SMB sessions, SSH auth log) around the touch for the account that read the decoy.`);
  }
  steps.push(`Look for other connections from these machines in the trail window (EDR, firewall, netflow), then acknowledge the incident: ${incidentUrl}`);
  return steps.map((s) => oneLine(s, 500));
}
