import { spawnSync } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { strFromU8, unzipSync } from 'fflate';
import { expect } from 'vitest';
import { auth } from '../helpers.ts';

/**
 * Helpers for the document-kind tests: unzip a package with fflate and ask a real XML parser
 * (libxml2's xmllint) whether parts are well-formed and what XPath expressions evaluate to.
 */

/** Package parts by name, in zip order, as text. */
export function unzipPackage(body: Uint8Array): Map<string, string> {
  const files = unzipSync(body);
  return new Map(Object.entries(files).map(([name, data]) => [name, strFromU8(data)]));
}

/** Run xmllint on `xml` from stdin; returns exit status, stdout and stderr. */
function xmllint(args: string[], xml: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('xmllint', [...args, '-'], { input: xml, encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Fails the test with the parser's message unless `xml` is well-formed. */
export function expectWellFormed(name: string, xml: string): void {
  const r = xmllint(['--noout', '--nonet'], xml);
  expect(r.stderr, `${name} is not well-formed`).toBe('');
  expect(r.status, `${name} is not well-formed`).toBe(0);
}

/** Evaluate an XPath 1.0 expression that yields a string or number (use `string(...)`, `count(...)`). */
export function xpath(xml: string, expression: string): string {
  const r = xmllint(['--nonet', '--xpath', expression], xml);
  if (r.status !== 0 && !/XPath set is empty/.test(r.stderr)) throw new Error(`xpath ${expression}: ${r.stderr}`);
  return r.stdout.replace(/\n$/, '');
}

/** `//*[local-name()='a']/*[local-name()='b']` from `a/b`, so tests need no namespace bindings. */
export function path(steps: string): string {
  return steps
    .split('/')
    .map((s) => (s === '' ? '' : s.startsWith('@') ? s : `*[local-name()='${s}']`))
    .join('/')
    .replace(/^\*/, '//*');
}

/** Package name of a relationship target, resolved against its source part's folder. */
export function resolvePart(relsName: string, target: string): string {
  const sourceDir = relsName.replace(/_rels\/[^/]*\.rels$/, '');
  const parts = `${sourceDir}${target}`.split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else if (p !== '.' && p !== '') out.push(p);
  }
  return out.join('/');
}

export interface Rel {
  id: string;
  type: string;
  target: string;
  external: boolean;
}

/** All relationships of a .rels part. */
export function relationships(xml: string): Rel[] {
  const n = Number(xpath(xml, `count(${path('Relationship')})`));
  return Array.from({ length: n }, (_, i) => {
    const at = (attr: string) => xpath(xml, `string((${path('Relationship')})[${i + 1}]/@${attr})`);
    return { id: at('Id'), type: at('Type').split('/').pop() ?? '', target: at('Target'), external: at('TargetMode') === 'External' };
  });
}

/**
 * The structural checks every OOXML package must pass to open without a repair prompt:
 * `[Content_Types].xml` first, every part well-formed, every XML part typed, every override
 * naming a real part, every internal relationship pointing at a real part. Returns the
 * external relationships with the .rels part that holds them.
 */
export function checkPackage(parts: Map<string, string>): Array<Rel & { rels: string }> {
  expect([...parts.keys()][0]).toBe('[Content_Types].xml');
  for (const [name, xml] of parts) {
    expectWellFormed(name, xml);
    // As Office writes parts: the declaration, CRLF, then the markup on one line.
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n<'), name).toBe(true);
    expect(xml.split('\n'), name).toHaveLength(2);
  }
  const types = parts.get('[Content_Types].xml') ?? '';
  const overrides = Number(xpath(types, `count(${path('Override')})`));
  const overridden = Array.from({ length: overrides }, (_, i) => xpath(types, `string((${path('Override')})[${i + 1}]/@PartName)`).replace(/^\//, ''));
  for (const name of overridden) expect(parts.has(name), `override for missing part ${name}`).toBe(true);
  for (const name of parts.keys()) {
    if (name.endsWith('.rels')) expect(xpath(types, `string(${path('Default')}[@Extension='rels']/@ContentType)`)).toContain('relationships');
    else if (name !== '[Content_Types].xml') expect(overridden, `no content type for ${name}`).toContain(name);
  }
  const external: Array<Rel & { rels: string }> = [];
  for (const [name, xml] of parts) {
    if (!name.endsWith('.rels')) continue;
    for (const rel of relationships(xml)) {
      if (rel.external) external.push({ ...rel, rels: name });
      else expect(parts.has(resolvePart(name, rel.target)), `${name} ${rel.id} -> ${rel.target}`).toBe(true);
    }
  }
  return external;
}

/** Names of the parts whose text contains `needle` (raw or XML-escaped). */
export function partsContaining(parts: Map<string, string>, needle: string): string[] {
  const escaped = needle.replace(/&/g, '&amp;');
  return [...parts].filter(([, xml]) => xml.includes(needle) || xml.includes(escaped)).map(([name]) => name);
}

export interface Downloaded {
  id: string;
  url: string;
  params: Record<string, unknown>;
  contentType: string;
  disposition: string;
  body: Buffer;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool: on a loaded machine a pooled socket
 * can be reused just as the server closes it, which is not what these tests are about).
 */
export function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** POST JSON to the admin API with the test key. */
export function apiPost(adminUrl: string, route: string, body: unknown): Promise<Reply> {
  return call(`${adminUrl}/api/v1${route}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Create a token through the JSON API and download its artifact, as a defender would. */
export async function createAndDownload(adminUrl: string, kind: string, params: Record<string, unknown>): Promise<Downloaded> {
  const created = await apiPost(adminUrl, '/tokens', { kind, name: `test ${kind}`, location: '\\\\fs01\\finance', params });
  const json = JSON.parse(created.body.toString()) as { token: { id: string; params: Record<string, unknown> }; artifact: { url: string; download: string } };
  expect(created.status, created.body.toString()).toBe(201);
  const res = await call(`${adminUrl}${json.artifact.download}`, { headers: auth });
  expect(res.status).toBe(200);
  return {
    id: json.token.id,
    url: json.artifact.url,
    params: json.token.params,
    contentType: String(res.headers['content-type'] ?? ''),
    disposition: String(res.headers['content-disposition'] ?? ''),
    body: res.body,
  };
}

/** Decode an image with netpbm's real decoders; returns the PNM header line with width and height. */
export function decodeImage(type: 'png' | 'gif' | 'jpeg', body: Buffer): string {
  const tool = { png: 'pngtopnm', gif: 'giftopnm', jpeg: 'jpegtopnm' }[type];
  const r = spawnSync(tool, [], { input: body, timeout: 10_000 });
  if (r.error) throw r.error;
  expect(r.status, `${tool}: ${r.stderr.toString()}`).toBe(0);
  const header = r.stdout.toString('latin1').split('\n');
  return `${header[0]} ${header[1]}`;
}

/** The file name a browser would save a download as (plain `filename=`, quoted or not). */
export function savedName(disposition: string): string {
  const m = /^attachment; filename=(?:"([^"]*)"|([^;\s]+))/.exec(disposition);
  return m?.[1] ?? m?.[2] ?? '';
}
