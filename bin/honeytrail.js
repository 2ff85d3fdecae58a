#!/usr/bin/env node
// The `honeytrail` command: the compiled CLI (dist/), or the TypeScript source through tsx when
// the build is missing or older than the source (bin/launch.js).
import { launch } from './launch.js';

await launch('cli/main');
