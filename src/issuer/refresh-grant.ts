import { GatewayError, invalidRequest, storeUnavailable, tooManyRequests } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { durable, revokeFamily } from '../revocation/revoke.js';
import { newId, verifyRefreshToken, type RefreshClaims } from '../tokens/refresh.js';
import type { OAuthClient } from '../config/schema.js';
// every refresh failure gets one body (SECURITY.md O10): unknown, expired, reused, revoked, wrong type
import { invalidGrant, seconds, type IssuerDeps } from './deps.js';
import { invalidScope, userScopes } from './oauth/scopes.js';
import { grantedScope, tokenResponse, type TokenResponse } from './token-response.js';

/** A refresh token this issuer signed, checked with the issuer's own keys and the configured size cap. */
export function readRefresh(deps: Pick<IssuerDeps, 'self' | 'maxTokenBytes'>, token: string): Promise<RefreshClaims> {
  const { self } = deps;
  return verifyRefreshToken(token, self.getKey, { iss: self.iss, algorithms: self.algorithms, maxBytes: deps.maxTokenBytes });
}

async function checkRefresh(deps: IssuerDeps, token: unknown): Promise<RefreshClaims> {
  if (typeof token !== 'string' || token.length === 0) throw invalidRequest('"refresh_token" is required', 'missing_refresh_token');
  try {
    return await readRefresh(deps, token);
  } catch {
    throw invalidGrant('refresh_invalid');
  }
}

/**
 * Refresh tokens that fail verification (forged, tampered, random) count per client IP against `throttle.perIp`:
 * over the limit every refresh from that address is 429 until the window ends (SECURITY.md O07).
 */
async function checkRefreshThrottled(deps: IssuerDeps, ctx: RequestContext, token: unknown): Promise<RefreshClaims> {
  const { perIp, windowMs } = deps.issuer.throttle;
  const ipKey = `refresh:ip:${ctx.clientIp}`;
  const ip = await durable(deps, () => deps.store.peek(ipKey), { op: 'throttle_peek' });
  if (ip.count >= perIp) throw tooManyRequests(ip.resetIn, 'throttled_refresh');
  try {
    return await checkRefresh(deps, token);
  } catch (err) {
    if (err instanceof GatewayError && err.reason === 'refresh_invalid')
      await durable(deps, () => deps.store.hit(ipKey, Math.ceil(windowMs / 1000)), { op: 'throttle_hit' });
    throw err;
  }
}

/** The refresh grant: verify, rotate atomically in the store, and on reuse revoke the whole login session (RFC 9700 §4.14.2). */
export async function refresh(
  deps: IssuerDeps,
  ctx: RequestContext,
  token: unknown,
  scope: string | undefined,
  client: OAuthClient | null = null,
): Promise<TokenResponse> {
  const { store } = deps;
  // A store known to be down answers at once (the throttle below would otherwise wait for its command timeout).
  if (!store.state().ok) throw storeUnavailable('store_down');
  const claims = await checkRefreshThrottled(deps, ctx, token);
  if (store.check(claims)) throw invalidGrant('refresh_revoked');
  // a client's refresh token works only for that client, and the JSON API's only without one (RFC 6749 §6, §10.4)
  if ((claims.clientId ?? null) !== (client?.id ?? null)) throw invalidGrant(claims.clientId === null ? 'refresh_not_client_token' : 'refresh_other_client');
  const granted = client ? clientScope(claims.scope, scope, client) : null;
  const user = deps.users?.get(claims.sub);
  if (!user) {
    await durable(deps, () => store.revokeFamily(claims.sid, claims.exp), { op: 'revoke_family' });
    throw invalidGrant('refresh_user_gone');
  }
  const nextJti = newId();
  const exp = Math.floor(Date.now() / 1000) + seconds(deps.issuer.refreshTokenTtlMs);
  const result = await durable(deps, () => store.rotateFamily(claims.sid, claims.jti, nextJti, exp), { op: 'rotate' });
  if (result !== 'rotated') {
    if (result === 'reused')
      deps.logger.warn({ sub: claims.sub, sid: claims.sid }, 'refresh token reused: the whole login session was revoked (RFC 9700 §4.14.2)');
    throw invalidGrant(`refresh_${result}`);
  }
  ctx.reason = 'refresh';
  if (client && granted !== null)
    return tokenResponse(deps, user, claims.sid, nextJti, userScopes(granted, user.scope).join(' '), { clientId: client.id, refresh: true });
  return tokenResponse(deps, user, claims.sid, nextJti, grantedScope(user, scope, claims.scope));
}

/**
 * The scope of a client's refreshed tokens: what was asked for (all that was
 * granted when nothing was), never more than the original grant (RFC 6749
 * §6) nor than the client may have now.
 */
function clientScope(grantedBefore: string, requested: string | undefined, client: OAuthClient): string[] {
  const before = grantedBefore.split(' ').filter(Boolean);
  const asked = requested === undefined || requested.trim() === '' ? before : [...new Set(requested.split(' ').filter(Boolean))];
  for (const s of asked) if (!before.includes(s)) throw invalidScope(`The scope "${s}" was not granted to this refresh token`);
  return asked.filter((s) => client.scopes.includes(s));
}

/** A refresh token of this issuer names a login session: revoke that family (RFC 7009, logout, admin). Null when it is not one of ours, or not the caller's to revoke. */
export async function revokeRefreshToken(deps: IssuerDeps, token: string, onlySub?: string, onlyClient?: string): Promise<string | null> {
  const claims = await readRefresh(deps, token).catch(() => null);
  // Only the caller's own sessions when a subject is given: a foreign refresh token changes nothing (SECURITY.md O05).
  if (!claims || (onlySub !== undefined && claims.sub !== onlySub)) return null;
  // RFC 7009 §2.1: a client revokes only tokens issued to it
  if (onlyClient !== undefined && claims.clientId !== onlyClient) return null;
  await revokeFamily(deps.store, deps, claims.sid, seconds(deps.issuer.refreshTokenTtlMs));
  return claims.sid;
}
