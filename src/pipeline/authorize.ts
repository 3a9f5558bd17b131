import type { AuthRule, ClaimRule } from '../config/schema.js';
import { insufficientScope } from '../errors.js';
import { claimAt } from '../tokens/claims.js';
import type { VerifiedToken } from '../tokens/verifier.js';
import type { Stage } from './context.js';

/**
 * Route rules (SPEC §2): roles = any of, scopes = all of, claims = equal.
 * Matching is exact and case-sensitive on elements (SECURITY.md J24).
 */
export function authorize(rule: AuthRule, token: VerifiedToken): void {
  if (rule.roles.length > 0 && !rule.roles.some((r) => token.roles.includes(r))) {
    throw insufficientScope('missing_role', 'The access token lacks a role this resource requires');
  }
  if (rule.scopes.length > 0 && !rule.scopes.every((s) => token.scopes.includes(s))) {
    throw insufficientScope('missing_scope', 'The access token lacks a scope this resource requires');
  }
  for (const [path, want] of Object.entries(rule.claims)) {
    if (!claimEquals(claimAt(token.claims, path), want))
      throw insufficientScope('claim_mismatch', "The access token does not meet this resource's requirements");
  }
}

function claimEquals(have: unknown, want: ClaimRule): boolean {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) return Array.isArray(have) && have.includes(want.contains);
  if (Array.isArray(want)) return Array.isArray(have) && have.length === want.length && want.every((w, i) => have[i] === w);
  return have === want;
}

export const authorizeStage: Stage = (ctx) => {
  if (!ctx.identity) return;
  authorize(ctx.route!.auth, ctx.identity);
  ctx.outcome = 'authenticated';
};
