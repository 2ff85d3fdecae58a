import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { renderTemplate } from './templates.ts';

/**
 * An svn working copy of a decoy repository, as `svn checkout` leaves it (format 31, Subversion
 * 1.8-1.14): `.svn/wc.db` (the SQLite database svn keeps its state in, with svn's own schema),
 * `.svn/format` and `.svn/entries`, and a pristine copy of each file. The schema, including the
 * fixed index statistics svn installs, is svn's own (templates/tokens/svn/wc-metadata.sql). `svn info` and `svn status`
 * work in it offline; `svn update`, `svn log` or `svn diff -r` contact the repository URL it
 * names, the decoy's. Built in memory; nothing touches the disk.
 */

export interface WorkingCopyInput {
  /** Repository root URL (what `svn info` prints as Repository Root). */
  root: string;
  uuid: string;
  /** Path of the checked-out folder inside the repository, e.g. `trunk`. */
  reposPath: string;
  revision: number;
  /** Revision of the last change under the folder (at most `revision`). */
  changedRevision: number;
  author: string;
  /** When the last change was committed. */
  changed: Date;
  /** When the files were written to disk (their mtime in the zip). */
  checkedOut: Date;
  files: readonly { name: string; body: Buffer }[];
}

const micros = (d: Date): number => d.getTime() * 1000;
/** SQLITE_VERSION_NUMBER of Debian 12's libsqlite3 (3.40.1), which its svn writes wc.db with. */
const SVN_SQLITE_VERSION = 3_040_001;

/** The working copy's files, by path relative to its folder; directories end in `/`. */
export function workingCopy(wc: WorkingCopyInput): Record<string, Buffer> {
  const db = new Database(':memory:');
  try {
    db.exec(renderTemplate('tokens/svn/wc-metadata.sql', {}, 'text'));
    db.pragma('user_version = 31');
    db.prepare('INSERT INTO REPOSITORY (root, uuid) VALUES (?, ?)').run(wc.root, wc.uuid);
    db.prepare('INSERT INTO WCROOT (local_abspath) VALUES (NULL)').run();
    const node = db.prepare(
      `INSERT INTO NODES (wc_id, local_relpath, op_depth, parent_relpath, repos_id, repos_path, revision, presence, kind, properties, depth, checksum,
        changed_revision, changed_date, changed_author, translated_size, last_mod_time, dav_cache, inherited_props)
       VALUES (1, ?, 0, ?, 1, ?, ?, 'normal', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const base = new URL(wc.root).pathname.replace(/\/+$/, '');
    const out: Record<string, Buffer> = {};
    node.run('', null, wc.reposPath, wc.revision, 'dir', Buffer.from('()'), 'infinity', null, wc.changedRevision, micros(wc.changed), wc.author, null, null, null, Buffer.from('()'));
    for (const f of wc.files) {
      const sha1 = createHash('sha1').update(f.body).digest('hex');
      const md5 = createHash('md5').update(f.body).digest('hex');
      db.prepare('INSERT OR IGNORE INTO PRISTINE (checksum, compression, size, refcount, md5_checksum) VALUES (?, NULL, ?, 0, ?)').run(`$sha1$${sha1}`, f.body.length, `$md5 $${md5}`);
      const versionUrl = `${base}/!svn/rvr/${wc.revision}/${wc.reposPath}/${f.name}`;
      const davCache = Buffer.from(`(svn:wc:ra_dav:version-url ${Buffer.byteLength(versionUrl)} ${versionUrl})`);
      node.run(f.name, '', `${wc.reposPath}/${f.name}`, wc.revision, 'file', Buffer.from('()'), null, `$sha1$${sha1}`, wc.changedRevision, micros(wc.changed), wc.author, f.body.length, micros(wc.checkedOut), davCache, null);
      out[`.svn/pristine/${sha1.slice(0, 2)}/${sha1}.svn-base`] = f.body;
      out[f.name] = f.body;
    }
    const image = db.serialize();
    // The header names the SQLite that wrote the file last: the one Debian 12's svn links (3.40.1), not ours.
    image.writeUInt32BE(SVN_SQLITE_VERSION, 96);
    out['.svn/wc.db'] = image;
    // svn truncates its journal rather than deleting it: a checkout leaves the empty file.
    out['.svn/wc.db-journal'] = Buffer.alloc(0);
    out['.svn/format'] = Buffer.from('12\n');
    out['.svn/entries'] = Buffer.from('12\n');
    out['.svn/tmp/'] = Buffer.alloc(0);
    return out;
  } finally {
    db.close();
  }
}
