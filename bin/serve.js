#!/usr/bin/env node
// `npm start`: every role in one process (src/main.ts), compiled when the build is fresh (bin/launch.js).
import { launch } from './launch.js';

await launch(process.argv[2] === 'worker' ? 'worker-main' : 'main');
