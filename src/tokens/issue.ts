import { randomUUID } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { LoadedKey } from './keys.js';
import { ACCESS_TYP } from './verifier.js';

export interface AccessTokenInput {
  iss: string;
  sub: string;
  audience: readonly string[];
  ttlSeconds: number;
  roles?: readonly string[];
  scope?: string;
  /** login session (refresh family) id */
  sid?: string;
  extra?: JWTPayload;
}

/** RFC 9068 access token: typ at+jwt, kid, iss/sub/aud/exp/iat/jti, roles, scope. */
export async function signAccessToken(key: LoadedKey, input: AccessTokenInput): Promise<{ token: string; jti: string; exp: number }> {
  if (!key.privateKey) throw new TypeError(`${key.file}: not a private key`);
  const now = Math.floor(Date.now() / 1000);
  const jti = randomUUID();
  const exp = now + input.ttlSeconds;
  const payload: JWTPayload = { ...input.extra, roles: [...(input.roles ?? [])], scope: input.scope ?? '' };
  if (input.sid) payload.sid = input.sid;
  const token = await new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TYP })
    .setIssuer(input.iss)
    .setSubject(input.sub)
    .setAudience(input.audience.length === 1 ? (input.audience[0] as string) : [...input.audience])
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key.privateKey);
  return { token, jti, exp };
}
