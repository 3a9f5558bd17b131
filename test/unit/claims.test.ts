import type { JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { claimAt, rolesFrom, scopesFrom } from '../../src/tokens/claims.js';

/** The claim readers behind route rules (SPEC §2 rolesClaim/scopeClaim); through a gateway: test/tokens/roles.test.ts, SECURITY.md J24. */
describe('claim readers', () => {
  it('claimAt walks own properties only', () => {
    const claims = JSON.parse('{"a":{"b":[1]},"__proto__":{"polluted":["admin"]}}') as Record<string, unknown>;
    expect(claimAt(claims, 'a.b')).toEqual([1]);
    expect(claimAt(claims, 'constructor')).toBeUndefined();
    expect(claimAt(claims, 'toString')).toBeUndefined();
    expect(claimAt(claims, 'a.b.length')).toBeUndefined();
    expect(claimAt({}, '__proto__')).toBeUndefined();
    expect(claimAt(claims, '__proto__.polluted')).toEqual(['admin']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
  it('claimAt reads a URI-namespaced claim (Auth0 style) as one name, and a dotted path never as a flat name', () => {
    const claims = { 'https://example.com/roles': ['admin'], https: { '//example': { 'com/roles': ['x'] } }, 'org.tier': 'flat', org: { tier: 'nested' } };
    expect(claimAt(claims, 'https://example.com/roles')).toEqual(['admin']);
    expect(rolesFrom(claims as JWTPayload, 'https://example.com/roles')).toEqual(['admin']);
    expect(claimAt(claims, 'org.tier')).toBe('nested');
    expect(claimAt({ 'org.tier': 'flat' }, 'org.tier')).toBeUndefined();
    expect(claimAt({ 'urn:zitadel:iam:org:project:roles': { admin: {} } }, 'urn:zitadel:iam:org:project:roles')).toEqual({ admin: {} });
  });
  it('rolesFrom: arrays of strings only; scopesFrom: space-separated string or array', () => {
    expect(rolesFrom({ roles: ['a', 1, null, 'b'] } as JWTPayload, 'roles')).toEqual(['a', 'b']);
    expect(rolesFrom({ roles: 'a' } as JWTPayload, 'roles')).toEqual([]);
    expect(rolesFrom({ roles: 'a,b' } as JWTPayload, 'roles')).toEqual([]);
    expect(scopesFrom({ scope: ' a  b ' } as JWTPayload, 'scope')).toEqual(['a', 'b']);
    expect(scopesFrom({ scope: 'a\tb' } as JWTPayload, 'scope')).toEqual(['a\tb']);
    expect(scopesFrom({ scp: ['a', 2] } as JWTPayload, 'scp')).toEqual(['a']);
    expect(scopesFrom({ scope: 7 } as JWTPayload, 'scope')).toEqual([]);
  });
});
