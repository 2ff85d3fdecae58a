// Runs an entry point of Honeytrail: the compiled build in dist/ (npm run build, also run by
// npm install) when it is at least as new as every source file, else the TypeScript source
// through tsx (development: nothing to build, edits take effect at once).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Newest modification time of the TypeScript sources (a few hundred files: a few milliseconds). */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** True when dist/ holds a build made after the last change to src/. */
export function builtIsFresh() {
  const stamp = join(root, 'dist', '.build-stamp');
  return existsSync(stamp) && statSync(stamp).mtimeMs >= newestSource(join(root, 'src'));
}

/** Import `entry` (a path under src/ without extension, e.g. `cli/main`) from the build or the source. */
export async function launch(entry) {
  if (process.env.HONEYTRAIL_FROM_SOURCE !== '1' && builtIsFresh()) {
    await import(pathToFileURL(join(root, 'dist', `${entry}.js`)).href);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src', `${entry}.ts`)).href);
}
