#!/usr/bin/env node
// A DNS process of DNS_PROCESSES, forked by the main process through node:cluster (src/dns-process-main.ts).
import { launch } from './launch.js';

await launch('dns-process-main');
