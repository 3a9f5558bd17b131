import { createHash, randomBytes } from 'node:crypto';

/** How the session cookie is written: name and whether it is `Secure` (HTTPS or `__Host-` names). */
export interface CookieSettings {
  readonly name: string;
  readonly secure: boolean;
}

/** 32 random bytes (256 bits), base64url: 43 characters. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * The store never holds a usable cookie: records are kept under the SHA-256
 * of the id, so a Redis dump or a log line cannot be replayed as a session.
 */
export function sessionKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/**
 * The session id from a request's Cookie headers (RFC 6265 §5.4: several
 * headers are joined with "; "), or null. A cookie that is not exactly one
 * well-formed id is no session: two cookies of our name (a sibling
 * subdomain's cookie tossing attack, RFC 6265bis §8.5) count as none rather
 * than picking one.
 */
export function readSessionCookie(cookieHeaders: string | readonly string[] | undefined, name: string): string | null {
  if (cookieHeaders === undefined) return null;
  const joined = typeof cookieHeaders === 'string' ? cookieHeaders : cookieHeaders.join('; ');
  let found: string | null = null;
  let count = 0;
  for (const pair of joined.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim() !== name) continue;
    count++;
    found = pair.slice(eq + 1).trim();
  }
  return count === 1 && found !== null && SESSION_ID.test(found) ? found : null;
}

/**
 * The Cookie header the upstream gets: every cookie of Gatehouse's own
 * (`names`) removed, the application's own cookies kept as they came. Null
 * when nothing is left (the header is then not sent).
 */
export function stripCookies(cookieHeader: string, names: ReadonlySet<string>): string | null {
  const kept = cookieHeader
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p.length > 0 && !names.has(p.slice(0, p.indexOf('=') < 0 ? p.length : p.indexOf('=')).trim()));
  return kept.length > 0 ? kept.join('; ') : null;
}

/** Set-Cookie for a new session: HttpOnly, Path=/, SameSite=Lax, Secure unless the demo runs on plain http loopback; no Domain (SPEC §7). */
export function sessionCookie(settings: CookieSettings, id: string, maxAgeSeconds: number): string {
  return `${settings.name}=${id}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; SameSite=Lax${settings.secure ? '; Secure' : ''}`;
}

/** Set-Cookie that removes the session cookie. */
export function clearedCookie(settings: CookieSettings): string {
  return `${settings.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${settings.secure ? '; Secure' : ''}`;
}
