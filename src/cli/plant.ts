import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { ApiClient } from './api-client.ts';

/** One planting: a token of `kind` written into `folder`. */
export interface PlantSpec {
  kind: string;
  name: string;
  /** Folder the artifact is written to (e.g. a mounted share). */
  folder: string;
  /** Where the token is recorded as planted; defaults to the folder's absolute path. */
  location?: string;
  plantedHost?: string;
  /** File name to write; defaults to the artifact's own name. */
  filename?: string;
  params?: Record<string, unknown>;
  /** A document of the defender's own to upload and plant beaconed (own-document). */
  upload?: string;
  alertEmails?: string[];
  /** Freshness: expiry (ISO 8601), rotation policy and expected scheduled-check interval, in days. */
  expiresAt?: string;
  rotateEveryDays?: number;
  expectSeenEveryDays?: number;
}

export interface TokenJson {
  id: string;
  kind: string;
  name: string;
  location: string | null;
  plantedHost: string | null;
  enabled: boolean;
  hitCount: number;
  lastHitAt: string | null;
  createdAt: string;
  plantedFile?: string | null;
  generation?: number;
  rotatedTo?: string | null;
}

export interface Artifact {
  url?: string;
  hostname?: string;
  email?: string;
  filename?: string;
  download?: string;
}

export type PlantOutcome =
  | { status: 'planted'; tokenId: string; file?: string; value?: string }
  | { status: 'skipped'; reason: string; tokenId?: string }
  | { status: 'would-plant'; file?: string; value?: string }
  | { status: 'failed'; error: string };

/** Windows-safe file name: no separators, reserved characters or trailing dots. */
export function safeFilename(name: string): string {
  const cleaned = basename(name.replace(/\\/g, '/'))
    .replace(/[<>:"/\\|?*\x00-\x1f]/g, '_')
    .replace(/[. ]+$/, '')
    .slice(0, 200);
  return cleaned || 'document';
}

/** The file a URL-only token is planted as: a Windows Internet Shortcut, which Explorer opens in a browser. */
export function urlShortcut(url: string): Buffer {
  return Buffer.from(`[InternetShortcut]\r\nURL=${url}\r\n`, 'utf8');
}

/** The file a planting would write (null when the kind has nothing to write, e.g. a DNS name). */
export function plannedFile(spec: PlantSpec, artifact: Artifact): string | null {
  if (artifact.download) return join(spec.folder, safeFilename(spec.filename ?? artifact.filename ?? `${spec.name}`));
  if (artifact.url) return join(spec.folder, safeFilename(spec.filename ?? `${spec.name}.url`));
  return null;
}

/** Key that makes bulk planting idempotent: the same kind, name and location is the same planting. */
export function plantingKey(kind: string, name: string, location: string | null | undefined): string {
  return `${kind}\u0000${name}\u0000${location ?? ''}`;
}

export function locationOf(spec: PlantSpec): string {
  return spec.location ?? resolve(spec.folder);
}

/**
 * Create the token and write its artifact into the folder. Refuses to overwrite an existing
 * file unless `force`; checks that before creating anything so a refusal leaves no token behind.
 * With `dryRun` nothing is created or written.
 */
export async function plantOne(api: ApiClient, spec: PlantSpec, opts: { dryRun?: boolean; force?: boolean } = {}): Promise<PlantOutcome> {
  const location = locationOf(spec);
  const guess = spec.filename ? join(spec.folder, safeFilename(spec.filename)) : null;
  if (guess && existsSync(guess) && !opts.force) return { status: 'skipped', reason: `${guess} exists (use --force to overwrite)` };
  if (opts.dryRun) return { status: 'would-plant', file: guess ?? `${spec.folder}/<artifact of ${spec.kind}>` };

  const fields = {
    kind: spec.kind,
    name: spec.name,
    location,
    ...(spec.plantedHost ? { plantedHost: spec.plantedHost } : {}),
    ...(spec.params ? { params: spec.params } : {}),
    ...(spec.alertEmails?.length ? { alertEmails: spec.alertEmails } : {}),
    ...(spec.expiresAt ? { expiresAt: spec.expiresAt } : {}),
    ...(spec.rotateEveryDays ? { rotateEveryDays: spec.rotateEveryDays } : {}),
    ...(spec.expectSeenEveryDays ? { expectSeenEveryDays: spec.expectSeenEveryDays } : {}),
  };
  const created = spec.upload
    ? await api.postFile<{ token: TokenJson; artifact: Artifact }>('/tokens', fields, { filename: basename(spec.upload), body: await readFile(spec.upload) })
    : await api.post<{ token: TokenJson; artifact: Artifact }>('/tokens', fields);
  const { token, artifact } = created;
  const file = plannedFile(spec, artifact);
  if (!file) return { status: 'planted', tokenId: token.id, value: artifact.hostname ?? artifact.email ?? artifact.url };
  if (existsSync(file) && !opts.force) {
    await api.delete(`/tokens/${token.id}`);
    return { status: 'skipped', reason: `${file} exists (use --force to overwrite)` };
  }
  const body = artifact.download ? await api.download(artifact.download.replace(/^\/api\/v1/, '')) : urlShortcut(artifact.url ?? '');
  await mkdir(spec.folder, { recursive: true });
  await writeFile(file, body, { flag: opts.force ? 'w' : 'wx' });
  // The file name is recorded so that rotation can overwrite it and `verify` can check it.
  await api.patch(`/tokens/${token.id}`, { plantedFile: basename(file) });
  return { status: 'planted', tokenId: token.id, file, value: artifact.url ?? artifact.hostname ?? artifact.email };
}

/** Every live token, fetched in pages (for idempotent bulk runs). */
export async function allTokens(api: ApiClient): Promise<TokenJson[]> {
  const out: TokenJson[] = [];
  for (let offset = 0; ; ) {
    const page = await api.get<{ items: TokenJson[]; nextOffset: number | null }>(`/tokens?limit=500&offset=${offset}`);
    out.push(...page.items);
    if (page.nextOffset === null) return out;
    offset = page.nextOffset;
  }
}
