import { bannerLine, type ListenerEntry } from './registry.ts';

/** The WireGuard listener for wireguard tokens (channels/wireguard.ts): UDP, never answers. */
export const wireguardListener = {
  name: 'wireguard',
  configKeys: ['WIREGUARD_ENABLED', 'WIREGUARD_HOST', 'WIREGUARD_PORT', 'WIREGUARD_RATE_LIMIT'],
  role: 'edge',
  enabled: (c) => c.WIREGUARD_ENABLED,
  async start({ deps }) {
    const { startWireguardListener } = await import('../channels/wireguard.ts');
    return startWireguardListener(deps);
  },
  banner: (_c, a) => [bannerLine('WireGuard', `${a.host}:${a.port}/udp (wireguard tokens; handshakes are recorded, never answered)`)],
} satisfies ListenerEntry;
