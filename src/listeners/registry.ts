import type { Config } from '../config.ts';
import type { AppDeps } from '../deps.ts';
import type { Logger } from '../logger.ts';
import { dnsListener } from './dns.ts';
import { adminListener, publicListener } from './http.ts';
import { smtpListener } from './smtp.ts';
import { sshListener } from './ssh.ts';
import { mysqlListener } from './mysql.ts';
import { pgwireListener } from './pgwire.ts';
import { wireguardListener } from './wireguard.ts';

/** A running listener: its bound address and how to stop it (stop accepting, drain, release the port). */
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

/**
 * One protocol Honeytrail answers. An entry is plain data plus a start function: the server
 * starts every enabled entry, `serve --only` turns entries on by name (or all `edge` ones),
 * and the start banner, `/healthz` and graceful shutdown walk the same list. A new protocol
 * is one module exporting an entry, one line in LISTENERS and its test.
 */
export interface ListenerEntry {
  /** Role name for `serve --only`, banner and health: 'public' | 'admin' | 'dns' | 'smtp' | 'ssh' | 'wireguard' … */
  name: string;
  /** The settings it reads; the one ending in `_ENABLED` is the switch `serve --only` sets. */
  configKeys: readonly string[];
  /** `edge` listeners face intruders (`serve --only edge` runs them all); `admin` serves the security team. */
  role: 'edge' | 'admin';
  enabled(config: Config): boolean;
  /** Bind and serve; rejects when the port cannot be bound. Port 0 binds an ephemeral port. */
  start(d: ListenerDeps): Promise<RunningListener>;
  /** Start-banner lines once running. @default `  <name>: host:port` */
  banner?(config: Config, address: RunningListener['address']): string[];
}

/** Every listener, in start order (the admin console last among the originals, so its banner lines stay where operators look). */
export const LISTENERS: readonly ListenerEntry[] = [
  publicListener,
  dnsListener,
  smtpListener,
  adminListener,
  pgwireListener,
  mysqlListener,
  sshListener,
  wireguardListener,
];

/** The `*_ENABLED` setting that switches an entry on and off. */
export function enableKey(entry: ListenerEntry): string {
  const key = entry.configKeys.find((k) => k.endsWith('_ENABLED'));
  if (!key) throw new Error(`listener ${entry.name} names no *_ENABLED setting in configKeys`);
  return key;
}

/** The entries a configuration switches on, in start order. */
export function enabledListeners(config: Config, list: readonly ListenerEntry[] = LISTENERS): ListenerEntry[] {
  return list.filter((l) => l.enabled(config));
}

/** Banner lines of one running listener (its own, or `  name : host:port`). */
export function bannerLines(entry: ListenerEntry, config: Config, address: RunningListener['address']): string[] {
  return entry.banner?.(config, address) ?? [`  ${entry.name.padEnd(10)}: ${address.host}:${address.port}`];
}

/** A banner line in the shared layout: `  Label     : text`. */
export function bannerLine(label: string, text: string): string {
  return `  ${label.padEnd(10)}: ${text}`;
}
