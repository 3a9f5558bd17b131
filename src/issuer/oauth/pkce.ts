import { createHash, timingSafeEqual } from 'node:crypto';

/** RFC 7636 §4.1: 43-128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** the S256 challenge of a valid verifier: 43 base64url characters (a SHA-256) */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The authorization request's PKCE parameters (RFC 9700 §2.1.1, OAuth 2.1
 * §4.1.1): a challenge is required and only S256 is accepted, so `plain` (whose
 * challenge is the verifier itself, visible to anyone who sees the request)
 * is refused. Returns why the request is refused, or null.
 */
export function checkChallenge(challenge: string | undefined, method: string | undefined): string | null {
  if (challenge === undefined || challenge === '') return 'code_challenge is required (PKCE with S256)';
  if (method !== 'S256')
    return method === undefined || method === '' ? 'code_challenge_method must be S256' : `code_challenge_method ${method} is not supported; use S256`;
  if (!CHALLENGE.test(challenge)) return 'code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)';
  return null;
}

/** Whether `verifier` is the one the S256 `challenge` was made from (constant time). */
export function verifierMatches(challenge: string, verifier: string | undefined): boolean {
  if (verifier === undefined || !VERIFIER.test(verifier)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}
