/** Header names the proxy treats specially, in one place (used, not re-inlined). */

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici must not be handed. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'expect', 'http2-settings']);

/**
 * Method-override headers: a backend that honours them would run a DELETE that
 * the route table matched as a GET, so they never pass.
 */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/** Headers Gatehouse writes itself: a client's copy never reaches the upstream (SECURITY.md P05-P06). */
export const MANAGED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded', 'x-real-ip', 'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-request-id', ...METHOD_OVERRIDES]);

/** Lower-cased name with "_" read as "-": `X_User_Id` is the same header to CGI/WSGI/nginx-style backends. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}
