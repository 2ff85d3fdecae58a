import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenRow } from '../../src/db/schema.ts';
import { awsAccountOf } from '../../src/tokens/organisation.ts';
import { KINDS } from '../../src/tokens/registry.ts';
import { describeArtifact, renderArtifact } from '../../src/tokens/service.ts';
import { makeToken, startTestServer, tempDir, type TestServer } from '../helpers.ts';
import { inspectPdf, str } from './pdf-inspect.ts';

/**
 * The share an intruder finds: several decoys of every kind, made with defaults as a defender
 * would make them, looked at the way the hunting tools and a careful attacker look (docs/stealth.md,
 * section "Artifacts"). Each rule below is one tell of issue 14; every rule must find nothing.
 */
const PER_KIND = 4;
const ZONE = 'stealth.example.test';
let s: TestServer;
const tmp = tempDir('honeytrail-stealth-');

interface Decoy {
  token: TokenRow;
  url?: string;
  hostname?: string;
  filename?: string;
  body?: Buffer;
}
const share = new Map<string, Decoy[]>();

/** Params a defender would give: defaults, except what a kind needs (a redirect target) or offers as a format. */
function paramsFor(kind: string, i: number): Record<string, unknown> {
  if (kind === 'redirect') return { target: 'https://intranet.example.com/wiki/Finance' };
  if (kind === 'slow-redirect') return { target: 'https://intranet.example.com/wiki/Payroll' };
  if (kind === 'custom-image') return { image: 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABAQMAAADO7O3JAAAABlBMVEX///8ePIzUh+vwAAAACklEQVQImWNoAAAAggCByxOyYQAAAABJRU5ErkJggg==' };
  if (kind === 'cloned-site') return { origins: ['https://login.corp.example'] };
  if (kind === 'credentials') return { format: ['note', 'ini', 'csv', 'rdp'][i % 4] };
  if (kind === 'word') return { theme: ['salaries', 'network-passwords', 'budget', 'board-minutes'][i % 4] };
  return {};
}

beforeAll(async () => {
  s = await startTestServer({ DNS_ZONE: ZONE });
  for (const kind of KINDS) {
    const decoys: Decoy[] = [];
    for (let i = 0; i < PER_KIND; i++) {
      const { token } = await makeToken(s.app.deps.db, s.config, { kind: kind.id, params: paramsFor(kind.id, i) });
      const info = describeArtifact({ config: s.config }, token);
      const file = kind.render ? await renderArtifact(s.app.deps.db, { config: s.config }, token, { id: 'test' }) : undefined;
      decoys.push({ token, url: info.url, hostname: info.hostname, filename: file?.filename, body: file?.body });
    }
    share.set(kind.id, decoys);
  }
}, 120_000);
afterAll(async () => {
  await s.stop();
  tmp.cleanup();
});

const of = (kind: string): Decoy[] => share.get(kind) ?? [];
const text = (d: Decoy): string => d.body?.toString('utf8') ?? '';

/** Zip entries with their DOS date and time words, read from the central directory as zipinfo does. */
function zipEntries(zip: Buffer): { name: string; date: number; time: number }[] {
  const out: { name: string; date: number; time: number }[] = [];
  for (let at = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); at >= 0; at = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), at + 46)) {
    const nameLength = zip.readUInt16LE(at + 28);
    out.push({ time: zip.readUInt16LE(at + 12), date: zip.readUInt16LE(at + 14), name: zip.subarray(at + 46, at + 46 + nameLength).toString('utf8') });
  }
  return out;
}
const dosTimeOfDay = (time: number): number => (time >> 11) * 3600 + ((time >> 5) & 63) * 60 + (time & 31) * 2;
const secondsOfDay = (d: Date): number => d.getUTCHours() * 3600 + d.getUTCMinutes() * 60 + d.getUTCSeconds();

/** Every text an attacker can read out of a decoy: the file (each part of a zip), or nothing. */
function readable(d: Decoy): string[] {
  if (!d.body) return [];
  if (d.body.subarray(0, 2).toString() === 'PK') return Object.values(unzipSync(d.body)).map((b) => (b[0] === 0xff && b[1] === 0xfe ? Buffer.from(b).subarray(2).toString('utf16le') : strFromU8(b)));
  return [text(d)];
}

