import { claimAt } from '../tokens/claims.js';
import { canonicalName } from './header-sets.js';
import type { VerifiedToken } from '../tokens/verifier.js';

export interface IdentityHeader {
  name: string;
  claim: string;
}

export interface IdentityPlan {
  headers: readonly IdentityHeader[];
  /** canonical names (lower case, "_" as "-") stripped from every client request */
  strip: ReadonlySet<string>;
  forwardToken: boolean;
}

export function identityPlan(headers: Readonly<Record<string, string>>, forwardToken: boolean): IdentityPlan {
  const list = Object.entries(headers).map(([name, claim]) => ({ name, claim }));
  return { headers: list, strip: new Set(list.map((h) => canonicalName(h.name))), forwardToken };
}

const SAFE_VALUE = /^[\x20-\x7e]*$/;
const SAFE_ELEMENT = /^[\x20-\x2b\x2d-\x7e]*$/;

/**
 * Header value for one claim. Arrays are joined with ",", objects sent as
 * JSON, non-ASCII or control characters percent-encoded (UTF-8) so a claim can
 * never inject a header line or be mangled as latin1. Missing claims: no header.
 */
export function identityValue(token: VerifiedToken, claim: string): string | null {
  let v: unknown;
  if (claim === 'roles') v = token.roles;
  else if (claim === 'scope') v = token.scopes;
  else v = claimAt(token.claims, claim);
  if (v === undefined || v === null) return null;
  // Each element is encoded on its own so the joining "," stays a separator, and an element
  // containing "," (a role "guest,admin") is encoded rather than read upstream as two roles.
  if (Array.isArray(v)) return v.map((x) => encodeUnsafe(typeof x === 'string' ? x : JSON.stringify(x), SAFE_ELEMENT)).join(',');
  return encodeUnsafe(typeof v === 'object' ? JSON.stringify(v) : String(v), SAFE_VALUE);
}

// JSON may carry a lone surrogate ("\ud800"), which encodeURIComponent refuses with a URIError: send U+FFFD, as UTF-8 would.
const LONE_SURROGATE = /\p{Cs}/gu;

function encodeUnsafe(text: string, safe: RegExp): string {
  return safe.test(text) ? text : encodeURIComponent(text.replace(LONE_SURROGATE, '\uFFFD'));
}
