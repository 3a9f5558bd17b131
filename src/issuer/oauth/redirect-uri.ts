/**
 * Redirect URIs are compared as exact strings (RFC 9700 §2.1, OAuth 2.1
 * §2.3.1): no trailing-slash folding, no case folding, no prefix or pattern
 * matching, no extra query. The one exception is RFC 8252 §7.3: a native
 * app's loopback redirect `http://127.0.0.1` or `http://[::1]` may use any
 * port, because the app picks a free one at run time — everything else of
 * such a URI still matches exactly. `localhost` gets no exception (it can
 * resolve elsewhere; RFC 8252 §8.3).
 */
export function matchRedirectUri(registered: readonly string[], given: string | undefined): string | null {
  if (given === undefined || given === '') return null;
  if (registered.includes(given)) return given;
  const loopback = withoutLoopbackPort(given);
  if (loopback === null) return null;
  return registered.some((r) => withoutLoopbackPort(r) === loopback) ? given : null;
}

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?(\/[^#]*)?$/;

/** `http://127.0.0.1:PORT/path?q` → `http://127.0.0.1/path?q`, for loopback URIs only; else null. */
function withoutLoopbackPort(uri: string): string | null {
  const m = LOOPBACK.exec(uri);
  if (!m) return null;
  const port = m[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535 || port.startsWith('0'))) return null;
  return `http://${m[1] as string}${m[3] ?? ''}`;
}
