import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { PlantSpec } from './plant.ts';
import { trimEndChars } from '../text.ts';

/**
 * `plant --from-file`: the defender's own documents, one own-document token per file. A file is
 * one planting; a folder is every .docx, .xlsx, .pptx and .pdf under it (subfolders mirrored),
 * each named by its path in the folder and recorded at its share path, so a second run finds
 * them planted (same kind, name and location) and plants nothing new, like `plant --from`.
 */

export const OWN_DOCUMENT = 'own-document';
const DOCUMENT = /\.(docx|xlsx|pptx|pdf)$/i;
/** Most documents one run takes, and how deep it looks into subfolders. */
const MAX_FILES = 10_000;
const MAX_DEPTH = 16;

export interface DocumentOptions {
  /** Where the beaconed copies go (subfolders mirrored); default: beside each original (replacing it needs --force). */
  dir?: string;
  /** The share path of the folder (or file's folder), e.g. `\\fs01\finance`; default: the output folder's absolute path. */
  location?: string;
  plantedHost?: string;
  /** Token name for a single file (default: its file name). */
  name?: string;
  alertEmails?: string[];
}

function walk(root: string, depth: number, out: string[]): void {
  if (depth > MAX_DEPTH) return;
  for (const e of readdirSync(root, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (out.length >= MAX_FILES) return;
    if (e.name.startsWith('.') || e.name.startsWith('~$')) continue;
    const path = join(root, e.name);
    if (e.isDirectory()) walk(path, depth + 1, out);
    else if (e.isFile() && DOCUMENT.test(e.name)) out.push(path);
  }
}

/** A share path below `base` (backslashes when the base is a Windows/UNC path). */
function below(base: string, rel: string): string {
  if (!rel) return base;
  const windows = base.includes('\\');
  return `${trimEndChars(base, '\\/')}${windows ? '\\' : '/'}${rel.split(sep).join(windows ? '\\' : '/')}`;
}

/** One planting per document at `source` (a file or a folder). */
export function documentSpecs(source: string, opts: DocumentOptions): PlantSpec[] {
  const root = resolve(source);
  const single = statSync(root).isFile();
  const files: string[] = [];
  if (single) files.push(root);
  else walk(root, 0, files);
  const base = single ? dirname(root) : root;
  return files.map((file) => {
    const sub = relative(base, dirname(file));
    const folder = opts.dir ? join(resolve(opts.dir), sub) : dirname(file);
    return {
      kind: OWN_DOCUMENT,
      name: single && opts.name ? opts.name : relative(base, file).split(sep).join('/'),
      folder,
      location: opts.location ? below(opts.location, sub) : undefined,
      plantedHost: opts.plantedHost,
      filename: basename(file),
      upload: file,
      alertEmails: opts.alertEmails,
    };
  });
}
