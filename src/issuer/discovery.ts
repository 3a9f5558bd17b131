import type { ServerResponse } from 'node:http';
import { sendJson } from '../http/respond.js';
import type { IssuerDeps } from './deps.js';

const CACHE = { 'cache-control': 'public, max-age=300' };

/** GET /.well-known/jwks.json: the public half of every signing key (the first signs, the rest still verify). */
export async function jwks(deps: IssuerDeps, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { keys: deps.signingKeys.map((k) => k.publicJwk) }, CACHE);
}

/** GET /.well-known/openid-configuration */
export async function openidConfiguration(deps: IssuerDeps, res: ServerResponse): Promise<void> {
  const iss = deps.issuer.iss;
  const at = (path: string) => new URL(path, iss).href;
  sendJson(
    res,
    200,
    {
      issuer: iss,
      jwks_uri: at('/.well-known/jwks.json'),
      token_endpoint: at('/oauth/token'),
      revocation_endpoint: at('/oauth/revoke'),
      grant_types_supported: ['password', 'refresh_token'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      scopes_supported: [],
      claims_supported: ['sub', 'roles', 'scope', ...deps.issuer.claims],
    },
    CACHE,
  );
}
