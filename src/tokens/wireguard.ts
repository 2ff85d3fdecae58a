import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { ensureWireguardKey, newWireguardPrivateKey, wireguardPublicKey } from '../wireguard-keys.ts';
import { detail } from './hit-words.ts';
import { defineKind, type Decoy, type HitFacts, type HitMeaning, type StoredHit, type Token, type WireguardInitiationInfo } from './kind.ts';
import { choose } from './secrets.ts';
import { renderTemplate } from './templates.ts';

/**
 * A WireGuard client configuration (`wg0.conf`, as wg-quick and the WireGuard apps import it)
 * whose peer is the WireGuard listener. Its private key is the token: when any WireGuard client
 * brings the tunnel up, its handshake initiation carries the matching public key, which the
 * listener decrypts and recognises (and proves by the timestamp only the private key opens).
 * The handshake is never answered, as a server with no such peer behaves; the client keeps
 * retrying quietly. Recorded: source address and port, the client's clock.
 */

const cidr = z.string().trim().regex(/^[0-9a-fA-F:.]{2,39}\/\d{1,3}$/, 'must be an address range such as 10.0.0.0/8');
const params = z.object({
  name: z.string().trim().regex(/^[A-Za-z0-9_=+.-]{1,15}$/, 'must be a WireGuard interface name: 1-15 letters, digits, _ = + . or -').optional().describe('Interface (and file) name, e.g. wg-corp (generated when empty)'),
  host: z.string().trim().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'must be a host name or IP address').optional().describe('Endpoint host the config names (default: the host of PUBLIC_URL)'),
  port: z.number().int().min(1).max(65535).optional().describe('Endpoint port (default: WIREGUARD_PORT)'),
  allowedIps: z.array(cidr).min(1).max(16).optional().describe('Networks routed through the tunnel (generated internal ranges when empty)'),
  keepalive: z.number().int().min(0).max(3600).default(25).describe('PersistentKeepalive seconds (0: none)'),
  privateKey: z.string().optional().describe('Generated'),
  publicKey: z.string().optional().describe('Generated'),
  address: z.string().optional().describe('Generated'),
  dns: z.string().optional().describe('Generated'),
});
type WgParams = z.infer<typeof params>;

const NAMES = ['wg0', 'wg-corp', 'wg-office', 'vpn-ops', 'wg-prod', 'wg-admin', 'corp-vpn', 'wg-datacenter'];
const RANGES = [['10.0.0.0/8'], ['10.0.0.0/8', '172.16.0.0/12'], ['10.10.0.0/16', '10.20.0.0/16'], ['192.168.0.0/16', '10.0.0.0/8'], ['0.0.0.0/0', '::/0']];

/** Lookup key of a planted client key: its public key, as `wg pubkey` prints it. */
export const wgLookupKey = (publicKey: string): string => `wg:${publicKey}`;

const endpointHost = (config: Pick<Config, 'PUBLIC_URL'>, p: WgParams): string => p.host ?? new URL(config.PUBLIC_URL).hostname.replace(/^\[|\]$/g, '');

function endpoint(config: Pick<Config, 'PUBLIC_URL' | 'WIREGUARD_PORT'>, p: WgParams): string {
  const host = endpointHost(config, p);
  return `${isIP(host) === 6 ? `[${host}]` : host}:${p.port ?? config.WIREGUARD_PORT}`;
}

/** The client config as wg-quick reads it. */
export function wireguardConfig(config: Config, t: Token<WgParams>): string {
  const p = t.params;
  const server = Buffer.from(ensureWireguardKey(config.DATA_DIR).publicKey).toString('base64');
  return renderTemplate('tokens/wireguard/client.conf.hbs', {
    privateKey: p.privateKey ?? '',
    address: p.address ?? '',
    dns: p.dns ?? '',
    serverKey: server,
    allowedIps: (p.allowedIps ?? ['10.0.0.0/8']).join(', '),
    endpoint: endpoint(config, p),
    keepalive: p.keepalive > 0 ? p.keepalive : null,
  }, 'text');
}

function describe(init: WireguardInitiationInfo, t: Token<WgParams>): HitFacts {
  const skew = init.clock ? Math.round((init.clock.getTime() - Date.now()) / 1000) : null;
  return {
    credential: `${init.publicKey.slice(0, 10)}…`,
    details: { wireguard: 'handshake', publicKey: init.publicKey, clientClock: init.clock?.toISOString() ?? null, clockSkewSeconds: skew, senderIndex: init.senderIndex, interface: t.params.name ?? null },
  };
}

function explain(hit: StoredHit, t: Decoy<WgParams>): HitMeaning {
  const skew = hit.details?.clockSkewSeconds;
  const clock = typeof skew === 'number' && Math.abs(skew) >= 120 ? `; its clock is ${Math.abs(skew)} s ${skew < 0 ? 'behind' : 'ahead'}` : '';
  const name = detail(hit.details, 'interface') ?? t.params.name ?? 'the decoy VPN';
  return {
    action: `a WireGuard client brought up ${name} with the planted private key (public key ${hit.credential ?? ''}); the handshake was not answered${clock}`,
    evidence: 'credential-used',
    techniques: ['T1552.001', 'T1133', 'T1078'],
  };
}

/** A WireGuard client config whose use is seen in its first handshake message. */
export const wireguardToken = defineKind<WgParams>({
  id: 'wireguard',
  label: 'WireGuard VPN config',
  description:
    'A WireGuard client configuration ([Interface] private key, address, DNS; [Peer] public key, endpoint, allowed IPs) whose endpoint is the WireGuard listener. Bringing the tunnel up with any WireGuard client is a credential-use alert, recognised from the handshake; the server never answers.',
  channels: ['wireguard'],
  techniques: ['T1552.001', 'T1133', 'T1078'],
  params,
  example: { name: 'wg-corp', keepalive: 25 },
  internalParams: ['privateKey', 'publicKey', 'address', 'dns'],
  generated: ['name', 'allowedIps'],
  searchTerms: (t) => [t.params.publicKey ?? ''].filter(Boolean),
  create(_ctx, _id, p) {
    const key = newWireguardPrivateKey();
    const publicKey = Buffer.from(wireguardPublicKey(key)).toString('base64');
    const net = `10.${randomInt(8, 250)}`;
    const stored: WgParams = {
      ...p,
      name: p.name ?? choose(NAMES),
      allowedIps: p.allowedIps ?? choose(RANGES),
      privateKey: Buffer.from(key).toString('base64'),
      publicKey,
      address: `${net}.${randomInt(0, 4)}.${randomInt(2, 250)}/32`,
      dns: `${net}.0.${choose(['2', '10', '53', '53'])}`,
    };
    return { params: stored, lookupKey: wgLookupKey(publicKey) };
  },
  artifact(ctx, t) {
    return {
      hostname: endpointHost(ctx.config, t.params),
      filename: `${t.params.name ?? 'wg0'}.conf`,
      contentType: 'text/plain; charset=utf-8',
      hint: `Plant where VPN configs live (/etc/wireguard/, a user's Downloads or home folder, an admin share). Endpoint ${endpoint(ctx.config, t.params)}/udp; client public key ${t.params.publicKey ?? ''}.`,
    };
  },
  render(ctx, t) {
    return { filename: `${t.params.name ?? 'wg0'}.conf`, contentType: 'text/plain; charset=utf-8', body: Buffer.from(wireguardConfig(ctx.config, t)) };
  },
  explain,
  wireguard: {
    lookupKey: (init) => (init.proven ? wgLookupKey(init.publicKey) : null),
    describe,
  },
});
