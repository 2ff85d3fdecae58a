import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { ApiClient } from './api-client.ts';
import { allTokens, safeFilename, urlShortcut, type Artifact, type TokenJson } from './plant.ts';

/** What `POST /tokens/:id/rotate` answers (see src/tokens/rotation.ts). */
export interface RotationJson {
  token: TokenJson;
  previous: TokenJson;
  artifact: Artifact;
  replace: { location: string | null; plantedHost: string | null; file: string | null; newFilename: string | null; download: string | null; value: string | null; text: string };
}

/**
 * Rotate a token through the API and, with `dir`, re-plant in place: the new artifact
 * overwrites the planted file (the name recorded at planting, else the old artifact's name) in
 * `dir`. Without a file to write (a DNS name, an address) the new value is returned to plant by hand.
 */
export async function rotateOne(api: ApiClient, id: string, dir?: string): Promise<{ rotation: RotationJson; file: string | null }> {
  const rotation = await api.post<RotationJson>(`/tokens/${id}/rotate`, {});
  const { token, artifact, replace } = rotation;
  if (!dir) return { rotation, file: null };
  const name = replace.file ?? (artifact.download ? artifact.filename : artifact.url ? `${token.name}.url` : undefined);
  if (!name) return { rotation, file: null };
  const file = join(dir, safeFilename(name));
  const body = artifact.download ? await api.download(artifact.download.replace(/^\/api\/v1/, '')) : urlShortcut(artifact.url ?? '');
  await mkdir(dir, { recursive: true });
  await writeFile(file, body);
  if (token.plantedFile !== safeFilename(name)) await api.patch(`/tokens/${token.id}`, { plantedFile: safeFilename(name) });
  return { rotation, file };
}

export interface FileCheck {
  token: TokenJson;
  file: string;
  present: boolean;
}

/**
 * Check the planted files of current-generation tokens whose location lies under `root` (as the
 * CLI planted them: location is the folder, plantedFile the file name) and report each result
 * to the server, which shows missing ones on the dashboard.
 */
export async function verifyPlanted(api: ApiClient, root: string): Promise<FileCheck[]> {
  const base = resolve(root);
  const checks: FileCheck[] = [];
  for (const token of await allTokens(api)) {
    if (!token.location || !token.plantedFile || token.rotatedTo || !isAbsolute(token.location)) continue;
    const rel = relative(base, resolve(token.location));
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    const file = join(token.location, token.plantedFile);
    const present = existsSync(file);
    await api.post(`/tokens/${token.id}/verification`, { present });
    checks.push({ token, file, present });
  }
  return checks;
}
