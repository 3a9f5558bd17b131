import type { GatehouseConfig } from './schema.js';
import type { ConfigProblem } from './validate/index.js';

/**
 * Settings that work but that an operator should not keep without knowing
 * why: `gatehouse check` prints them (and still exits 0), `start` logs them.
 */
export function configWarnings(config: GatehouseConfig): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (config.issuer?.grants.includes('password'))
    out.push({
      path: 'issuer.grants',
      message:
        "the password grant is on: the OAuth 2.0 Security BCP (RFC 9700 §2.4) says it must not be used, because the client handles the user's password; use authorization_code with PKCE (the JSON /auth/login API does not need this grant)",
    });
  return out;
}
