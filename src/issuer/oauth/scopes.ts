import { OIDC_SCOPES, SCOPE_TOKEN } from '../../config/schema.js';
import { GatewayError } from '../../errors.js';

export const invalidScope = (description: string) => new GatewayError('invalid_scope', 'invalid_scope', { description });

/** The requested scope list: the client's whole list when nothing was asked for; each token checked and the client's allowance enforced. */
export function requestedScopes(scope: string | undefined, allowed: readonly string[]): string[] {
  if (scope === undefined || scope.trim() === '') return [...allowed];
  const list = [...new Set(scope.split(' ').filter(Boolean))];
  for (const s of list) {
    if (!SCOPE_TOKEN.test(s)) throw invalidScope(`"${s}" is not a valid scope`);
    if (!allowed.includes(s)) throw invalidScope(`The scope "${s}" is not allowed for this client`);
  }
  return list;
}

/**
 * SPEC §8: of the requested scopes (already within the client's allowance),
 * a user's token gets the standard OIDC ones and those in the user's own
 * `scope`; the rest are left out (RFC 6749 §3.3 lets the server issue fewer,
 * and the token response says which were granted).
 */
export function userScopes(requested: readonly string[], userScope: string): string[] {
  const own = new Set(userScope.split(' ').filter(Boolean));
  return requested.filter((s) => OIDC_SCOPES.includes(s) || own.has(s));
}
