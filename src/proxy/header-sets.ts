/** Header names the proxy treats specially, in one place (used, not re-inlined). */

/** RFC 9110 §7.6.1 hop-by-hop headers, plus ones undici must not be handed. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'expect',
  'http2-settings',
]);

/**
 * Method-override headers: a backend that honours them would run a DELETE that
 * the route table matched as a GET, so they never pass.
 */
const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

/**
 * Where backends and frameworks read "the client's address" from. A client
 * that sends one could pass for anyone (an allow-listed office IP, a
 * rate-limit bucket of its own choosing), so none passes; Gatehouse sets
 * X-Forwarded-For and X-Real-IP itself. Every `X-Forwarded-*` header is
 * removed too, by prefix (see isManaged).
 */
const CLIENT_ADDRESS = [
  'forwarded',
  'x-real-ip',
  'true-client-ip',
  'x-true-client-ip',
  'x-client-ip',
  'client-ip',
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-originating-ip',
  'x-remote-ip',
  'x-remote-addr',
  'x-proxyuser-ip',
  'x-envoy-external-address',
];

/** URL-override headers some frameworks honour (IIS, Symfony, Zend, Envoy): the backend would serve another path than the one the route table matched. */
const URL_OVERRIDES = ['x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-override-url', 'x-envoy-original-path', 'x-http-destinationurl'];

/** Headers Gatehouse writes itself or never passes: a client's copy never reaches the upstream (SECURITY.md P05-P06, X01-X05). */
export const MANAGED = new Set([...CLIENT_ADDRESS, ...URL_OVERRIDES, 'x-request-id', ...METHOD_OVERRIDES]);

/** `name` is lower case: true for every header a client must not pass upstream under any spelling (`X_Forwarded_For`, `X-FORWARDED-HOST`, ...). */
export function isManaged(lower: string): boolean {
  const name = lower.includes('_') ? lower.replaceAll('_', '-') : lower;
  return MANAGED.has(name) || name.startsWith('x-forwarded-');
}

/** Lower-cased name with "_" read as "-": `X_User_Id` is the same header to CGI/WSGI/nginx-style backends. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}
