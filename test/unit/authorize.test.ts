/**
 * The authorize stage as a table (SPEC §2 route rules; SECURITY.md J24):
 * roles = any of, scopes = all of, claims = equal (type-strict, arrays in
 * order), all exact and case-sensitive; checked in that order, each failure
 * a 403 insufficient_scope with its own logged reason. Through a gateway:
 * test/tokens/roles.test.ts and J24 in test/security/jwt.test.ts.
 */
import type { JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import type { AuthRule, ClaimValue } from '../../src/config/schema.js';
import { GatewayError } from '../../src/errors.js';
import { authorize } from '../../src/pipeline/authorize.js';
import type { VerifiedToken } from '../../src/tokens/verifier.js';

type Outcome = 'ok' | 'missing_role' | 'missing_scope' | 'claim_mismatch';

function rule(r: { roles?: string[]; scopes?: string[]; claims?: Record<string, ClaimValue> }): AuthRule {
  return { mode: 'required', roles: r.roles ?? [], scopes: r.scopes ?? [], claims: r.claims ?? {} };
}

function token(t: { roles?: string[]; scopes?: string[]; claims?: Record<string, unknown> }): VerifiedToken {
  const now = Math.floor(Date.now() / 1000);
  return {
    claims: { sub: 'alice', ...t.claims } as JWTPayload,
    iss: 'https://idp.test',
    sub: 'alice',
    jti: 'j',
    iat: now,
    exp: now + 300,
    sid: undefined,
    roles: t.roles ?? [],
    scopes: t.scopes ?? [],
    selfIssued: false,
  };
}

/** 'ok', or the reason of the 403 insufficient_scope that authorize threw. */
function outcome(r: AuthRule, t: VerifiedToken): Outcome {
  try {
    authorize(r, t);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    const e = err as GatewayError;
    expect(e.code).toBe('insufficient_scope');
    expect(e.status).toBe(403);
    expect(e.description.length).toBeGreaterThan(0);
    return e.reason as Outcome;
  }
}

const cases: Array<[name: string, rule: AuthRule, token: VerifiedToken, want: Outcome]> = [
  ['no rule: any valid token', rule({}), token({}), 'ok'],
  // roles: any of, exact elements
  ['role present', rule({ roles: ['admin'] }), token({ roles: ['admin'] }), 'ok'],
  ['role among others', rule({ roles: ['admin'] }), token({ roles: ['user', 'admin'] }), 'ok'],
  ['any listed role is enough', rule({ roles: ['admin', 'ops'] }), token({ roles: ['ops'] }), 'ok'],
  ['no roles', rule({ roles: ['admin'] }), token({ roles: [] }), 'missing_role'],
  ['another role', rule({ roles: ['admin'] }), token({ roles: ['user'] }), 'missing_role'],
  ['role in another case', rule({ roles: ['admin'] }), token({ roles: ['Admin'] }), 'missing_role'],
  ['role with a trailing space', rule({ roles: ['admin'] }), token({ roles: ['admin '] }), 'missing_role'],
  ['roles joined in one element', rule({ roles: ['admin'] }), token({ roles: ['user,admin'] }), 'missing_role'],
  ['a role prefix', rule({ roles: ['admin'] }), token({ roles: ['adm'] }), 'missing_role'],
  ['a roles claim is not a role', rule({ roles: ['admin'] }), token({ claims: { roles: ['admin'] } }), 'missing_role'],
  // scopes: all of, exact elements
  ['both scopes', rule({ scopes: ['a', 'b'] }), token({ scopes: ['b', 'a'] }), 'ok'],
  ['both scopes and more', rule({ scopes: ['a', 'b'] }), token({ scopes: ['a', 'c', 'b'] }), 'ok'],
  ['one of two scopes', rule({ scopes: ['a', 'b'] }), token({ scopes: ['a'] }), 'missing_scope'],
  ['no scopes', rule({ scopes: ['read'] }), token({ scopes: [] }), 'missing_scope'],
  ['scope in another case', rule({ scopes: ['read'] }), token({ scopes: ['READ'] }), 'missing_scope'],
  ['scopes run together', rule({ scopes: ['read'] }), token({ scopes: ['readadmin'] }), 'missing_scope'],
  ['a scope with a suffix', rule({ scopes: ['read'] }), token({ scopes: ['read:all'] }), 'missing_scope'],
  ['two scopes in one element', rule({ scopes: ['read'] }), token({ scopes: ['read write'] }), 'missing_scope'],
  // claims: equal, type-strict
  ['string claim equal', rule({ claims: { tenant: 'acme' } }), token({ claims: { tenant: 'acme' } }), 'ok'],
  ['string claim in another case', rule({ claims: { tenant: 'acme' } }), token({ claims: { tenant: 'ACME' } }), 'claim_mismatch'],
  ['string claim with a space', rule({ claims: { tenant: 'acme' } }), token({ claims: { tenant: 'acme ' } }), 'claim_mismatch'],
  ['string claim as a list', rule({ claims: { tenant: 'acme' } }), token({ claims: { tenant: ['acme'] } }), 'claim_mismatch'],
  ['claim missing', rule({ claims: { tenant: 'acme' } }), token({}), 'claim_mismatch'],
  ['number claim equal', rule({ claims: { level: 3 } }), token({ claims: { level: 3 } }), 'ok'],
  ['number claim as a string', rule({ claims: { level: 3 } }), token({ claims: { level: '3' } }), 'claim_mismatch'],
  ['boolean claim equal', rule({ claims: { verified: true } }), token({ claims: { verified: true } }), 'ok'],
  ['boolean claim as a string', rule({ claims: { verified: true } }), token({ claims: { verified: 'true' } }), 'claim_mismatch'],
  ['boolean claim as 1', rule({ claims: { verified: true } }), token({ claims: { verified: 1 } }), 'claim_mismatch'],
  ['null claim equal', rule({ claims: { parent: null } }), token({ claims: { parent: null } }), 'ok'],
  ['null claim missing', rule({ claims: { parent: null } }), token({}), 'claim_mismatch'],
  ['list claim equal, in order', rule({ claims: { groups: ['a', 'b'] } }), token({ claims: { groups: ['a', 'b'] } }), 'ok'],
  ['list claim in another order', rule({ claims: { groups: ['a', 'b'] } }), token({ claims: { groups: ['b', 'a'] } }), 'claim_mismatch'],
  ['list claim shorter', rule({ claims: { groups: ['a', 'b'] } }), token({ claims: { groups: ['a'] } }), 'claim_mismatch'],
  ['list claim longer', rule({ claims: { groups: ['a', 'b'] } }), token({ claims: { groups: ['a', 'b', 'c'] } }), 'claim_mismatch'],
  ['list claim as a string', rule({ claims: { groups: ['a'] } }), token({ claims: { groups: 'a' } }), 'claim_mismatch'],
  ['dotted path reads the nested claim', rule({ claims: { 'org.tier': 'gold' } }), token({ claims: { org: { tier: 'gold' } } }), 'ok'],
  ['dotted path never reads a flat member', rule({ claims: { 'org.tier': 'gold' } }), token({ claims: { 'org.tier': 'gold' } }), 'claim_mismatch'],
  ['dotted path through a non-object', rule({ claims: { 'org.tier': 'gold' } }), token({ claims: { org: 'gold' } }), 'claim_mismatch'],
  ['every claim must hold', rule({ claims: { tenant: 'acme', level: 3 } }), token({ claims: { tenant: 'acme', level: 2 } }), 'claim_mismatch'],
  // all parts together, checked roles -> scopes -> claims
  [
    'roles, scopes and claims all met',
    rule({ roles: ['admin'], scopes: ['read'], claims: { tenant: 'acme' } }),
    token({ roles: ['admin'], scopes: ['read'], claims: { tenant: 'acme' } }),
    'ok',
  ],
  ['nothing met: the role is reported', rule({ roles: ['admin'], scopes: ['read'], claims: { tenant: 'acme' } }), token({}), 'missing_role'],
  [
    'role met, scope not',
    rule({ roles: ['admin'], scopes: ['read'], claims: { tenant: 'acme' } }),
    token({ roles: ['admin'], claims: { tenant: 'acme' } }),
    'missing_scope',
  ],
  [
    'role and scope met, claim not',
    rule({ roles: ['admin'], scopes: ['read'], claims: { tenant: 'acme' } }),
    token({ roles: ['admin'], scopes: ['read'], claims: { tenant: 'other' } }),
    'claim_mismatch',
  ],
];

describe('authorize', () => {
  it.each(cases.map(([name, r, t, want]) => ({ name, r, t, want })))('$name -> $want', ({ r, t, want }) => {
    expect(outcome(r, t)).toBe(want);
  });
});
