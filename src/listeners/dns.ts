import { bannerLine, type ListenerEntry } from './registry.ts';

/** Authoritative DNS for DNS_ZONE over UDP and TCP on one port (channels/dns.ts). */
export const dnsListener = {
  name: 'dns',
  configKeys: ['DNS_ENABLED', 'DNS_HOST', 'DNS_PORT', 'DNS_ZONE', 'DNS_RATE_LIMIT'],
  role: 'edge',
  enabled: (c) => c.DNS_ENABLED,
  async start({ deps }) {
    const { startDnsListener } = await import('../channels/dns.ts');
    return startDnsListener(deps);
  },
  banner: (c, a) => [bannerLine('DNS', `${a.host}:${a.port} (UDP+TCP), authoritative for ${c.DNS_ZONE}`)],
} satisfies ListenerEntry;
