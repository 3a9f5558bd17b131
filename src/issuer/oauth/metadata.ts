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
