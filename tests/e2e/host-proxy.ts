import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A reverse proxy that stands for one machine of a simulated network: it forwards every request
 * to the public listener and adds `X-Forwarded-For: <address>`, as the site's TLS proxy does in
 * production (the server trusts it through TRUST_PROXY=loopback). Real clients (LibreOffice, the
 * AWS SDK, fetch) then reach the listener "from" that machine.
 */
export interface HostProxy {
  url: string;
  /** Where requests go: the public listener's port, set once the server is up. */
  target: number;
  close(): Promise<void>;
}

export async function hostProxy(address: string): Promise<HostProxy> {
  const proxy: HostProxy = { url: '', target: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const up = http.request(
      { host: '127.0.0.1', port: proxy.target, method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-for': address } },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
