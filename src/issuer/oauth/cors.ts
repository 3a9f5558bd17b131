import type { OAuthClient } from '../../config/schema.js';
import type { LocalHandler } from '../../pipeline/context.js';

const LOOPBACK_ORIGIN = /^http:\/\/(127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

/**
 * CORS for the endpoints a browser app calls itself (a single-page app
 * exchanging its code, refreshing, reading userinfo, revoking): allowed only
 * for the origins of registered http(s) redirect URIs, the way Keycloak's
 * "web origins" default to the redirect URIs. Never with credentials: these
 * endpoints take a client id, a code or a bearer token, never the session
 * cookie. Discovery and the JWKS are public documents and allow any origin.
 */
export function clientOrigins(clients: readonly OAuthClient[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const c of clients)
    for (const uri of c.redirectUris) {
      const url = new URL(uri);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') continue;
      // a loopback registration's origin without its port (any port matches)
      const loopback = LOOPBACK_ORIGIN.exec(url.origin);
      out.add(loopback ? `http://${loopback[1] as string}` : url.origin);
    }
  return out;
}

const PREFLIGHT_MAX_AGE = '600';

/** A registered origin; a loopback one on any port, as its redirect URIs match (RFC 8252 §7.3). */
function allowed(origins: ReadonlySet<string>, origin: string | undefined): origin is string {
  if (origin === undefined) return false;
  if (origins.has(origin)) return true;
  const m = LOOPBACK_ORIGIN.exec(origin);
  return m !== null && origins.has(`http://${m[1] as string}`);
}

/** The handler, answering with CORS headers when the request's Origin is a registered client's (on errors too: they are set before it runs). */
export function withCors(origins: ReadonlySet<string>, handler: LocalHandler): LocalHandler {
  return (ctx, res) => {
    const origin = ctx.req.headers.origin;
    res.setHeader('vary', 'Origin');
    if (allowed(origins, origin)) res.setHeader('access-control-allow-origin', origin);
    return handler(ctx, res);
  };
}

/** A public document any origin may read. */
export function openCors(handler: LocalHandler): LocalHandler {
  return (ctx, res) => {
    res.setHeader('access-control-allow-origin', '*');
    return handler(ctx, res);
  };
}

/** OPTIONS preflight: 204, with the allowance only for a registered client's origin (else the browser blocks the call). */
export function preflight(origins: ReadonlySet<string>): LocalHandler {
  return async (ctx, res) => {
    const origin = ctx.req.headers.origin;
    const ok = allowed(origins, origin);
    ctx.reason = ok ? 'cors_preflight' : 'cors_preflight_refused';
    res.writeHead(204, {
      vary: 'Origin',
      ...(ok
        ? {
            'access-control-allow-origin': origin,
            'access-control-allow-methods': 'GET, POST',
            'access-control-allow-headers': 'authorization, content-type',
            'access-control-max-age': PREFLIGHT_MAX_AGE,
          }
        : {}),
    });
    res.end();
  };
}
