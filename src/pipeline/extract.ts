import { invalidRequest, missingToken } from '../errors.js';
import type { Stage } from './context.js';

// RFC 6750 §2.1: "Bearer" 1*SP b64token; we accept exactly one space, any case of the scheme.
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)$/;

export type Extracted = { kind: 'none' } | { kind: 'bearer'; token: string } | { kind: 'other-scheme' };

/**
 * Finds the one bearer credential of a request (SPEC §5.3). Node keeps only
 * the first Authorization header in `req.headers`, so rawHeaders is scanned:
 * two headers, a list in one header, or a token also sent in the query
 * (RFC 6750 §2.3, tokens in URLs leak into logs) are 400 invalid_request.
 */
export function extractBearer(rawHeaders: readonly string[], query: string): Extracted {
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
  const m = BEARER.exec(value);
  if (m) return { kind: 'bearer', token: m[1] as string };
  const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?: |$)/.exec(value)?.[1];
  // "BearerT" (space lost) is a broken bearer credential, not some other scheme: refuse it rather than treat the caller as anonymous.
  if (scheme && !scheme.toLowerCase().startsWith('bearer')) return { kind: 'other-scheme' };
  throw invalidRequest('Malformed Authorization header: expected "Bearer <token>"', 'malformed_authorization');
}

/** The route's auth mode decides what a missing credential means: public never looks, optional lets it pass as anonymous. */
export const extract: Stage = (ctx) => {
  const mode = ctx.route!.auth.mode;
  if (mode === 'public') {
    ctx.outcome = 'public';
    return;
  }
  const found = extractBearer(ctx.req.rawHeaders, ctx.query);
  if (found.kind === 'bearer') {
    ctx.token = found.token;
    return;
  }
  if (mode === 'optional') {
    ctx.outcome = 'anonymous';
    return;
  }
  throw missingToken(found.kind === 'none' ? 'no_token' : 'not_bearer');
};
