import { invalidRequest, missingToken, signInRequired } from '../errors.js';
import { isNavigation } from '../http/browser.js';
import { readSessionCookie } from '../http/cookies.js';
import type { RequestContext, Stage, StageDeps } from './context.js';

// RFC 6750 §2.1: "Bearer" 1*SP b64token; we accept exactly one space, any case of the scheme.
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)$/;

export type Extracted = { kind: 'none' } | { kind: 'bearer'; token: string } | { kind: 'other-scheme' };

const BEARER_PREFIX = 'bearer ';

/** The value starts with "Bearer " in any case of the scheme (ASCII letters only, as BEARER). */
function hasBearerScheme(value: string): boolean {
  if (value.length <= BEARER_PREFIX.length || value.charCodeAt(6) !== 32) return false;
  // | 0x20 lower-cases an ASCII letter; of all characters only "B" and "b" give "b", and so on
  for (let i = 0; i < 6; i++) if ((value.charCodeAt(i) | 0x20) !== BEARER_PREFIX.charCodeAt(i)) return false;
  return true;
}

/**
 * Finds the one bearer credential of a request (SPEC §5.3). Node keeps only
 * the first Authorization header in `req.headers`, so rawHeaders is scanned:
 * two headers, a list in one header, or a token also sent in the query
 * (RFC 6750 §2.3, tokens in URLs leak into logs) are 400 invalid_request.
 *
 * `accepted`: whether the verifier has accepted this exact token before (its
 * cache). Such a token passed the verifier's compact-JWT check, whose
 * alphabet lies inside the b64token one, so BEARER would match it again; the
 * scan of a long token (0.4 µs for 450 characters) is skipped for it.
 */
export function extractBearer(rawHeaders: readonly string[], query: string, accepted?: (token: string) => boolean): Extracted {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (value !== undefined) throw invalidRequest('More than one Authorization header', 'duplicate_authorization');
      value = rawHeaders[i + 1] as string;
    }
  }
  if (query.length > 1 && /[?&]access_token=/.test(query)) {
    throw invalidRequest('Access tokens are not accepted in the URL; send them in the Authorization header', 'token_in_query');
  }
  if (value === undefined) return { kind: 'none' };
  if (accepted && hasBearerScheme(value)) {
    const token = value.slice(BEARER_PREFIX.length);
    if (accepted(token)) return { kind: 'bearer', token };
  }
  const m = BEARER.exec(value);
  if (m) return { kind: 'bearer', token: m[1] as string };
  const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?: |$)/.exec(value)?.[1];
  // "BearerT" (space lost) is a broken bearer credential, not some other scheme: refuse it rather than treat the caller as anonymous.
  if (scheme && !scheme.toLowerCase().startsWith('bearer')) return { kind: 'other-scheme' };
  throw invalidRequest('Malformed Authorization header: expected "Bearer <token>"', 'malformed_authorization');
}

/**
 * The request's one credential (SPEC §5.3, §7): `Authorization: Bearer`
 * when present (a session cookie is then ignored), else the session cookie
 * when sessions are on. Public routes never look.
 */
export const extract: Stage = (ctx, deps) => {
  const mode = ctx.route!.auth.mode;
  if (mode === 'public') {
    ctx.outcome = 'public';
    return;
  }
  const found = extractBearer(ctx.req.rawHeaders, ctx.query, deps.verifier.accepted);
  if (found.kind === 'bearer') {
    ctx.token = found.token;
    ctx.credential = 'bearer';
    return;
  }
  const id = deps.sessions ? readSessionCookie(ctx.req.headers.cookie, deps.sessions.cookieName) : null;
  if (id !== null) {
    ctx.sessionId = id;
    ctx.credential = 'session';
    return;
  }
  return noCredential(ctx, deps, found.kind === 'none' ? 'no_token' : 'not_bearer');
};

/**
 * No usable credential: an `optional` route lets the request pass as
 * anonymous; otherwise a browser navigation on a route with `login: auto`
 * (or any GET/HEAD with `redirect`) is sent to the sign-in page, with its
 * URL remembered server-side, and everything else gets the JSON 401 — a
 * page's own fetch() calls are never answered with a redirect.
 */
export function noCredential(ctx: RequestContext, deps: StageDeps, reason: string): void | Promise<void> {
  const route = ctx.route!;
  if (route.auth.mode === 'optional') {
    ctx.outcome = 'anonymous';
    return;
  }
  const sessions = deps.sessions;
  const method = ctx.req.method ?? 'GET';
  const redirect =
    sessions !== null &&
    (method === 'GET' || method === 'HEAD') &&
    !ctx.req.headers.upgrade &&
    (route.login === 'redirect' || (route.login === 'auto' && isNavigation(ctx.req)));
  if (!redirect) throw missingToken(reason);
  return sessions.signInUrl(ctx.path + ctx.query).then((location) => {
    throw signInRequired(location, reason);
  });
}
