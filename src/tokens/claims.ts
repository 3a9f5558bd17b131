import type { JWTPayload } from 'jose';

/**
 * Reads a dotted path (`realm_access.roles`) through own properties only.
 * A name containing ":" or "/" is a URI-namespaced claim (Auth0's
 * `https://example.com/roles`, OIDC §5.1.2) and is read as one top-level
 * name; there is never a fallback from one reading to the other, so a flat
 * claim called "realm_access.roles" can not stand in for the nested one.
 */
export function claimAt(claims: unknown, path: string): unknown {
  const keys = /[:/]/.test(path) ? [path] : path.split('.');
  let cur: unknown = claims;
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * Roles must be a JSON array of strings. A plain string ("admin" or
 * "user,admin") grants nothing: guessing at separators is how type confusion
 * becomes privilege (SECURITY.md J24).
 */
export function rolesFrom(claims: JWTPayload, path: string): string[] {
  const v = claimAt(claims, path);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** RFC 6749 §3.3 space-separated string, or an array (`scp`, Azure/Okta shape). */
export function scopesFrom(claims: JWTPayload, path: string): string[] {
  const v = claimAt(claims, path);
  if (typeof v === 'string') return v.split(' ').filter((x) => x.length > 0);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
