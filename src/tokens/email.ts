import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { detail } from './hit-words.ts';
import { defineKind, type HitFacts, type HitMeaning, type SmtpMailInfo, type StoredHit, type Token } from './kind.ts';
import { backdate, choose } from './secrets.ts';
import { organisationName } from './organisation.ts';
import { renderTemplate } from './templates.ts';

/**
 * A mailbox at MAIL_DOMAIN with a realistic local part (`j.hartmann.finance`) mapped to the
 * token through its lookup key. Plant the address in a contact list, a signature or a
 * mailing-list export; mail to it (phishing from a compromised account, address harvesting)
 * arrives at the SMTP listener and is a hit.
 */

const FIRST = ['Jana', 'Marek', 'Anika', 'Stefan', 'Karin', 'Tomas', 'Ruth', 'David', 'Clara', 'Lukas', 'Nora', 'Peter', 'Helena', 'Erik', 'Sofia', 'Martin', 'Ines', 'Oliver', 'Leah', 'Felix'];
const LAST = ['Hartmann', 'Meyer', 'Novak', 'Okafor', 'Lindqvist', 'Brennan', 'Castillo', 'Schulz', 'Tanaka', 'Moreau', 'Kowalski', 'Fischer', 'Duarte', 'Walsh', 'Ivanova', 'Becker', 'Larsen', 'Rossi', 'Haas', 'Sorensen', 'Keller', 'Vogel', 'Petrov', 'Quinn'];
const DEPARTMENTS = ['finance', 'payroll', 'hr', 'legal', 'it', 'ops', 'treasury', 'accounts', 'sales', 'procurement'];
const TITLES: Record<string, string> = {
  finance: 'Senior Financial Analyst', payroll: 'Payroll Specialist', hr: 'HR Business Partner', legal: 'Legal Counsel', it: 'Systems Administrator',
  ops: 'Operations Manager', treasury: 'Treasury Manager', accounts: 'Accounts Payable Lead', sales: 'Key Account Manager', procurement: 'Procurement Officer',
};

