import { claimAt } from '../tokens/claims.js';
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
  return { headers: list, strip: new Set(list.map((h) => h.name.toLowerCase().replaceAll('_', '-'))), forwardToken };
}

const SAFE_VALUE = /^[\x20-\x7e]*$/;

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
  let text: string;
  if (Array.isArray(v)) text = v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',');
  else if (typeof v === 'object') text = JSON.stringify(v);
  else text = String(v);
  return SAFE_VALUE.test(text) ? text : encodeURIComponent(text);
}
