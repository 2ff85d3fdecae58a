import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium as every browser test starts it: headless, no sandbox (tests run as root in
 * CI), and quiet (no background networking, component updates or sync talking to the internet).
 * `args` adds flags (host-resolver rules, …).
 */
export function launchChromium(args: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...args],
    timeout: 30_000,
  });
}
