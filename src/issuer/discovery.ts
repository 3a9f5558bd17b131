import type { ServerResponse } from 'node:http';
import { OIDC_SCOPES } from '../config/schema.js';
import { sendJson } from '../http/respond.js';
import type { IssuerDeps } from './deps.js';

const CACHE = { 'cache-control': 'public, max-age=300' };

/** GET /.well-known/jwks.json: the public half of every signing key (the first signs, the rest still verify). */
export async function jwks(deps: IssuerDeps, res: ServerResponse): Promise<void> {
  sendJson(res, 200, { keys: deps.signingKeys.map((k) => k.publicJwk) }, CACHE);
}

/** What the provider offers in this configuration: only enabled features are announced. */
export interface ProviderFeatures {
  /** the sign-in pages exist (sessions), so the code flow and end-session endpoint do */
  browser: boolean;
}

const CLIENT_AUTH = ['client_secret_basic', 'client_secret_post', 'none'];

/**
 * The metadata document (OIDC Discovery 1.0 §3, RFC 8414 §2), served at both
 * well-known locations: every required field, and only what this
 * configuration really serves.
 */
export function providerMetadata(deps: IssuerDeps, features: ProviderFeatures): Record<string, unknown> {
  const iss = deps.issuer.iss;
  // the endpoints are served at the origin's root whatever the issuer's path
  const at = (path: string) => new URL(path, iss).href;
  const grants = deps.issuer.grants.filter((g) => g !== 'authorization_code' || features.browser);
  const code = grants.includes('authorization_code');
  const clientScopes = deps.issuer.clients.flatMap((c) => c.scopes);
  const scopes = [...new Set([...(code ? OIDC_SCOPES : []), ...clientScopes])];
  // ID tokens are signed with the current (first) key only; retired keys still verify but never sign
  const algs = deps.signingKeys.slice(0, 1).map((k) => k.alg);
  // clients authenticate once there is a registry (the code flow needs one); before it, /oauth/token took anyone
  const clientAuth = deps.issuer.clients.length > 0 || code ? CLIENT_AUTH : ['none'];
  return {
    issuer: iss,
    ...(code ? { authorization_endpoint: at('/oauth/authorize') } : {}),
    token_endpoint: at('/oauth/token'),
    ...(code ? { userinfo_endpoint: at('/oauth/userinfo') } : {}),
    jwks_uri: at('/.well-known/jwks.json'),
    revocation_endpoint: at('/oauth/revoke'),
    ...(features.browser ? { end_session_endpoint: at('/oauth/logout') } : {}),
    scopes_supported: scopes,
    response_types_supported: code ? ['code'] : [],
    ...(code ? { response_modes_supported: ['query'] } : {}),
    grant_types_supported: grants,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: algs,
    token_endpoint_auth_methods_supported: clientAuth,
    revocation_endpoint_auth_methods_supported: clientAuth,
    ...(code
      ? {
          code_challenge_methods_supported: ['S256'],
          authorization_response_iss_parameter_supported: true,
          prompt_values_supported: ['none', 'login', 'consent', 'select_account'],
          claims_parameter_supported: false,
          request_parameter_supported: false,
          request_uri_parameter_supported: false,
        }
      : {}),
    claims_supported: [
      ...new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'sid', 'roles', 'scope', 'client_id', ...CLAIMS, ...deps.issuer.claims]),
    ],
  };
}

/** the claims the profile and email scopes release (OIDC Core §5.4) */
const CLAIMS = ['name', 'given_name', 'family_name', 'preferred_username', 'email', 'email_verified', 'picture', 'locale', 'zoneinfo', 'updated_at'];

/** GET /.well-known/openid-configuration and /.well-known/oauth-authorization-server */
export async function openidConfiguration(deps: IssuerDeps, res: ServerResponse, features: ProviderFeatures): Promise<void> {
  sendJson(res, 200, providerMetadata(deps, features), CACHE);
}
