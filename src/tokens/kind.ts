import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { Config } from '../config.ts';
import type { Channel, Classification, HitRow, TokenRow } from '../db/schema.ts';

/**
 * The contract every token kind satisfies. A kind is one file under `src/tokens/`, one line
 * in `registry.ts` and one test file; channels know kinds only through this type.
 */

/** What a kind may use while creating, rendering or describing a token. */
export interface KindContext {
  readonly config: Config;
}

/** A stored token whose params have already passed the kind's schema. */
export type Token<P = Record<string, unknown>> = Omit<TokenRow, 'params'> & { params: P };

/** Result of `create`: params to store (including anything generated) and an optional O(1) lookup key. */
export interface CreatedToken<P> {
  params: P;
  /** Unique secondary key the channels can find the token by (AWS key id, API key hash …). */
  lookupKey?: string | null;
  /** Path of the token's URL under PUBLIC_URL (see `newTokenPath`), for kinds that have one. */
  urlPath?: string | null;
}

/** What to plant, returned by the API on creation and shown in the UI. */
export interface ArtifactInfo {
  url?: string;
  hostname?: string;
  email?: string;
  /** File name of the downloadable artifact, when the kind produces a file. */
  filename?: string;
  contentType?: string;
  /** Short human hint on where and how to plant it. */
  hint?: string;
  /** Admin API path that downloads the file (set by the service when the kind can render). */
  download?: string;
  /** The same artifact in each format the kind can also render (`?format=`), e.g. a QR code as PNG and SVG. */
  formats?: { format: string; download: string }[];
}

/** A downloadable artifact. */
export interface ArtifactFile {
  filename: string;
  contentType: string;
  body: Buffer;
}

/** A file a defender uploaded for a kind made from their own file (already bounded by UPLOAD_MAX_BYTES). */
export interface UploadedFile {
  /** The name it was uploaded under (a bare file name, as the client sent it). */
  filename: string;
  body: Buffer;
}

/** Decoded facts a kind adds to a hit. */
export interface HitFacts {
  actor?: { user?: string | null; host?: string | null; domain?: string | null };
  credential?: string | null;
  details?: Record<string, unknown>;
  classification?: Classification;
}

/**
 * How much one hit proves (DESIGN section 5): a decoy was touched; a planted credential was
 * found (its portal, endpoint or cluster was reached, without or with the wrong secret); or the
 * planted credential was used. A hop between machines ranks above all three and is decided by
 * the intrusion logic, not by a kind; so does `impact`, a destructive burst a kind saw (a mass
 * overwrite or rename on a decoy share: the ransomware canary), which is critical at once.
 */
export type Evidence = 'touch' | 'credential-found' | 'credential-used' | 'impact';

/** What a kind reads of its token to explain a hit (trail rows carry no more). */
export type Decoy<P = Record<string, unknown>> = Pick<Token<P>, 'id' | 'kind' | 'name' | 'location' | 'plantedHost' | 'params'>;

/** A stored hit as a kind reads it to explain it (details are the kind's own, as it stored them). */
export type StoredHit = Pick<
  HitRow,
  | 'channel' | 'at' | 'sourceIp' | 'userAgent' | 'referer' | 'method' | 'path' | 'query' | 'qname' | 'qtype'
  | 'mailFrom' | 'mailTo' | 'mailSubject' | 'actorUser' | 'actorHost' | 'actorDomain' | 'credential' | 'details' | 'classification'
>;

/** What a stored hit means, in the kind's words: what the alert, the trail and the exports say happened. */
export interface HitMeaning {
  /** The action sentence, e.g. `aws-cli/2.15.0 called sts:GetCallerIdentity in eu-west-1 with key AKIA…XYZ`. */
  action: string;
  evidence: Evidence;
  /** ATT&CK technique ids this hit is evidence of (see hits/attack.ts for names). */
  techniques: string[];
  /**
   * A user identity the hit names that the attacker chose (a user name typed into the portal, a
   * mail sender): it links hits of one identity across channels, and is shown as claimed.
   */
  user?: string | null;
}

/** The public listener's view of one request. */
export interface HttpRequestInfo {
  method: string;
  /** Raw request target (path + query), already bounded in size. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Request body, bounded (see public listener limits). */
  body: Buffer;
  sourceIp: string;
}

/** What the public listener sends back. */
export interface HttpReply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /**
   * Set when the reply is a static file: the listener then answers as nginx's static module
   * does (Last-Modified and ETag from this time, Accept-Ranges, conditional and Range requests,
   * 405 to methods other than GET and HEAD). For a token's reply the token's creation time is used.
   */
  modified?: Date;
}