describe('a share of decoys of every kind shows none of the tells', () => {
  it('mysql-dump: no dynamic SQL tail, file date and footer agree, line counts vary', () => {
    const lines = new Set<number>();
    for (const d of of('mysql-dump')) {
      const t = text(d);
      expect(t).not.toMatch(/\b(PREPARE|EXECUTE|DEALLOCATE)\b|CONCAT\(|@@hostname|0x[0-9a-f]{16,}/i);
      const tail = t.trimEnd().split('\n').slice(-12).join('\n');
      expect(tail).not.toMatch(/CHANGE MASTER|SET @/);
      const done = /^-- Dump completed on (\d{4}-\d{2}-\d{2}) /m.exec(t)?.[1];
      expect(d.filename).toContain(done);
      lines.add(t.split('\n').length);
    }
    expect(lines.size).toBeGreaterThan(1);
  });

  it('windows-folder: no published desktop.ini layout, and not one layout for all', () => {
    const layouts = new Set<string>();
    for (const d of of('windows-folder')) {
      const ini = readable(d).find((p) => p.includes('[.ShellClassInfo]')) ?? '';
      expect(ini).not.toMatch(/%USERNAME%\.%COMPUTERNAME%\.%USERDOMAIN%\.INI\./i);
      expect(ini).not.toMatch(/\.INI\.[0-9a-z]+\./i);
      layouts.add((/IconResource=\\\\(.*?)\.[0-9a-z]{24}\./.exec(ini)?.[1] ?? '') + (/\\([^\\]+)$/m.exec(ini)?.[1] ?? ''));
    }
    expect(layouts.size).toBeGreaterThan(1);
  });

  it.each(['word', 'excel'])('%s: Office parts, rsids, 1980 zip times, a logo-sized linked picture under no tracking name, no field', (kind) => {
    for (const d of of(kind)) {
      const zip = d.body ?? Buffer.alloc(0);
      const entries = zipEntries(zip);
      // Office dates every entry 1980-01-01 00:00 (DOS date 0x21, time 0).
      for (const e of entries) expect([e.name, e.date, e.time]).toEqual([e.name, 0x21, 0]);
      const names = entries.map((e) => e.name);
      expect(names[0]).toBe('[Content_Types].xml');
      const root = kind === 'word' ? 'word' : 'xl';
      for (const part of ['theme/theme1.xml', 'styles.xml', ...(kind === 'word' ? ['webSettings.xml', 'fontTable.xml', 'settings.xml'] : ['workbook.xml', 'sharedStrings.xml'])]) expect(names).toContain(`${root}/${part}`);
      const parts = unzipSync(zip);
      const all = Object.entries(parts).map(([n, b]) => [n, strFromU8(b)] as const);
      for (const [n, xml] of all) {
        expect(xml, n).not.toMatch(/INCLUDEPICTURE/);
        expect(xml, n).not.toMatch(/\bc[xy]="9525"/);
        expect(xml, n).not.toMatch(/(pixel|blank|spacer|track)\.gif/i);
      }
      if (kind === 'word') {
        const settings = strFromU8(parts['word/settings.xml'] ?? new Uint8Array());
        const listed = new Set([...settings.matchAll(/<w:rsid w:val="([0-9A-F]{8})"/g)].map((m) => m[1]));
        const doc = strFromU8(parts['word/document.xml'] ?? new Uint8Array());
        const used = [...doc.matchAll(/w:rsid(?:R|RDefault|P|Tr)="([0-9A-F]{8})"/g)].map((m) => m[1]);
        expect(used.length).toBeGreaterThan(5);
        for (const r of used) expect(listed).toContain(r);
        expect([...doc.matchAll(/<w:p[ >]/g)].length).toBe([...doc.matchAll(/<w:p w:rsidR=/g)].length);
      }
    }
  });

  it('pdf: no pdf-lib fingerprints, structure that matches the producer it claims, no token host for strings, qpdf finds no damage', () => {
    for (const d of of('pdf')) {
      const pdf = inspectPdf(d.body ?? Buffer.alloc(0), join(tmp.dir, `${d.token.id}.pdf`));
      const raw = pdf.raw.toString('latin1');
      const streams = [...pdf.objects.values()].map((o) => Buffer.from(o.stream?.data ?? '', 'base64').toString('latin1')).filter((t) => /^[\x09\x0a\x0d\x20-\x7e]*$/.test(t));
      const check = spawnSync('qpdf', ['--check', join(tmp.dir, `${d.token.id}.pdf`)], { encoding: 'utf8' });
      expect(check.stdout).toContain('No syntax or stream encoding errors found');
      // strings: no token host (the open action's URI is hex); the URL only where Writer puts a link's URL.
      expect(raw).not.toContain(d.hostname);
      expect(raw.replace(/\/Subtype\/Link\/Border\[0 0 0\]\/Rect\[[\d. ]+\]\/Contents<[0-9A-F]+>\/A<<\/Type\/Action\/S\/URI\/URI\([^)]*\)>>/, '')).not.toContain(d.url);
      // pdf-lib's tells: its header bytes, full float expansions (219.35899999999998) in the file or any
      // content stream, its random font-name suffix (Helvetica-1234), unembedded standard fonts, no /ID.
      expect(pdf.header.toString('latin1')).not.toBe('%PDF-1.7\n%\x81\x81\x81\x81\n');
      for (const t of [raw, ...streams]) expect(t).not.toMatch(/\d\.\d*(?:9{6,}|0{6,})\d/);
      const fontNames = Object.keys(pdf.dict(pdf.dict(pdf.pages[0]?.['/Resources'])['/Font']));
      expect(fontNames.length).toBeGreaterThan(0);
      for (const name of fontNames) expect(name).not.toMatch(/-\d+$/);
      for (const font of pdf.fonts) {
        expect(String(font['/BaseFont'])).toMatch(/^\/[A-Z]{6}\+[A-Za-z-]+$/);
        expect(pdf.dict(font['/FontDescriptor'])['/FontFile2']).toBeDefined();
      }
      const [id1, id2] = (pdf.trailer['/ID'] ?? []) as string[];
      expect(id1).toMatch(/^b:[0-9a-f]{32}$/);
      expect(id2).toBe(id1);
      // The claim: a LibreOffice release, and the structure that release writes (tests/tokens/pdf-structure.test.ts).
      expect(str(pdf.info['/Producer'])).toMatch(/^LibreOffice \d+\.\d+$/);
      expect(str(pdf.info['/Creator'])).toBe('Writer');
      expect(pdf.header.toString('utf8')).toBe('%PDF-1.6\n%äüöß\n');
      expect([pdf.xrefTable, pdf.objectStreams, pdf.docChecksumHolds]).toEqual([true, false, true]);
      expect(pdf.fonts.map((f) => String(f['/BaseFont']).slice(1, 8))).toEqual(['BAAAAA+', 'CAAAAA+'].slice(0, pdf.fonts.length));
      expect(pdf.catalog['/Metadata']).toBeUndefined();
      expect(str(pdf.info['/CreationDate'])).toMatch(/^D:\d{14}(Z'|[+-]\d\d'\d\d')$/);
      expect(pdf.info['/ModDate']).toBeUndefined();
    }
  });

  it('one company: every document, workbook and contact card names the same organisation', () => {
    const companies = new Set<string>();
    for (const d of [...of('word'), ...of('excel')]) {
      const app = strFromU8(unzipSync(d.body ?? Buffer.alloc(0))['docProps/app.xml'] ?? new Uint8Array());
      companies.add(/<Company>(.*?)<\/Company>/.exec(app)?.[1] ?? '');
    }
    for (const d of of('email')) companies.add((/^ORG:([^;\r\n]*)/m.exec(text(d))?.[1] ?? '').replace(/&/g, '&amp;'));
    expect(companies.size, [...companies].join(' | ')).toBe(1);
    expect([...companies][0]).toMatch(/\w/);
  });

  it('aws-keys: every key decodes to the one plausible 12-digit account, fifth character as AWS issues', () => {
    const accounts = new Set<string>();
    for (const d of of('aws-keys')) {
      const id = (d.token.params as { accessKeyId: string }).accessKeyId;
      expect(id).toMatch(/^AKIA[Q-Z2-7][A-Z2-7]{15}$/);
      accounts.add(awsAccountOf(id));
    }
    expect(accounts.size).toBe(1);
    expect([...accounts][0]).toMatch(/^[1-9]\d{11}$/);
  });

  it('clocks: backdated times take random times of day and random offsets', async () => {
    const now = new Date();
    // A token's lifetime is one of the few that admins ask for: the share's four kubeconfigs share
    // one about 3% of the time, so the lifetimes are read from sixteen more.
    const lifetimes = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const { token } = await makeToken(s.app.deps.db, s.config, { kind: 'kubeconfig' });
      const claims = JSON.parse(Buffer.from((token.params as { token: string }).token.split('.')[1] ?? '', 'base64url').toString()) as { iat: number; exp: number };
      lifetimes.add(claims.exp - claims.iat);
    }
    expect(lifetimes.size, 'kubeconfig token lifetimes').toBeGreaterThan(1);
    const times = { zip: new Set<number>(), rev: new Set<number>(), iat: new Set<number>() };
    for (const d of of('aws-keys')) for (const e of zipEntries(d.body ?? Buffer.alloc(0))) times.zip.add(dosTimeOfDay(e.time));
    for (const d of of('email')) {
      const rev = /^REV:(\S+)/m.exec(text(d))?.[1] ?? '';
      times.rev.add(secondsOfDay(new Date(rev)));
    }
    for (const d of of('kubeconfig')) {
      const jwt = (d.token.params as { token: string }).token;
      const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as { iat: number; exp: number; iss: string };
      expect(claims.iss).toBe('https://kubernetes.default.svc.cluster.local');
      times.iat.add(Math.round((now.getTime() / 1000 - claims.iat) / 60));
      expect(claims.exp * 1000).toBeGreaterThan(now.getTime());
    }
    for (const [what, set] of Object.entries(times)) expect(set.size, what).toBeGreaterThan(1);
    // Not the generation's time of day (a 10-minute window around now).
    const nowOfDay = secondsOfDay(now);
    for (const t of [...times.rev]) expect(Math.min(Math.abs(t - nowOfDay), 86_400 - Math.abs(t - nowOfDay)), 'REV at the time of generation').toBeGreaterThan(0);
    expect([...times.rev].every((t) => Math.abs(t - nowOfDay) < 300)).toBe(false);
  });

  it('credentials: no plaintext RDP password, no host built on an IP, passwords in more than one shape', () => {
    const shapes = new Set<string>();
    for (const d of of('credentials')) {
      if (d.filename?.endsWith('.rdp')) {
        expect(text(d)).not.toMatch(/^password/m);
        expect(text(d)).not.toMatch(/^full address:s:[a-z]+\d*\.\d+\.\d+\.\d+\.\d+/m);
      }
    }
    for (let i = 0; i < 12; i++) shapes.add('');
    const passwords = of('credentials').map((d) => (d.token.params as { password: string }).password);
    for (const p of passwords) shapes.add(p.replace(/[A-Z]+/g, 'A').replace(/[a-z]+/g, 'a').replace(/\d+/g, '9').replace(/[^Aa9]+/g, '#'));
    shapes.delete('');
    expect(shapes.size, [...shapes].join(' ')).toBeGreaterThan(1);
  });

  /**
   * One fixed shape must not find the decoys: not the old 24-character [0-9a-z] token id, looked for
   * everywhere (token URLs and host names included: tokens are addressed without an id shape,
   * src/tokens/addresses.ts), and not any one shape of the random part a token's address carries.
   */
  it('no 24-character [0-9a-z] label anywhere: artifacts, token URLs and host names alike', () => {
    const shape = /^[0-9a-z]{24}$/;
    // URLs, host names and the labels and path segments they are made of, as a hunting rule reads them.
    const addresses = /(?:[a-z][a-z0-9+.-]*:\/\/|\\\\)[^\s"'<>()\\]+|(?:[A-Za-z0-9%_-]+\.)+[A-Za-z0-9-]{2,}/g;
    let looked = 0;
    for (const [kind, decoys] of share) {
      for (const d of decoys) {
        for (const part of [...readable(d), d.url ?? '', d.hostname ?? '']) {
          for (const [address] of part.matchAll(addresses)) {
            looked++;
            const labels = address.split(/[./?=&:#%-]+/);
            expect(labels.find((l) => shape.test(l)), `${kind} ${d.filename ?? ''}: ${address}`).toBeUndefined();
          }
        }
      }
    }
    expect(looked).toBeGreaterThan(50);
  });

  it('no single shape covers the random parts of the token addresses', () => {
    // The shape a hunting rule would write for a label or path segment: its character classes and length.
    const shapeOf = (part: string): string => `${part.replace(/[a-z]/g, 'a').replace(/[A-Z]/g, 'A').replace(/\d/g, '9').replace(/(.)\1*/g, (run) => `${run[0]}${run.length}`)}`;
    // The random part of an address is the one no other decoy shares; words the addresses have in
    // common (`login`, `static`, `remote`) are the sites' vocabulary, not a token's shape.
    const all: string[][] = [];
    let addresses = 0;
    for (const decoys of share.values()) {
      for (const d of decoys) {
        all.push([...(d.url ? new URL(d.url).pathname.split('/').filter(Boolean) : []), ...(d.hostname ? [d.hostname.split('.')[0] ?? ''] : [])]);
        addresses += d.url || d.hostname ? 1 : 0;
      }
    }
    const uses = new Map<string, number>();
    for (const p of all.flat()) uses.set(p, (uses.get(p) ?? 0) + 1);
    const shapes = new Map<string, number>();
    for (const p of all.flat()) if (uses.get(p) === 1) shapes.set(shapeOf(p), (shapes.get(shapeOf(p)) ?? 0) + 1);
    expect(addresses).toBeGreaterThan(40);
    // The most common shape is a small share of all, and there are many.
    const counts = [...shapes.values()].sort((a, b) => b - a);
    expect(shapes.size).toBeGreaterThan(addresses / 2);
    expect(counts[0] ?? 0, [...shapes].sort((a, b) => b[1] - a[1]).slice(0, 5).join(' ')).toBeLessThan(addresses / 4);
  });
});