const params = z.object({
  localPart: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/, 'must be a mailbox name such as j.hartmann.finance')
    .optional()
    .describe('Mailbox name before the @ (realistic random name when empty)'),
  firstName: z.string().trim().regex(/^[\p{L}' -]{1,40}$/u, 'must be a name').optional().describe('Person shown in the contact card'),
  lastName: z.string().trim().regex(/^[\p{L}' -]{1,40}$/u, 'must be a name').optional(),
  department: z.enum(DEPARTMENTS as [string, ...string[]]).optional().describe('Department in the address and contact card'),
  organisation: z.string().trim().regex(/^[^\r\n;<>]{1,60}$/, 'must be one line').optional().describe('Organisation in the contact card (default: DECOY_ORGANISATION, the deployment’s one company)'),
});
type EmailParams = z.infer<typeof params>;

/** The lookup key of a mailbox: its local part (the domain is MAIL_DOMAIN for every email token). */
export function mailLookupKey(localPart: string): string {
  return `mail:${localPart.toLowerCase()}`;
}

function generateLocalPart(first: string, last: string, department: string): string {
  const f = first.toLowerCase().replace(/[^a-z]/g, '');
  const l = last.toLowerCase().replace(/[^a-z]/g, '');
  const n = randomInt(10, 99);
  return choose([
    `${f.charAt(0)}.${l}.${department}`,
    `${f}.${l}.${department}`,
    `${f.charAt(0)}${l}.${department}`,
    `${f}.${l}${n}`,
    `${f.charAt(0)}.${l}${n}`,
    `${department}.${f.charAt(0)}${l}`,
  ]);
}

function address(ctx: { config: { MAIL_DOMAIN: string } }, t: Token<EmailParams>): string {
  return `${t.params.localPart ?? t.id}@${ctx.config.MAIL_DOMAIN}`;
}

function describe(mail: SmtpMailInfo): HitFacts {
  return {
    details: {
      envelopeFrom: mail.mailFrom,
      recipients: mail.recipients,
      helo: mail.heloName,
      clientIp: mail.clientIp,
      clientHostname: mail.clientHostname,
      subject: mail.subject,
      headers: mail.headers,
      links: mail.links,
      attachments: mail.attachments,
      size: mail.size,
      text: mail.text,
    },
  };
}

/**
 * Mail to a planted address means the address was harvested from where it was planted. From
 * inside (the sender's domain is the mailbox's own) it is internal spearphishing (T1534, a
 * lateral movement technique); from outside, the address was gathered (T1589.002) for phishing
 * (T1566). The sender mailbox is an identity the attacker chose: claimed, but it links the mail
 * to the same user's other hits.
 */
function explain(hit: StoredHit): HitMeaning {
  const from = hit.mailFrom ?? detail(hit.details, 'envelopeFrom');
  const subject = hit.mailSubject ? ` "${hit.mailSubject.slice(0, 160)}"` : '';
  const helo = detail(hit.details, 'helo');
  const domainOf = (a: string | null | undefined) => (a && a.includes('@') ? a.slice(a.lastIndexOf('@') + 1).toLowerCase() : null);
  const internal = !!from && domainOf(from) !== null && domainOf(from) === domainOf(hit.mailTo);
  const action = `mail${from ? ` from ${from}` : ' with an empty sender'}${subject} was delivered to ${hit.mailTo ?? 'the planted address'}${helo ? ` (sending server introduced itself as ${helo.slice(0, 100)})` : ''}`;
  return { action, evidence: 'touch', techniques: internal ? ['T1534'] : ['T1589.002', 'T1566'], user: from };
}

/** A realistic mailbox at MAIL_DOMAIN: mail delivered to it is a hit (T1114). */
export const email = defineKind<EmailParams>({
  id: 'email',
  label: 'Email address',
  description: 'A realistic mailbox at MAIL_DOMAIN. Mail sent to it arrives at the SMTP listener and is recorded with sender, subject, links and attachments.',
  channels: ['smtp'],
  techniques: ['T1114'],
  params,
  example: { department: 'finance' },
  generated: ['localPart'],
  searchTerms: (t, ctx) => [t.params.localPart ?? '', `${t.params.localPart ?? t.id}@${ctx.config.MAIL_DOMAIN}`],
  create(_ctx, _id, p) {
    const firstName = p.firstName ?? choose(FIRST);
    const lastName = p.lastName ?? choose(LAST);
    const department = p.department ?? choose(DEPARTMENTS);
    const localPart = p.localPart ?? generateLocalPart(firstName, lastName, department);
    return { params: { ...p, firstName, lastName, department, localPart }, lookupKey: mailLookupKey(localPart) };
  },
  artifact(ctx, t) {
    return {
      email: address(ctx, t),
      filename: `${t.params.localPart ?? 'contact'}.vcf`,
      contentType: 'text/vcard; charset=utf-8',
      hint: 'Plant the address where only an intruder harvests it: a contact list, a distribution-list export, an old mail signature. The .vcf is a contact card for address books.',
    };
  },
  render(ctx, t) {
    const department = t.params.department ?? 'finance';
    const body = renderTemplate(
      'tokens/email/contact.vcf.hbs',
      {
        first: t.params.firstName, last: t.params.lastName, org: t.params.organisation ?? organisationName(ctx.config), department: department.toUpperCase().length <= 3 ? department.toUpperCase() : department.charAt(0).toUpperCase() + department.slice(1),
        title: TITLES[department] ?? 'Analyst', address: address(ctx, t), rev: backdate(30, 400).toISOString().replace(/\.\d+Z$/, 'Z'),
      },
      'text',
    );
    return { filename: `${t.params.localPart ?? 'contact'}.vcf`, contentType: 'text/vcard; charset=utf-8', body: Buffer.from(body) };
  },
  explain,
  smtp: {
    lookupKey(rcpt) {
      return rcpt.localPart.length <= 64 ? mailLookupKey(rcpt.localPart) : null;
    },
    describe,
  },
});
