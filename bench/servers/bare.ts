import { createServer } from 'node:http';

/** Baseline: the least a node:http server can do to answer a web bug (no lookup, no storage). */
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'image/gif', 'content-length': GIF.length, server: 'nginx' });
  res.end(GIF);
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.send?.({ port: typeof addr === 'object' && addr ? addr.port : 0 });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
