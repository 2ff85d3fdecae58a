import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * A defender's own OOXML package (.docx, .xlsx, .pptx) read safely and written back with only
 * the parts the beacon needs changed: every other entry's local record (header and compressed
 * bytes) and central-directory record are copied byte for byte, so content, styles, media and
 * metadata stay exactly as the defender's office suite saved them.
 *
 * Safety, before anything is inflated: the entry count and the total size the central directory
 * declares are bounded (a zip bomb is refused by its declaration), and every entry is then
 * inflated into at most its declared size with its CRC checked (a bomb that lies about its size
 * is refused as soon as it overflows). ZIP64, encrypted and split archives are refused.
 */

/** Most entries a package may have (Office documents have tens to a few hundred). */
export const MAX_ENTRIES = 5000;
/** Most bytes the entries of one package may inflate to, together. */
export const MAX_UNPACKED = 256 * 1024 * 1024;

export class PackageError extends Error {}

interface Entry {
  name: string;
  /** The central-directory record as stored (rewritten only in its local-header offset). */
  central: Buffer;
  /** The local record: header, name, extra, compressed data and any data descriptor. */
  local: Buffer;
  method: number;
  crc: number;
  packed: number;
  size: number;
  /** DOS time and date of the entry, reused for a part written in its place or beside it. */
  time: number;
  date: number;
  dataStart: number;
}

/** A package opened for reading and for writing back with some parts replaced or added. */
export interface ZipPackage {
  names(): string[];
  has(name: string): boolean;
  /** An entry's content (inflated, size- and CRC-checked). */
  read(name: string): Buffer;
  /** Replace (or add) a part's content; an added part is written after `after` (or last). */
  write(name: string, body: Buffer, after?: string): void;
  /** The package with every entry not written copied byte for byte. */
  save(): Buffer;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const DESCRIPTOR = 0x08074b50;

function fail(message: string): never {
  throw new PackageError(message);
}

function endRecord(buf: Buffer): number {
  const stop = Math.max(0, buf.length - 22 - 0xffff);
  for (let i = buf.length - 22; i >= stop; i--) if (buf.readUInt32LE(i) === EOCD) return i;
  return fail('is not a zip package (no end of central directory)');
}

/** Open `buf` as a zip package, checking its declarations before anything is inflated. */
export function openPackage(buf: Buffer): ZipPackage {
  if (buf.length < 22 || buf.readUInt32LE(0) !== LOCAL) fail('is not a zip package');
  const end = endRecord(buf);
  const disk = buf.readUInt16LE(end + 4);
  const count = buf.readUInt16LE(end + 10);
  const cdSize = buf.readUInt32LE(end + 12);
  const cdOffset = buf.readUInt32LE(end + 16);
  const comment = buf.subarray(end + 22, end + 22 + buf.readUInt16LE(end + 20));
  if (disk !== 0 || buf.readUInt16LE(end + 8) !== count) fail('is a split zip archive');
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) fail('is a ZIP64 archive, which office documents do not need');
  if (count > MAX_ENTRIES) fail(`has ${count} entries (at most ${MAX_ENTRIES})`);
  if (cdOffset + cdSize > end) fail('has a damaged central directory');

  const entries: Entry[] = [];
  let total = 0;
  for (let p = cdOffset, i = 0; i < count; i++) {
    if (p + 46 > end || buf.readUInt32LE(p) !== CENTRAL) fail('has a damaged central directory');
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const packed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const recordLength = 46 + buf.readUInt16LE(p + 28) + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
    const name = buf.toString(flags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + buf.readUInt16LE(p + 28));
    const offset = buf.readUInt32LE(p + 42);
    if (flags & 0x1) fail(`is encrypted (${name})`);
    if (method !== 0 && method !== 8) fail(`uses an unsupported compression method (${name})`);
    if (size === 0xffffffff || packed === 0xffffffff || offset === 0xffffffff) fail('is a ZIP64 archive, which office documents do not need');
    total += size;
    if (total > MAX_UNPACKED) fail(`would unpack to more than ${MAX_UNPACKED / 1024 / 1024} MiB (a zip bomb?)`);
    if (offset + 30 > cdOffset || buf.readUInt32LE(offset) !== LOCAL) fail(`has a damaged entry (${name})`);
    const dataStart = offset + 30 + buf.readUInt16LE(offset + 26) + buf.readUInt16LE(offset + 28);
    let localEnd = dataStart + packed;
    if (localEnd > cdOffset) fail(`has a damaged entry (${name})`);
    if (flags & 0x8) localEnd += localEnd + 4 <= cdOffset && buf.readUInt32LE(localEnd) === DESCRIPTOR ? 16 : 12;
    if (localEnd > cdOffset) fail(`has a damaged entry (${name})`);
    entries.push({
      name,
      central: buf.subarray(p, p + recordLength),
      local: buf.subarray(offset, localEnd),
      method,
      crc: buf.readUInt32LE(p + 16),
      packed,
      size,
      time: buf.readUInt16LE(p + 12),
      date: buf.readUInt16LE(p + 14),
      dataStart: dataStart - offset,
    });
    p += recordLength;
  }
  const byName = new Map(entries.map((e) => [e.name, e]));
  if (byName.size !== entries.length) fail('names one entry twice');
  const written = new Map<string, { body: Buffer; after?: string }>();

