import type { Config } from '../config.ts';
import type { AppDeps } from '../deps.ts';
import type { Logger } from '../logger.ts';

/**
 * The listener registry contract (issue 16): a protocol is one module exporting a
 * `ListenerEntry`, one registry line and its test. Minimal local copy until the registry lands.
 */

/** A running listener: its bound address and how to stop it. */
export interface RunningListener {
  name: string;
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** What a listener is started with. */
export interface ListenerDeps {
  config: Config;
  log: Logger;
  deps: AppDeps;
}

/** One protocol the process can serve. */
export interface ListenerEntry {
  name: string;
  /** Settings that configure it (banner, docs). */
  configKeys: readonly string[];
  /** `edge` listeners face attackers; `admin` ones serve the security team. */
  role: 'edge' | 'admin';
  enabled(config: Config): boolean;
  start(d: ListenerDeps): Promise<RunningListener>;
}
