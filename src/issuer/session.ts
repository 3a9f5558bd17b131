import type { ServerResponse } from 'node:http';
import { invalidRequest, invalidToken, storeUnavailable } from '../errors.js';
import { readBody, readJsonObject, readParams } from '../http/body.js';
import { sendJson } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import { revokeAccessToken } from '../revocation/revoke.js';
import { BODY_LIMIT, NO_STORE, seconds, type IssuerDeps } from './deps.js';
import type { OAuthClient } from '../config/schema.js';
import { authenticateClient, readClientCredentials } from './oauth/clients.js';
import { revokeRefreshToken } from './refresh-grant.js';

/** POST /auth/logout, after the stages authenticated the caller: that access token, its login session and (optionally) a refresh token of the caller's own. */
export async function logout(deps: IssuerDeps, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const id = ctx.identity!;
  const hasBody = ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length'] ?? '0') > 0;
  const body = hasBody ? await readJsonObject(ctx.req, BODY_LIMIT) : (await readBody(ctx.req, BODY_LIMIT), {});
  const familyTtl = seconds(deps.issuer.refreshTokenTtlMs);
  await revokeAccessToken(deps.store, deps, id, familyTtl, true);
  const rtoken = body.refresh_token ?? body.refreshToken;
  if (typeof rtoken === 'string') await revokeRefreshToken(deps, rtoken, id.sub);
  ctx.reason = 'logout';
  res.writeHead(204, NO_STORE);
  res.end();
}

/**
 * GET /auth/profile: the caller's `sub`, roles, scope and the configured
 * claims. For this issuer's own tokens they come from the users file as it is
 * now (a demoted user's profile shows it at once; a deleted user gets 401);
 * for another issuer's token, from the token.
 */
export async function profile(deps: IssuerDeps, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const id = ctx.identity!;
  const user = id.selfIssued && id.sub !== undefined && deps.users ? deps.users.get(id.sub) : undefined;
  if (id.selfIssued && deps.users && !user) throw invalidToken('user_gone', 'The user of this token no longer exists');
  const body: Record<string, unknown> = { sub: id.sub, roles: user ? [...user.roles] : id.roles, scope: id.scopes.join(' ') };
  for (const claim of deps.issuer.claims) {
    if (claim in body) continue;
    const value = user ? user.fields[claim] : id.claims[claim];
    if (value !== undefined) body[claim] = value;
  }
  sendJson(res, 200, body, { 'cache-control': 'no-store' });
}

/**
 * POST /oauth/revoke (RFC 7009): 200 whether or not the token meant anything
 * (§2.2). With a client registry the caller authenticates as a client
 * (§2.1) and only that client's tokens are revoked; another client's token
 * is left alone, with the same 200.
 */
export async function oauthRevoke(deps: IssuerDeps, clients: ReadonlyMap<string, OAuthClient>, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const p = await readParams(ctx.req, BODY_LIMIT);
  const client = clients.size > 0 ? await authenticateClient(clients, readClientCredentials(ctx.req.headers, p)) : null;
  if (typeof p.token !== 'string' || p.token === '') throw invalidRequest('"token" is required', 'missing_token');
  if (!deps.store.state().ok) throw storeUnavailable('store_down');
  const owner = client ? client.id : undefined;
  if ((await revokeRefreshToken(deps, p.token, undefined, owner)) === null) {
    const token = p.token;
    const asAccess = await Promise.resolve()
      .then(() => deps.verifier.verify(token))
      .catch(() => null);
    if (asAccess && asAccess.selfIssued && (owner === undefined || asAccess.claims.client_id === owner))
      await revokeAccessToken(deps.store, deps, asAccess, seconds(deps.issuer.refreshTokenTtlMs), false);
  }
  ctx.reason = 'revoke';
  res.writeHead(200, { ...NO_STORE, 'content-length': 0 });
  res.end();
}
