import { createHash } from 'node:crypto';
import type { User } from '../../tokens/users.js';

/** OIDC Core §5.4: the claims each scope releases, when the user's record has them. */
const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    'name',
    'family_name',
    'given_name',
    'middle_name',
    'nickname',
    'preferred_username',
    'profile',
    'picture',
    'website',
    'gender',
    'birthdate',
    'zoneinfo',
    'locale',
    'updated_at',
  ],
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
