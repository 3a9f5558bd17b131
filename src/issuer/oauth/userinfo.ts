import type { ServerResponse } from 'node:http';
import { insufficientScope, invalidToken } from '../../errors.js';
import { sendJson } from '../../http/respond.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { IssuerDeps } from '../deps.js';
import { scopedClaims } from './id-token.js';

/**
 * GET/POST /oauth/userinfo (OIDC Core §5.3): `sub` and the claims the
 * token's scopes release, read from the users file as it is now. The bearer
 * token must be one of this issuer's, granted `openid` (RFC 6750 §3.1
 * insufficient_scope otherwise); a client's own token (client credentials)
 * names no user.
 */
export async function userinfo(deps: IssuerDeps, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const id = ctx.identity!;
  if (!id.selfIssued) throw invalidToken('userinfo_foreign_token', 'Userinfo takes only access tokens this issuer signed');
  if (!id.scopes.includes('openid')) throw insufficientScope('userinfo_no_openid', 'The access token was not granted the openid scope');
  const user = id.sub === undefined ? undefined : deps.users?.get(id.sub);
  if (!user) throw invalidToken('userinfo_no_user', 'The access token names no user');
  ctx.reason = 'userinfo';
  sendJson(res, 200, { sub: user.username, ...scopedClaims(user, id.scopes) }, { 'cache-control': 'no-store', pragma: 'no-cache' });
}
