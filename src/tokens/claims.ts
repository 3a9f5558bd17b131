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
export function rolesFrom(claims: JWTPayload, paths: string | readonly string[]): string[] {
  const out = new Set<string>();
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    const v = claimAt(claims, path);
    if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') out.add(x);
  }
  return [...out];
}

/** RFC 6749 §3.3 space-separated string, or an array (`scp`, Azure/Okta shape). */
export function scopesFrom(claims: JWTPayload, paths: string | readonly string[]): string[] {
  const out = new Set<string>();
  for (const path of typeof paths === 'string' ? [paths] : paths) {
    const v = claimAt(claims, path);
    const list = typeof v === 'string' ? v.split(' ') : Array.isArray(v) ? v : [];
    for (const x of list) if (typeof x === 'string' && x.length > 0) out.add(x);
  }
  return [...out];
}
