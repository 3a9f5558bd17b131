/**
 * A real Chromium (Debian's package, /usr/bin/chromium) driven by
 * playwright-core. Test hosts are mapped to 127.0.0.1 with
 * --host-resolver-rules, so a test can use real-looking names
 * (app.gatehouse.test, evil.test) without touching /etc/hosts, and a test CA
 * server certificate is trusted through its SPKI hash (--ignore-certificate-errors-spki-list takes the leaf's).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export async function launchBrowser(opts: { hosts?: string[]; trustSpki?: string } = {}): Promise<Browser> {
  if (!chromiumAvailable()) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`);
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'];
  if (opts.hosts && opts.hosts.length > 0) args.push(`--host-resolver-rules=${opts.hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}, EXCLUDE localhost`);
  if (opts.trustSpki) args.push(`--ignore-certificate-errors-spki-list=${opts.trustSpki}`);
  return chromium.launch({ executablePath: CHROMIUM, args, headless: true });
}
