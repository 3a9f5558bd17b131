import { createHash } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { LoadedKey } from '../../tokens/keys.js';
import type { User } from '../../tokens/users.js';

/** OIDC Core §5.4: the claims each scope releases, when the user's record has them. */
const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
  email: ['email', 'email_verified'],
};

/** The user's claims released by the granted scopes (ID token and userinfo alike). */
export function scopedClaims(user: User, scopes: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const scope of scopes) {
    for (const claim of SCOPE_CLAIMS[scope] ?? []) {
      const v = user.fields[claim];
      if (v !== undefined) out[claim] = v;
    }
  }
  if (scopes.includes('profile') && out.preferred_username === undefined) out.preferred_username = user.username;
  return out;
}

/** OIDC Core §3.1.3.6: the left half of the hash of the access token, base64url (at_hash). */
export function atHash(accessToken: string, alg: string): string {
  const bits = alg.endsWith('384') ? 384 : alg.endsWith('512') || alg === 'EdDSA' ? 512 : 256;
  const digest = createHash(`sha${bits}`).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export interface IdTokenInput {
  iss: string;
  user: User;
  clientId: string;
  scopes: readonly string[];
  /** the login session */
  sid: string;
  /** epoch seconds of the sign-in */
  authTime: number;
  nonce: string | undefined;
  accessToken: string;
  ttlSeconds: number;
}

/**
 * An OIDC ID token, signed with the current signing key. Typed `JWT`, not
 * `at+jwt`, so it is never accepted as an access token (RFC 9068 §4,
 * SECURITY.md J16); audience is the client alone.
 */
export async function signIdToken(key: LoadedKey, t: IdTokenInput): Promise<string> {
  if (!key.privateKey) throw new TypeError(`${key.file}: not a private key`);
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = {
    ...scopedClaims(t.user, t.scopes),
    auth_time: t.authTime,
    sid: t.sid,
    at_hash: atHash(t.accessToken, key.alg),
    ...(t.nonce !== undefined ? { nonce: t.nonce } : {}),
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(t.iss)
    .setSubject(t.user.username)
    .setAudience(t.clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + t.ttlSeconds)
    .sign(key.privateKey);
}
