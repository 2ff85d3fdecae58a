import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bannerLine, type ListenerEntry, type RunningListener } from './registry.ts';

/**
 * The two HTTP listeners: the attacker-facing public one (trigger URLs, portal, fake APIs,
 * git smart-HTTP) and the admin console (UI, API, /healthz). Their apps load when they start,
 * so reading the registry (`honeytrail --help`, `serve --only`) stays cheap.
 */
export const publicListener = {
  name: 'public',
  configKeys: ['PUBLIC_ENABLED', 'PUBLIC_HOST', 'PUBLIC_PORT', 'PUBLIC_URL'],
  role: 'edge',
  enabled: (c) => c.PUBLIC_ENABLED,
  async start({ config, deps }) {
    const { createPublicServer } = await import('../channels/http.ts');
    return listenHttp('public', createPublicServer(deps), config.PUBLIC_HOST, config.PUBLIC_PORT);
  },
  banner: (c, a) => [bannerLine('Public', `${a.host}:${a.port}, token URLs under ${c.PUBLIC_URL}`)],
} satisfies ListenerEntry;

export const adminListener = {
  name: 'admin',
  configKeys: ['ADMIN_ENABLED', 'ADMIN_HOST', 'ADMIN_PORT', 'ADMIN_URL'],
  role: 'admin',
  enabled: (c) => c.ADMIN_ENABLED,
  async start({ config, deps }) {
    const [{ createServer }, { createAdminApp }] = await Promise.all([import('node:http'), import('../app.ts')]);
    return listenHttp('admin', createServer(createAdminApp(deps)), config.ADMIN_HOST, config.ADMIN_PORT);
  },
  banner: (c, a) => {
    const url = `http://${c.ADMIN_HOST}:${a.port}`;
    return [bannerLine('Admin API', `${url}/api/v1   (health: ${url}/healthz)`), bannerLine('Admin UI', `${url}/`)];
  },
} satisfies ListenerEntry;

/** Bind an HTTP server; close() stops accepting, lets in-flight requests finish for 5 s, then drops them. */
export function listenHttp(name: string, server: Server, host: string, port: number): Promise<RunningListener> {
  return new Promise((resolvePromise, reject) => {
    const onError = (err: Error) => reject(new Error(`${name} listener could not bind ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address() as AddressInfo;
      resolvePromise({
        name,
        address: { host: addr.address, port: addr.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
            // In-flight requests get a grace period, then their sockets are dropped.
            setTimeout(() => server.closeAllConnections(), 5_000).unref();
          }),
      });
    });
  });
}