/** A DNS question as the DNS channel hands it to a kind. */
export interface DnsQueryInfo {
  /** Lower-cased query name without the trailing dot. */
  qname: string;
  qtype: string;
  /** Labels left of the token id (data labels), lower-cased, in order. */
  dataLabels: string[];
  /** The same labels as the resolver sent them (case kept, for case-sensitive data such as user names). */
  rawDataLabels: string[];
  resolverIp: string;
  /** EDNS Client Subnet the resolver forwarded (`192.0.2.0/24`), when present. */
  clientSubnet?: string | null;
  transport?: 'udp' | 'tcp';
}

/** One recipient of an SMTP transaction, as the SMTP channel asks kinds about it. */
export interface SmtpRecipientInfo {
  /** The address lower-cased, e.g. `j.hartmann.finance@mail.corp.example`. */
  address: string;
  localPart: string;
  domain: string;
}

/** One delivered mail as the SMTP channel hands it to a kind (every field already size-bounded). */
export interface SmtpMailInfo {
  /** The recipient that matched this token. */
  recipient: string;
  /** Envelope sender (MAIL FROM), null for the null sender `<>`. */
  mailFrom: string | null;
  /** Every accepted envelope recipient. */
  recipients: string[];
  heloName: string | null;
  clientIp: string;
  /** Reverse DNS name smtp-server resolved for the client, if any. */
  clientHostname: string | null;
  subject: string | null;
  /** Header From, Reply-To, Message-ID, Date and X-Mailer/User-Agent, as sent. */
  headers: Record<string, string>;
  /** Plain-text body, clipped. */
  text: string;
  /** URLs found in the text and HTML bodies (deduplicated, bounded). */
  links: string[];
  attachments: { filename: string | null; contentType: string; size: number }[];
  /** Bytes of the message as received (counted up to the limit). */
  size: number;
}

/** Algorithm lists of the client's SSH KEXINIT (client-to-server directions), each clipped. */
export interface SshKexOffer {
  kex: string[];
  hostKey: string[];
  cipher: string[];
  mac: string[];
  compression: string[];
}

/** One SSH authentication attempt as the SSH channel hands it to a kind (every field already bounded). */
export interface SshAuthInfo {
  method: 'publickey' | 'password';
  /** The user name the client asked to log in as. */
  username: string;
  /** The offered public key: its signature algorithm and `SHA256:…` fingerprint (as `ssh-keygen -l` prints it). */
  key?: { algo: string; fingerprint: string };
  /** The password tried (never stored unless it is the planted one). */
  password?: string;
  /** The client's identification string, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u6`. */
  clientVersion: string;
  /** HASSH: md5 of the client's `kex;ciphers;macs;compression` offer, null when the offer was not seen. */
  hassh: string | null;
  kex: SshKexOffer | null;
  sourceIp: string;
}

/** The honey database services a planted credential can be used against (each has a wire-protocol listener). */
export type LoginService = 'postgres' | 'mysql';

/**
 * One sign-in attempt on a honey service listener, as the listener hands it to a kind (every
 * string already bounded). The listener speaks the protocol; the kind knows the planted secret
 * and asks `proves` whether the client's challenge response was made from it.
 */
export interface ServiceLoginInfo {
  service: LoginService;
  /** The user name the client signed in as, as sent (case kept). */
  user: string;
  /** Database or schema asked for, if any. */
  database: string | null;
  /** What the client said about itself: application_name and client_encoding (PostgreSQL), connect attributes (MySQL). */
  attributes: Record<string, string>;
  sourceIp: string;
  /** The authentication method the exchange used (`SCRAM-SHA-256`, `mysql_native_password`). */
  method: string;
  /** Whether the client answered the authentication challenge at all (a client without a password gives up before). */
  answered: boolean;
  /** True when the client's answer to the challenge was made from `password` (a SCRAM client proof, a native-password scramble). */
  proves(password: string): boolean;
}

export interface TokenKind<P = Record<string, unknown>> {
  /** Stable id used in the API and the database. */
  readonly id: string;
  readonly label: string;
  readonly description: string;
  /** Channels whose traffic can trigger this kind. */
  readonly channels: readonly Channel[];
  /** MITRE ATT&CK technique ids a trigger suggests (see hits/attack.ts for names). */
  readonly techniques: readonly string[];
  /** Validates (and defaults) the params a defender supplies; also drives the admin form. */
  readonly params: z.ZodType<P>;
  /** Example params input: shown as the form's placeholder values and used by the contract tests. */
  readonly example: Record<string, unknown>;
  /** Params the kind fills in itself at creation (stored, but not asked for in forms or JSON Schema). */
  readonly internalParams?: readonly string[];
  /**
   * Params the kind generates when left empty but lets a defender choose (a key id, a user
   * name): the form shows them as generated with a "choose my own" toggle, and a chosen value
   * is validated strictly by `params` and used as given, never replaced.
   */
  readonly generated?: readonly string[];
  /**
   * The params input a rotated generation is made from, for a kind that keeps what the defender
   * gave in `_` params (an uploaded file's bytes). Without it rotation passes the params the
   * defender chose (all but `_`, internal and generated ones) back through `params`.
   */
  rotationParams?(token: Token<P>): Record<string, unknown>;

