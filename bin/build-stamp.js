// Marks dist/ as built now (after tsc): bin/launch.js runs the build only when this stamp is newer than every source file.
import { writeFileSync } from 'node:fs';

writeFileSync(new URL('../dist/.build-stamp', import.meta.url), `${new Date().toISOString()}\n`);
