import type { OAuthClient } from '../../config/schema.js';
import { GatewayError, invalidRequest } from '../../errors.js';
import type { RequestContext } from '../../pipeline/context.js';
import { durable, revokeFamily } from '../../revocation/revoke.js';
import { signAccessToken } from '../../tokens/issue.js';
import { newId } from '../../tokens/refresh.js';
import { invalidGrant, NO_STORE, seconds, type IssuerDeps } from '../deps.js';
import { login } from '../login.js';
import { refresh } from '../refresh-grant.js';
import { tokenResponse, type TokenResponse } from '../token-response.js';
import { authenticateClient, invalidClient, isConfidential, readClientCredentials } from './clients.js';
import { verifierMatches } from './pkce.js';
import type { OAuthRecords } from './records.js';
import { requestedScopes } from './scopes.js';

const unauthorizedClient = (grant: string) =>
  new GatewayError('unauthorized_client', `client_grant_${grant}`, { description: `This client may not use the ${grant} grant`, headers: NO_STORE });

/**
 * POST /oauth/token (RFC 6749 §3.2, SPEC §8): the grants `issuer.grants`
 * lists. With a client registry every grant needs a registered client that
 * may use it, authenticated as registered (a secret by Basic or in the body,
 * or only `client_id` for a public client); without one, the password and
 * refresh grants work for any caller, as before clients existed.
 */
export async function tokenEndpoint(
  deps: IssuerDeps,
  clients: ReadonlyMap<string, OAuthClient>,
  records: OAuthRecords | null,
  ctx: RequestContext,
  p: Record<string, string>,
): Promise<TokenResponse> {
  const grant = p.grant_type;
  if (grant === undefined) throw invalidRequest('"grant_type" is required', 'missing_grant_type');
  const enabled = deps.issuer.grants.filter((g) => g !== 'authorization_code' || records !== null);
  if (!(enabled as readonly string[]).includes(grant))
    throw new GatewayError('unsupported_grant_type', 'unsupported_grant_type', {
      description: `Supported grant types: ${enabled.join(', ') || 'none'}${grant === 'password' ? ' (the password grant is off unless issuer.grants lists it; RFC 9700 §2.4)' : ''}`,
      headers: NO_STORE,
    });
  const creds = readClientCredentials(ctx.req.headers, p);
  const needsClient = clients.size > 0 || grant === 'authorization_code' || grant === 'client_credentials';
  const client = needsClient ? await authenticateClient(clients, creds) : null;
  if (client && !(client.grants as readonly string[]).includes(grant)) throw unauthorizedClient(grant);
  ctx.reason = `grant_${grant}`;
  switch (grant) {
    case 'password':
      return login(deps, ctx, p.username, p.password, p.scope, true);
    case 'refresh_token':
      return refresh(deps, ctx, p.refresh_token, p.scope, client);
    case 'client_credentials':
      return clientCredentials(deps, client as OAuthClient, p.scope);
    default:
      return exchangeCode(deps, client as OAuthClient, records as OAuthRecords, p);
  }
}

/**
 * RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): the code is taken from the store
 * in one atomic step, so only one redemption can ever succeed. A code
 * presented again revokes the login session its first redemption started
 * (RFC 6749 §4.1.2: "SHOULD revoke all tokens previously issued based on
 * that authorization code").
 */
async function exchangeCode(deps: IssuerDeps, client: OAuthClient, records: OAuthRecords, p: Record<string, string>): Promise<TokenResponse> {
  const code = p.code;
  if (code === undefined || code === '') throw invalidRequest('"code" is required', 'missing_code');
  if (p.redirect_uri === undefined) throw invalidRequest('"redirect_uri" is required', 'missing_redirect_uri');
  const found = await durable(deps, () => records.redeem(code), { op: 'redeem_code' });
  if (!('grant' in found)) {
    if (found.issuedFamily !== null) {
      await revokeFamily(deps.store, deps, found.issuedFamily, seconds(deps.issuer.refreshTokenTtlMs));
      deps.logger.warn({ client: client.id, sid: found.issuedFamily }, 'authorization code used twice: the tokens it issued were revoked');
      throw invalidGrant('code_reused', 'The authorization code was already used');
    }
    throw invalidGrant('code_unknown', 'The authorization code is invalid or expired');
  }
  const g = found.grant;
  if (g.expiresAt < Date.now()) throw invalidGrant('code_expired', 'The authorization code is invalid or expired');
  if (g.clientId !== client.id) throw invalidGrant('code_other_client', 'The authorization code was issued to another client');
  if (g.redirectUri !== p.redirect_uri) throw invalidGrant('code_redirect_uri', 'redirect_uri differs from the one in the authorization request');
  if (p.code_verifier === undefined || p.code_verifier === '') throw invalidGrant('pkce_missing_verifier', '"code_verifier" is required (PKCE)');
  if (!verifierMatches(g.challenge, p.code_verifier)) throw invalidGrant('pkce_wrong_verifier', 'code_verifier does not match the code_challenge');
  const user = deps.users?.get(g.sub);
  if (!user) throw invalidGrant('code_user_gone', 'The user no longer exists');
  const jti = newId();
  await durable(deps, () => deps.store.createFamily(g.familySid, user.username, jti, Math.floor(Date.now() / 1000) + seconds(deps.issuer.refreshTokenTtlMs)), {
    op: 'create_family',
  });
  // signing out of the browser session that granted this code ends these tokens too
  await durable(deps, () => records.linkFamily(g.sessionSid, g.familySid, seconds(deps.issuer.refreshTokenTtlMs)), { op: 'link_family' });
  deps.logger.info({ sub: user.username, client: client.id, sid: g.familySid }, 'authorization code redeemed');
  return tokenResponse(deps, user, g.familySid, jti, g.scopes.join(' '), {
    clientId: client.id,
    refresh: client.grants.includes('refresh_token'),
    ...(g.scopes.includes('openid') ? { idToken: { nonce: g.nonce, authTime: g.authTime, sessionSid: g.sessionSid } } : {}),
  });
}

/** RFC 6749 §4.4: a confidential client acting for itself; `sub` is the client id, no refresh token (§4.4.3). */
async function clientCredentials(deps: IssuerDeps, client: OAuthClient, scope: string | undefined): Promise<TokenResponse> {
  if (!isConfidential(client)) throw invalidClient('public_client_credentials', false);
  const scopes = requestedScopes(scope, client.scopes);
  const ttl = seconds(deps.issuer.accessTokenTtlMs);
  const { token } = await signAccessToken(deps.signingKeys[0]!, {
    iss: deps.issuer.iss,
    sub: client.id,
    audience: deps.issuer.audience,
    ttlSeconds: ttl,
    scope: scopes.join(' '),
    extra: { client_id: client.id },
  });
  return { access_token: token, token_type: 'Bearer', expires_in: ttl, ...(scopes.length ? { scope: scopes.join(' ') } : {}) };
}
