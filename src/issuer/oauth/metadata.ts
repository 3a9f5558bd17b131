/**
 * Where an issuer's metadata lives (RFC 8414 §3, OIDC Discovery §4): for
 * `https://host` at `/.well-known/oauth-authorization-server` and
 * `/.well-known/openid-configuration`; for an issuer with a path
 * `https://host/p`, RFC 8414 inserts the well-known segment before the path
 * (`/.well-known/oauth-authorization-server/p`) while OIDC appends it
 * (`/p/.well-known/openid-configuration`).
 */
export function metadataPaths(iss: string): { oauth: string; openid: string } {
  const path = new URL(iss).pathname.replace(/\/+$/, '');
  return { oauth: `/.well-known/oauth-authorization-server${path}`, openid: `${path}/.well-known/openid-configuration` };
}

export interface MetadataInput {
  iss: string;
  grants: readonly string[];
  /** the algorithm ID tokens are signed with (the current signing key's) */
  idTokenAlg: string;
  scopes: readonly string[];
  claims: readonly string[];
  /** the authorization code flow is served (sessions configured) */
  codeFlow: boolean;
}

/**
 * One document for both discovery mechanisms: RFC 8414 authorization server
 * metadata and OpenID Connect Discovery 1.0. Only features that are on are
 * listed, and the OIDC defaults that do not hold here are spelled out
 * (request_uri_parameter_supported defaults to true in OIDC).
 */
export function metadata(m: MetadataInput): Record<string, unknown> {
  const at = (path: string) => new URL(path, m.iss).href;
  const doc: Record<string, unknown> = {
    issuer: m.iss,
    token_endpoint: at('/oauth/token'),
    jwks_uri: at('/.well-known/jwks.json'),
    revocation_endpoint: at('/oauth/revoke'),
    grant_types_supported: [...m.grants],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    scopes_supported: [...m.scopes],
    claims_supported: [...new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'sid', 'roles', 'scope', ...m.claims])],
    response_types_supported: m.codeFlow ? ['code'] : [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [m.idTokenAlg],
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    claims_parameter_supported: false,
  };
  if (m.codeFlow) {
    Object.assign(doc, {
      authorization_endpoint: at('/oauth/authorize'),
      userinfo_endpoint: at('/oauth/userinfo'),
      end_session_endpoint: at('/oauth/logout'),
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      prompt_values_supported: ['none', 'login', 'consent'],
    });
  }
  return doc;
}
