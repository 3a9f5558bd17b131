import type { IncomingMessage } from 'node:http';

/**
 * SPEC §7: a top-level browser navigation — `Sec-Fetch-Mode: navigate`, or,
 * from browsers that do not send fetch metadata, no `Sec-Fetch-Mode` and an
 * `Accept` that asks for HTML. fetch/XHR calls and API clients are not.
 */
export function isNavigation(req: IncomingMessage): boolean {
  const mode = req.headers['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  const accept = req.headers.accept;
  return typeof accept === 'string' && accept.toLowerCase().includes('text/html');
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const isUnsafeMethod = (method: string | undefined): boolean => !SAFE_METHODS.has(method ?? 'GET');

/**
 * SPEC §7 CSRF rule for a request authenticated by the session cookie with
 * an unsafe method, and for Gatehouse's own forms: refused when the browser
 * says the request is cross-site or same-site (a sibling subdomain), or when
 * `Origin` is present and is neither the public origin nor `null` from a
 * same-origin request (Chromium sends `Origin: null` under no-referrer).
 * Without `Origin` and `Sec-Fetch-Site` (not a browser) it passes: the Lax
 * cookie already keeps cross-site browser posts unauthenticated.
 * Returns why it is refused, or null.
 */
export function crossSiteReason(req: IncomingMessage, publicOrigin: string): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return `sec_fetch_site_${site.replace('-', '_')}`;
  const origin = req.headers.origin;
  if (origin === undefined) return null;
  if (origin === publicOrigin) return null;
  if (origin === 'null' && site === 'same-origin') return null;
  return 'origin_mismatch';
}
