import type { ServerResponse } from 'node:http';
import { styleHashOf } from './pages.js';
import { BUILT_IN_STYLES } from './templates.js';

const BUILT_IN_STYLES_HASH = styleHashOf(BUILT_IN_STYLES);

export interface SendPageOptions {
  /** the page's <style> hash, `pages.stylesHash()`; default: the built-in stylesheet's (wrong when `styles.css` is overridden) */
  styleHash?: string | undefined;
  /**
   * Origins (`https://client.example`) or schemes (`com.example.app:`) a form
   * on this page may lead to besides this origin. Chromium applies
   * form-action to the redirects after a form post, so the consent page needs
   * the origin of the client's redirect URI here.
   */
  formAction?: readonly string[] | undefined;
  /** extra headers (Retry-After, ...); they cannot replace the security headers below */
  headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * The page's Content-Security-Policy: nothing may load (no scripts, images,
 * fonts, frames), the one inline <style> is allowed by its hash, forms post
 * to this origin (and `formAction`), and no one may frame the page (SPEC §7).
 */
export function pageCsp(styleHash: string, formAction: readonly string[] = []): string {
  if (!/^'sha256-[A-Za-z0-9+/]{43}='$/.test(styleHash)) throw new Error(`styleHash must be 'sha256-<base64>', got ${JSON.stringify(styleHash)}`);
  for (const source of formAction) {
    if (!isOrigin(source) && !isPrivateScheme(source)) throw new Error(`formAction entries must be origins or schemes, got ${JSON.stringify(source)}`);
  }
  return [
    "default-src 'none'",
    `style-src ${styleHash}`,
    `form-action ${["'self'", ...formAction].join(' ')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Writes one HTML page with the headers SPEC §7 asks of Gatehouse's pages. */
export function sendPage(res: ServerResponse, status: number, html: string, opts: SendPageOptions = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(opts.headers ?? {})) headers[name.toLowerCase()] = value;
  Object.assign(headers, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'content-security-policy': pageCsp(opts.styleHash ?? BUILT_IN_STYLES_HASH, opts.formAction),
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.writeHead(status, headers);
  res.end(html);
}

/** A native app's redirect scheme (`com.example.app:`, RFC 8252 §7.1); never one that reaches every site or runs code. */
function isPrivateScheme(value: string): boolean {
  return /^[a-z][a-z0-9+.-]*:$/i.test(value) && !WIDE_SCHEMES.has(value.toLowerCase());
}

const WIDE_SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:', 'javascript:', 'data:', 'blob:', 'filesystem:', 'file:', 'about:']);

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}