  /**
   * Exact values an analyst may search for that are not the lookup key: a key id, a portal
   * user name, a mailbox and its address, a service account. Stored lower-cased in
   * `token_terms` at creation, so the tokens page finds the decoy by any of them (indexed).
   */
  searchTerms?(token: Token<P>, ctx: KindContext): string[];

  /** Fill in generated params (paths, secrets) for a new token with id `id`. */
  create(ctx: KindContext, id: string, params: P): CreatedToken<P> | Promise<CreatedToken<P>>;
  /** What to plant (URL, hostname, file name …). */
  artifact(ctx: KindContext, token: Token<P>): ArtifactInfo;
  /** Formats the artifact can be downloaded in besides the token's own (`?format=` on the download). */
  readonly formats?: readonly string[];
  /**
   * Build the downloadable file, for kinds that have one; `format` is one of `formats` when asked
   * for; `upload` is the file the token was made from, for kinds with `upload`.
   */
  render?(ctx: KindContext, token: Token<P>, format?: string, upload?: UploadedFile): ArtifactFile | Promise<ArtifactFile>;

  /**
   * For kinds made from a file the defender uploads (their own document): the service requires
   * the file, asks `accept` before anything is written, stores the file with the token (and
   * nowhere else) and hands it to `render`.
   */
  readonly upload?: {
    /** File types taken, for the form's `accept` and messages (e.g. `.docx,.pdf`). */
    readonly accept: string;
    /**
     * Check the file and return the params to store (what it is, its download name). Throws an
     * `AppError` (`invalid_request`, on field `file`) saying what is wrong with it.
     */
    check(ctx: KindContext, upload: UploadedFile, params: P): Promise<P>;
    /** A small file of a type the kind takes, made on the spot, for the contract tests. */
    example(): Promise<UploadedFile>;
  };

  /**
   * Say what a stored hit of this kind means: the action sentence, the evidence it is and the
   * ATT&CK techniques it shows. Reads the details the kind's own `describe` stored; kinds
   * without it get a plain sentence from the channel fields.
   */
  explain?(hit: StoredHit, token: Decoy<P>): HitMeaning;

  /** Public HTTP behaviour, for kinds triggered over HTTP. */
  http?: {
    /** Find a lookup key in a request that carries no token id (e.g. an AWS key id in Authorization). */
    lookupKey?(req: HttpRequestInfo): string | null;
    describe?(req: HttpRequestInfo, token: Token<P>): HitFacts;
    respond?(req: HttpRequestInfo, token: Token<P>): HttpReply;
  };
  /** DNS behaviour, for kinds triggered by name lookups. */
  dns?: {
    describe?(query: DnsQueryInfo, token: Token<P>): HitFacts;
  };
  /** Honey service behaviour, for kinds whose credentials are used against a wire-protocol listener (PostgreSQL, MySQL). */
  login?: {
    /** The lookup key a sign-in attempt names (from the service and user name), or null when it cannot be this kind's. */
    lookupKey(login: Pick<ServiceLoginInfo, 'service' | 'user'>): string | null;
    describe(login: ServiceLoginInfo, token: Token<P>): HitFacts;
  };
  /** SMTP behaviour, for kinds triggered by mail delivery. */
  smtp?: {
    /** Find a lookup key for a recipient at MAIL_DOMAIN whose local part is not a token id (e.g. a realistic mailbox name). */
    lookupKey?(rcpt: SmtpRecipientInfo): string | null;
    describe?(mail: SmtpMailInfo, token: Token<P>): HitFacts;
  };
  /** SSH behaviour, for kinds whose secret is used to log in to the SSH listener. */
  ssh?: {
    /** The lookup key an attempt would match (a key fingerprint, a user name), or null. */
    lookupKey(auth: SshAuthInfo): string | null;
    describe?(auth: SshAuthInfo, token: Token<P>): HitFacts;
  };
}

/**
 * Declare a kind with its own params type and erase that type for the registry. Safe because
 * every params value handed to a kind was produced by that kind's own `params` schema.
 */
export function defineKind<P>(kind: TokenKind<P>): TokenKind {
  return kind as unknown as TokenKind;
}