  const read = (name: string): Buffer => {
    const pending = written.get(name);
    if (pending) return pending.body;
    const e = byName.get(name);
    if (!e) fail(`has no part ${name}`);
    const data = e.local.subarray(e.dataStart, e.dataStart + e.packed);
    let out: Buffer;
    try {
      // Never more than the declared size: a bomb that lies about its size overflows and is refused.
      out = e.method === 0 ? Buffer.from(data) : inflateRawSync(data, { maxOutputLength: Math.max(1, e.size) });
    } catch {
      return fail(`has a part that does not unpack to its declared size (${name})`);
    }
    if (out.length !== e.size || crc32(out) !== e.crc) fail(`has a damaged part (${name})`);
    return out;
  };

  return {
    names: () => [...entries.map((e) => e.name), ...[...written.keys()].filter((n) => !byName.has(n))],
    has: (name) => byName.has(name) || written.has(name),
    read,
    write(name, body, after) {
      written.set(name, { body, after });
    },
    save() {
      const order: { name: string; entry?: Entry }[] = entries.map((e) => ({ name: e.name, entry: e }));
      // New parts go after the part they belong to (a part's .rels after the part), once that one is placed.
      let pending = [...written].filter(([name]) => !byName.has(name));
      while (pending.length) {
        const ready = pending.filter(([, w]) => !w.after || order.some((o) => o.name === w.after) || !written.has(w.after));
        const batch = ready.length ? ready : pending;
        for (const [name, w] of batch) {
          const at = w.after ? order.findIndex((o) => o.name === w.after) : -1;
          order.splice(at === -1 ? order.length : at + 1, 0, { name });
        }
        pending = pending.filter((p) => !batch.includes(p));
      }
      const locals: Buffer[] = [];
      const centrals: Buffer[] = [];
      let offset = 0;
      // A part written beside others is dated like the package's first entry (the time its office suite saved it).
      const first = entries[0];
      for (const o of order) {
        const w = written.get(o.name);
        let local: Buffer;
        let central: Buffer;
        if (!w && o.entry) {
          local = o.entry.local;
          central = Buffer.from(o.entry.central);
          central.writeUInt32LE(offset, 42);
        } else if (w) {
          ({ local, central } = storedRecords(o.name, w.body, o.entry ?? first, offset));
        } else continue;
        locals.push(local);
        centrals.push(central);
        offset += local.length;
      }
      const cd = Buffer.concat(centrals);
      const eocd = Buffer.alloc(22);
      eocd.writeUInt32LE(EOCD, 0);
      eocd.writeUInt16LE(order.length, 8);
      eocd.writeUInt16LE(order.length, 10);
      eocd.writeUInt32LE(cd.length, 12);
      eocd.writeUInt32LE(offset, 16);
      eocd.writeUInt16LE(comment.length, 20);
      return Buffer.concat([...locals, cd, eocd, comment]);
    },
  };
}

/** Local and central records of a part written anew: deflated, no data descriptor, dated like `like`. */
function storedRecords(name: string, body: Buffer, like: Entry | undefined, offset: number): { local: Buffer; central: Buffer } {
  const nameBytes = Buffer.from(name, 'utf8');
  const utf8 = /[^\x20-\x7e]/.test(name) ? 0x800 : 0;
  const data = deflateRawSync(body, { level: 6 });
  const crc = crc32(body);
  const time = like?.time ?? 0;
  const date = like?.date ?? 0x21;
  const local = Buffer.alloc(30);
  local.writeUInt32LE(LOCAL, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(utf8, 6);
  local.writeUInt16LE(8, 8);
  local.writeUInt16LE(time, 10);
  local.writeUInt16LE(date, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(body.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(CENTRAL, 0);
  central.writeUInt16LE(like ? like.central.readUInt16LE(4) : 20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(utf8, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt16LE(time, 12);
  central.writeUInt16LE(date, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(body.length, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  central.writeUInt32LE(offset, 42);
  return { local: Buffer.concat([local, nameBytes, data]), central: Buffer.concat([central, nameBytes]) };
}
