import { gunzipSync } from 'node:zlib';
import { connect } from 'node:net';

/**
 * Raw HTTP exchanges for differential tests: the bytes are sent as given (HTTP/0.9, bad escapes,
 * odd methods, split writes) and everything the server sends back is kept, until it closes the
 * connection or stays quiet for `idleMs`.
 */
export function exchange(port: number, parts: readonly (string | Buffer)[], opts: { idleMs?: number; pauseMs?: number } = {}): Promise<string> {
  const idleMs = opts.idleMs ?? 400;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    };
    sock.on('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, opts.pauseMs ?? 100));
        if (!sock.destroyed) sock.write(part);
      }
      idle();
    });
    sock.on('data', (d) => {
      chunks.push(d);
      idle();
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
  });
}

/**
 * A transcript with the values that differ between any two servers blanked: Date, Last-Modified
 * and ETag values (the header names, their place and the rest stay).
 */
export function normalise(raw: string): string {
  return raw
    .replace(/^(Date|Last-Modified|ETag): .*$/gim, '$1: *')
    .replace(/^(Content-Range: bytes \d+-\d+\/)\d+/gim, '$1*');
}

/**
 * The responses in a transcript as comparable text: status line, header lines (values of Date,
 * Last-Modified and ETag blanked), then the body de-chunked and un-gzipped. `methods` are the
 * methods of the requests sent, in order (HEAD responses carry no body).
 */
export function comparable(raw: string, methods: readonly string[]): string[] {
  const out: string[] = [];
  let rest = Buffer.from(raw, 'latin1');
  let index = 0;
  while (rest.length > 0) {
    const text = rest.toString('latin1');
    if (!text.startsWith('HTTP/')) {
      out.push(`(no status line)\n${text}`);
      break;
    }
    const end = text.indexOf('\r\n\r\n');
    if (end === -1) {
      out.push(`(incomplete head)\n${text}`);
      break;
    }
    const head = text.slice(0, end);
    rest = rest.subarray(end + 4);
    const status = Number(head.split(' ')[1]);
    if (status >= 100 && status < 200) {
      out.push(head);
      continue;
    }
    const method = methods[index++] ?? 'GET';
    const get = (name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1];
    let body = Buffer.alloc(0);
    if (method === 'HEAD' || status === 304) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(get('Transfer-Encoding') ?? '')) {
      const chunks: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        rest = rest.subarray(lineEnd + 2);
        if (!(size > 0)) {
          rest = rest.subarray(rest.indexOf('\r\n') + 2);
          break;
        }
        chunks.push(rest.subarray(0, size));
        rest = rest.subarray(size + 2);
      }
      body = Buffer.concat(chunks);
    } else if (get('Content-Length') !== undefined) {
      const n = Number(get('Content-Length'));
      body = rest.subarray(0, n);
      rest = rest.subarray(n);
    } else {
      body = rest;
      rest = Buffer.alloc(0);
    }
    if (/gzip/i.test(get('Content-Encoding') ?? '')) body = gunzipSync(body);
    out.push(`${normalise(head)}\n\n${body.toString('latin1')}`);
  }
  return out;
}
