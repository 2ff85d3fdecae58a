import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { soffice } from '../soffice.ts';

/**
 * Our Office packages side by side with packages a real office suite writes: LibreOffice (the
 * suite CI runs) saves a small document and workbook as .docx/.xlsx, and every part it writes must
 * exist in ours with the same content type, root element and namespace, every relationship type
 * its main part uses must be used by ours, and both deflate every entry. Where LibreOffice and
 * Office differ (theme, webSettings, part order, entry times), ours follow Office, whose name they
 * carry; docs/stealth.md lists those differences.
 */
const TIMEOUT_MS = 150_000;
let s: TestServer;
let tmp: ReturnType<typeof tempDir>;
beforeAll(async () => {
  s = await startTestServer();
  tmp = tempDir('honeytrail-ref-');
});
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

async function convert(file: string, format: string): Promise<number | null> {
  return (await soffice(tmp.dir, ['--convert-to', format, file], join(tmp.dir, 'out'), TIMEOUT_MS)).code;
}

/** Content type of each part, from [Content_Types].xml (overrides, else the extension's default). */
function contentTypes(parts: Record<string, Uint8Array>): Map<string, string> {
  const xml = strFromU8(parts['[Content_Types].xml'] ?? new Uint8Array());
  const defaults = new Map([...xml.matchAll(/<Default Extension="([^"]+)" ContentType="([^"]+)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  const overrides = new Map([...xml.matchAll(/<Override PartName="\/([^"]+)" ContentType="([^"]+)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  return new Map(Object.keys(parts).map((n) => [n, overrides.get(n) ?? defaults.get(n.split('.').pop() ?? '') ?? '']));
}

/** The root element's qualified name and namespace URI. */
function root(xml: string): string {
  const m = /<(?!\?)([\w:]+)[\s>]/.exec(xml);
  const name = m?.[1] ?? '';
  const prefix = name.includes(':') ? name.split(':')[0] : '';
  const ns = new RegExp(`xmlns${prefix ? `:${prefix}` : ''}="([^"]+)"`).exec(xml)?.[1];
  return `${name.split(':').pop()} in ${ns}`;
}

const relTypes = (xml: string): Set<string> => new Set([...xml.matchAll(/Type="[^"]*\/([^"/]+)"/g)].map((m) => m[1] ?? ''));

/** Compression method of every central directory entry. */
function methods(zip: Buffer): number[] {
  const out: number[] = [];
  for (let at = zip.indexOf('PK\x01\x02'); at >= 0; at = zip.indexOf('PK\x01\x02', at + 46)) out.push(zip.readUInt16LE(at + 10));
  return out;
}

describe('Office packages against packages LibreOffice writes', () => {
  it.each([
    ['word', 'docx', 'txt', 'Quarterly figures\nRevenue rose.\n', 'word/document.xml', 'word/_rels/document.xml.rels'],
    ['excel', 'xlsx', 'csv', 'Name,Amount\nAlpha,12\nBeta,30\n', 'xl/workbook.xml', 'xl/_rels/workbook.xml.rels'],
  ])('%s: every part LibreOffice writes is in ours, with its type, root and relationships', { timeout: TIMEOUT_MS + 30_000 }, async (kind, ext, from, source, main, mainRels) => {
    const input = join(tmp.dir, `reference.${from}`);
    writeFileSync(input, source);
    expect(await convert(input, ext)).toBe(0);
    const referenceZip = readFileSync(join(tmp.dir, 'out', `reference.${ext}`));
    const reference = unzipSync(referenceZip);

    const { token } = await makeToken(s.app.deps.db, s.config, { kind, params: {} });
    const oursZip = (await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' })).body;
    const ours = unzipSync(oursZip);

    const refTypes = contentTypes(reference);
    const ourTypes = contentTypes(ours);
    for (const name of Object.keys(reference)) {
      expect(Object.keys(ours), `LibreOffice writes ${name}`).toContain(name);
      expect(ourTypes.get(name), name).toBe(refTypes.get(name));
      if (name.endsWith('.xml')) expect(root(strFromU8(ours[name] ?? new Uint8Array())), name).toBe(root(strFromU8(reference[name] ?? new Uint8Array())));
    }
    expect(Object.keys(reference)).toContain(main);
    const ourRels = relTypes(strFromU8(ours[mainRels] ?? new Uint8Array()));
    for (const type of relTypes(strFromU8(reference[mainRels] ?? new Uint8Array()))) expect(ourRels, `${mainRels} relationship ${type}`).toContain(type);
    // Both deflate every entry.
    expect(new Set(methods(referenceZip))).toEqual(new Set([8]));
    expect(new Set(methods(oursZip))).toEqual(new Set([8]));
  });
});
