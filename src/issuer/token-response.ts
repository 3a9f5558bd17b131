import { SignJWT } from 'jose';
import { signAccessToken } from '../tokens/issue.js';
import { signRefreshToken } from '../tokens/refresh.js';
import type { User } from '../tokens/users.js';
import type { IssuerConfig } from '../config/schema.js';
import { seconds, type IssuerDeps } from './deps.js';
import { atHash, scopedClaims } from './oauth/id-token.js';

/** RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
  scope?: string;
  id_token?: string;
}

/** What an OAuth client's tokens carry besides the user's (SPEC §8). */
export interface ClientGrant {
  /** RFC 9068 `client_id`, and the refresh token is bound to it */
  clientId: string;
  /** issue a refresh token (the client may use the refresh_token grant) */
  refresh: boolean;
  /** an ID token's inputs, when `openid` was granted */
  idToken?: IdTokenInput;
}

export interface IdTokenInput {
  nonce?: string | undefined;
  /** epoch seconds the user signed in */
  authTime: number;
  /** the browser session's login session id (OIDC `sid`, what /oauth/logout's id_token_hint names) */
  sessionSid: string;
}

/** A new access + refresh pair for one login session, signed with the first signing key; for an OAuth client, bound to it (and with an ID token when asked). */
export async function tokenResponse(
  deps: IssuerDeps,
  user: User,
  sid: string,
  refreshJti: string,
  scope: string,
  client: ClientGrant | null = null,
): Promise<TokenResponse> {
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
    extra: { ...userClaims(deps.issuer, user), ...(client ? { client_id: client.clientId } : {}) },
  });
  const out: TokenResponse = { access_token: token, token_type: 'Bearer', expires_in: accessTtl };
  if (!client || client.refresh) {
    out.refresh_token = await signRefreshToken(key, issuer.iss, {
      sub: user.username,
      jti: refreshJti,
      sid,
      exp: Math.floor(Date.now() / 1000) + refreshTtl,
      scope,
      clientId: client?.clientId ?? null,
    });
    out.refresh_expires_in = refreshTtl;
  }
  if (scope) out.scope = scope;
  if (client?.idToken) out.id_token = await signIdToken(deps, user, client.clientId, scope.split(' '), token, client.idToken);
  return out;
}

/**
 * OIDC Core §2 ID token: signed with the current signing key, `typ: JWT` (so
 * the proxy, which takes only `at+jwt` from this issuer, never accepts one as
 * an access token), addressed to the client, with `at_hash`, `nonce`,
 * `auth_time`, `sid` and the claims the granted scopes release.
 */
async function signIdToken(
  deps: Pick<IssuerDeps, 'issuer' | 'signingKeys'>,
  user: User,
  clientId: string,
  scopes: readonly string[],
  accessToken: string,
  input: IdTokenInput,
): Promise<string> {
  const key = deps.signingKeys[0]!;
  if (!key.privateKey) throw new TypeError(`${key.file}: not a private key`);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    ...scopedClaims(user, scopes),
    auth_time: input.authTime,
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    at_hash: atHash(accessToken, key.alg),
    sid: input.sessionSid,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(deps.issuer.iss)
    .setSubject(user.username)
    .setAudience(clientId)
    .setIssuedAt(now)
    .setExpirationTime(now + seconds(deps.issuer.accessTokenTtlMs))
    .sign(key.privateKey);
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
