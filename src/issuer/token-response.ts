import { signAccessToken } from '../tokens/issue.js';
import { signRefreshToken } from '../tokens/refresh.js';
import type { User } from '../tokens/users.js';
import type { IssuerConfig } from '../config/schema.js';
import { seconds, type IssuerDeps } from './deps.js';

/** RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  scope?: string;
}

/** A new access + refresh pair for one login session, signed with the first signing key. */
export async function tokenResponse(deps: IssuerDeps, user: User, sid: string, refreshJti: string, scope: string): Promise<TokenResponse> {
  const { issuer } = deps;
  const key = deps.signingKeys[0]!;
  const accessTtl = seconds(issuer.accessTokenTtlMs);
  const refreshTtl = seconds(issuer.refreshTokenTtlMs);
  const { token } = await signAccessToken(key, {
    iss: issuer.iss,
    sub: user.username,
    audience: issuer.audience,
    ttlSeconds: accessTtl,
    roles: user.roles,
    scope,
    sid,
    extra: userClaims(deps.issuer, user),
  });
  const refresh = await signRefreshToken(key, issuer.iss, { sub: user.username, jti: refreshJti, sid, exp: Math.floor(Date.now() / 1000) + refreshTtl, scope });
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_in: accessTtl,
    refresh_token: refresh,
    refresh_expires_in: refreshTtl,
    ...(scope ? { scope } : {}),
  };
}

/** The user fields `issuer.claims` copies into access tokens. */
export function userClaims(issuer: IssuerConfig, user: User): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const claim of issuer.claims) {
    if (claim === 'roles' || claim === 'scope') continue;
    const v = user.fields[claim];
    if (v !== undefined) extra[claim] = v;
  }
  return extra;
}

/** An access token for a browser session's user (no refresh token: the session is the long-lived part), valid at most until `until` (epoch ms). */
export async function sessionAccessToken(
  deps: Pick<IssuerDeps, 'issuer' | 'signingKeys'>,
  user: User,
  sid: string,
  until: number,
): Promise<{ token: string; exp: number }> {
  const ttl = Math.max(1, Math.min(seconds(deps.issuer.accessTokenTtlMs), Math.floor((until - Date.now()) / 1000)));
  const { token, exp } = await signAccessToken(deps.signingKeys[0]!, {
    iss: deps.issuer.iss,
    sub: user.username,
    audience: deps.issuer.audience,
    ttlSeconds: ttl,
    roles: user.roles,
    scope: user.scope,
    sid,
    extra: userClaims(deps.issuer, user),
  });
  return { token, exp };
}

/** The user's scopes, narrowed to what was asked for and never wider than `ceiling` (the scope granted at login, on refresh). */
export function grantedScope(user: User, requested: string | undefined, ceiling?: string): string {
  let allowed = user.scope.split(' ').filter(Boolean);
  if (ceiling !== undefined) {
    const c = new Set(ceiling.split(' '));
    allowed = allowed.filter((s) => c.has(s));
  }
  if (requested === undefined) return allowed.join(' ');
  const want = new Set(requested.split(' ').filter(Boolean));
  return allowed.filter((s) => want.has(s)).join(' ');
}
