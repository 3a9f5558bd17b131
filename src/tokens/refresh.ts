import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { LoadedKey } from './keys.js';
import { REFRESH_TYP, preflight } from './verifier.js';

export interface RefreshClaims {
  sub: string;
  jti: string;
  /** login session = refresh family */
  sid: string;
  iat: number;
  exp: number;
  /** scope granted at login; a refresh can never widen it */
  scope: string;
  /** the OAuth client the token was issued to (only that client may use it); null for the JSON API's tokens */
  clientId: string | null;
}

/**
 * Refresh tokens are JWTs too (so any instance can check them without a
 * lookup), but typed `refresh+jwt` and addressed to the issuer itself
 * (`aud` = iss): no API that accepts access tokens will take one, and the
 * proxy refuses the type outright (RFC 8725 §3.11-3.12).
 */
export async function signRefreshToken(key: LoadedKey, iss: string, c: Omit<RefreshClaims, 'iat'>): Promise<string> {
  if (!key.privateKey) throw new TypeError(`${key.file}: not a private key`);
  return new SignJWT({ sid: c.sid, scope: c.scope, ...(c.clientId !== null ? { client_id: c.clientId } : {}) })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: REFRESH_TYP })
    .setIssuer(iss)
    .setAudience(iss)
    .setSubject(c.sub)
    .setJti(c.jti)
    .setIssuedAt()
    .setExpirationTime(c.exp)
    .sign(key.privateKey);
}

export const newId = () => randomUUID();

/** Throws (any error) unless `token` is a refresh token this issuer signed and that has not expired. */
export async function verifyRefreshToken(
  token: string,
  getKey: JWTVerifyGetKey,
  opts: { iss: string; algorithms: string[]; maxBytes: number },
): Promise<RefreshClaims> {
  preflight(token, opts.maxBytes, 'refresh');
  const { payload } = await jwtVerify(token, getKey, {
    issuer: opts.iss,
    audience: opts.iss,
    algorithms: opts.algorithms,
    typ: REFRESH_TYP,
    requiredClaims: ['sub', 'jti', 'exp', 'iat'],
  });
  const { sub, jti, sid, iat, exp, scope, client_id } = payload as Record<string, unknown>;
  if (typeof sub !== 'string' || typeof jti !== 'string' || typeof sid !== 'string' || !Number.isFinite(iat) || !Number.isFinite(exp))
    throw new Error('refresh token claims of the wrong type');
  if (client_id !== undefined && typeof client_id !== 'string') throw new Error('refresh token client_id of the wrong type');
  return { sub, jti, sid, iat: iat as number, exp: exp as number, scope: typeof scope === 'string' ? scope : '', clientId: client_id ?? null };
}
