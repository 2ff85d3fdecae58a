import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { newHostLabel } from '../../src/tokens/addresses.ts';
import { newTokenId } from '../../src/tokens/ids.ts';
import { KINDS } from '../../src/tokens/registry.ts';

/**
 * Token addresses as a hunter sees them: several of every kind's URL paths and host labels,
 * checked for the id, for the old id shape, and for any one shape they all share.
 */

const config = loadConfig({ PUBLIC_URL: 'https://files.corp.example' });

/** A segment's shape: its length and which character classes it uses. */
function shape(segment: string): string {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[-_]/, /\./].map((r) => (r.test(segment) ? '1' : '0')).join('');
  return `${segment.length}:${classes}`;
}

async function addresses(): Promise<{ path: string; id: string; kind: string }[]> {
  const out: { path: string; id: string; kind: string }[] = [];
  for (const kind of KINDS) {
    for (let i = 0; i < 8; i++) {
      const id = newTokenId();
      const created = await kind.create({ config }, id, kind.params.parse(kind.example));
      if (created.urlPath) out.push({ path: created.urlPath, id, kind: kind.id });
    }
  }
  return out;
}

describe('token addresses', () => {
  it('carry no token id and nothing shaped like one, in any kind', async () => {
    const all = await addresses();
    expect(new Set(all.map((a) => a.kind)).size).toBeGreaterThanOrEqual(10);
    for (const { path, id, kind } of all) {
      expect(path, kind).not.toContain(id);
      expect(path, kind).not.toMatch(/(?<![0-9a-z])[0-9a-z]{24}(?![0-9a-z])/);
      expect(path, kind).toMatch(/^\/[\x21-\x7e]*$/);
    }
  });

  it('share no single shape: no segment shape, first segment, length or extension common to all', async () => {
    const all = (await addresses()).map((a) => a.path);
    const segmentShapes = all.map((p) => new Set(p.split(/[/?&=]/).filter(Boolean).map(shape)));
    const common = [...(segmentShapes[0] ?? [])].filter((sh) => segmentShapes.every((set) => set.has(sh)));
    expect(common).toEqual([]);
    expect(new Set(all.map((p) => p.split('/')[1])).size).toBeGreaterThan(10);
    expect(new Set(all.map((p) => p.length)).size).toBeGreaterThan(20);
    expect(all.some((p) => p.includes('?'))).toBe(true);
    expect(all.some((p) => !p.includes('?'))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
  });

  it('host labels are DNS labels of varied length and alphabet, unique', () => {
    const labels = Array.from({ length: 300 }, () => newHostLabel());
    for (const l of labels) expect(l).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
    expect(new Set(labels).size).toBe(labels.length);
    expect(new Set(labels.map((l) => l.length)).size).toBeGreaterThan(8);
    expect(labels.some((l) => l.includes('-'))).toBe(true);
    expect(labels.some((l) => !l.includes('-'))).toBe(true);
    expect(labels.some((l) => /^[0-9a-f]+$/.test(l))).toBe(true);
    expect(labels.every((l) => !/^[0-9a-z]{24}$/.test(l))).toBe(true);
  });
});
