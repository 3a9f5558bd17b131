/**
 * Route rules (SPEC §2 `auth: {roles, scopes, claims}`) and SECURITY.md J24:
 * only exact, case-sensitive element matches grant access; a missing grant is
 * 403 insufficient_scope with the RFC 6750 challenge, the upstream untouched.
 * Identity headers carry the roles/scopes as resolved by rolesClaim/scopeClaim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JWTPayload } from 'jose';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectAccepted, expectInsufficientScope } from '../helpers/expect.js';
import { probe, type Answer } from '../helpers/http.js';

const ISS = 'https://idp.test';
const ISS_KC = 'https://keycloak.test/realms/main';
const ISS_AZ = 'https://login.azure.test/tenant/v2.0';

let key: TestKey;
let kcKey: TestKey;
let azKey: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  [key, kcKey, azKey] = await Promise.all([makeKey('ES256', 'plain-1'), makeKey('ES256', 'kc-1'), makeKey('ES256', 'az-1')]);
  up = await startUpstream();
  g = await startGateway({
    trustedIssuers: [
      { iss: ISS, keys: [{ file: writeJwkFile(key.publicJwk) }], audience: 'api', algorithms: ['ES256'] },
      { iss: ISS_KC, keys: [{ file: writeJwkFile(kcKey.publicJwk) }], audience: 'api', algorithms: ['ES256'], rolesClaim: 'realm_access.roles' },
      { iss: ISS_AZ, keys: [{ file: writeJwkFile(azKey.publicJwk) }], audience: 'api', algorithms: ['ES256'], scopeClaim: 'scp' },
    ],
    identity: { headers: { 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope', 'X-Tenant': 'tenant' } },
    routes: [
      { match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } },
      { match: { path: '/ops/**' }, upstream: up.url, auth: { roles: ['admin', 'ops'] } },
      { match: { path: '/multi/**' }, upstream: up.url, auth: { scopes: ['a', 'b'] } },
      { match: { path: '/read/**' }, upstream: up.url, auth: { scopes: ['read'] } },
      { match: { path: '/tenant/**' }, upstream: up.url, auth: { claims: { tenant: 'acme' } } },
      { match: { path: '/level/**' }, upstream: up.url, auth: { claims: { level: 3 } } },
      { match: { path: '/org/**' }, upstream: up.url, auth: { claims: { 'org.tier': 'gold' } } },
      { match: { path: '/combo/**' }, upstream: up.url, auth: { roles: ['admin'], scopes: ['read'], claims: { tenant: 'acme' } } },
      { match: { path: '/api/**' }, upstream: up.url },
    ],
  });
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

const call = async (prefix: string, claims: JWTPayload, k: TestKey = key, iss = ISS): Promise<Answer> =>
  probe(g.url, up, await signToken(k, claims, { iss }), { prefix });
const lastSeen = () => up.seen.at(-1)!;

describe('roles: any of, exact, case-sensitive array elements', () => {
  it.each([
    ['["admin"]', ['admin']],
    ['["user", "admin"]', ['user', 'admin']],
  ])('roles %s -> 200 on /admin', async (_what, roles) => {
    expectAccepted(await call('/admin', { roles }));
  });
  it.each([
    ['the string "admin"', 'admin'],
    ['the string "user,admin"', 'user,admin'],
    ['the string "user admin"', 'user admin'],
    ['["Admin"]', ['Admin']],
    ['["ADMIN"]', ['ADMIN']],
    ['[" admin"]', [' admin']],
    ['["admin "]', ['admin ']],
    ['["user,admin"]', ['user,admin']],
    ['["administrator"]', ['administrator']],
    ['[["admin"]]', [['admin']]],
    ['{"admin": true}', { admin: true }],
    ['{"0": "admin"}', { 0: 'admin' }],
    ['[]', []],
    ['null', null],
    ['missing', undefined],
  ])('roles %s -> 403 insufficient_scope', async (_what, roles) => {
    const a = await call('/admin', roles === undefined ? {} : { roles });
    expectInsufficientScope(a);
  });
  it('any listed role is enough (/ops takes admin or ops)', async () => {
    expectAccepted(await call('/ops', { roles: ['ops'] }));
    expectAccepted(await call('/ops', { roles: ['admin'] }));
    expectInsufficientScope(await call('/ops', { roles: ['op'] }));
  });
  it('a role string never reaches the upstream as a role', async () => {
    expectAccepted(await call('/api', { roles: 'admin' }));
    expect(lastSeen().headers['x-user-roles'] ?? '').toBe('');
    expectAccepted(await call('/api', { roles: 'user,admin' }));
    expect(lastSeen().headers['x-user-roles'] ?? '').toBe('');
  });
});

describe('scopes: all of, space-separated tokens (RFC 6749 §3.3)', () => {
  it.each([
    ['"a b"', 'a b'],
    ['"b a"', 'b a'],
    ['"a b c"', 'a b c'],
  ])('scope %s -> 200 on /multi', async (_what, scope) => {
    expectAccepted(await call('/multi', { scope }));
  });
  it.each([
    ['"a"', 'a'],
    ['"ab"', 'ab'],
    ['"a,b"', 'a,b'],
    ['"a\\tb"', 'a\tb'],
    ['"A B"', 'A B'],
    ['missing', undefined],
  ])('scope %s -> 403 on /multi', async (_what, scope) => {
    expectInsufficientScope(await call('/multi', scope === undefined ? {} : { scope }));
  });
  it('"readadmin" does not grant "read", nor do "read:all", "READ", "reads"', async () => {
    for (const scope of ['readadmin', 'read:all', 'READ', 'reads', 'xread', 'read,admin']) expectInsufficientScope(await call('/read', { scope }));
    expectAccepted(await call('/read', { scope: 'admin read' }));
  });
  it('forwards the resolved scopes joined with ","', async () => {
    expectAccepted(await call('/multi', { scope: 'a b' }));
    expect(lastSeen().headers['x-user-scopes']).toBe('a,b');
  });
});

describe('claims: equal, type-strict', () => {
  it('tenant "acme" -> 200; "ACME", ["acme"], "acme ", missing -> 403', async () => {
    expectAccepted(await call('/tenant', { tenant: 'acme' }));
    expect(lastSeen().headers['x-tenant']).toBe('acme');
    for (const tenant of ['ACME', ['acme'], 'acme ', null, undefined]) expectInsufficientScope(await call('/tenant', tenant === undefined ? {} : { tenant }));
  });
  it('a number rule is not met by the same digits as a string', async () => {
    expectAccepted(await call('/level', { level: 3 }));
    for (const level of ['3', [3], 3.5, true]) expectInsufficientScope(await call('/level', { level }));
  });
  it('a dotted rule reads the nested claim, never a flat member named with a dot', async () => {
    expectAccepted(await call('/org', { org: { tier: 'gold' } }));
    expectInsufficientScope(await call('/org', { 'org.tier': 'gold' }));
    expectInsufficientScope(await call('/org', { org: { tier: 'silver' } }));
  });
  it('roles, scopes and claims together: every part must hold', async () => {
    expectAccepted(await call('/combo', { roles: ['admin'], scope: 'read', tenant: 'acme' }));
    expectInsufficientScope(await call('/combo', { roles: ['admin'], scope: 'read', tenant: 'other' }));
    expectInsufficientScope(await call('/combo', { roles: ['admin'], scope: 'write', tenant: 'acme' }));
    expectInsufficientScope(await call('/combo', { roles: ['user'], scope: 'read', tenant: 'acme' }));
  });
});

describe('IdP shapes', () => {
  it('Keycloak: rolesClaim realm_access.roles grants and is forwarded as the resolved roles', async () => {
    expectAccepted(await call('/admin', { realm_access: { roles: ['user', 'admin'] } }, kcKey, ISS_KC));
    expect(lastSeen().headers['x-user-roles']).toBe('user,admin');
  });
  it('Keycloak: a top-level roles claim is not what that issuer grants with', async () => {
    expectInsufficientScope(await call('/admin', { roles: ['admin'] }, kcKey, ISS_KC));
    expectInsufficientScope(await call('/admin', { realm_access: { roles: 'admin' } }, kcKey, ISS_KC));
    expectInsufficientScope(await call('/admin', { realm_access: ['admin'] }, kcKey, ISS_KC));
    expectInsufficientScope(await call('/admin', { 'realm_access.roles': ['admin'] }, kcKey, ISS_KC));
    expectAccepted(await call('/api', { roles: ['admin'] }, kcKey, ISS_KC));
    expect(lastSeen().headers['x-user-roles'] ?? '').toBe('');
  });
  it('Okta/Azure: scopeClaim scp as an array of scopes', async () => {
    expectAccepted(await call('/multi', { scp: ['a', 'b'] }, azKey, ISS_AZ));
    expect(lastSeen().headers['x-user-scopes']).toBe('a,b');
    expectInsufficientScope(await call('/multi', { scp: ['a'] }, azKey, ISS_AZ));
    expectInsufficientScope(await call('/multi', { scp: ['a b'] }, azKey, ISS_AZ));
  });
  it('Azure: scopeClaim scp as a space-separated string', async () => {
    expectAccepted(await call('/multi', { scp: 'a b' }, azKey, ISS_AZ));
    expect(lastSeen().headers['x-user-scopes']).toBe('a,b');
  });
  it('with scopeClaim scp, a "scope" claim grants nothing', async () => {
    expectInsufficientScope(await call('/multi', { scope: 'a b' }, azKey, ISS_AZ));
  });
  it('roles from one issuer configuration are not read with another issuer configuration', async () => {
    // same claims, plain issuer: realm_access.roles means nothing there
    expectInsufficientScope(await call('/admin', { realm_access: { roles: ['admin'] } }));
  });
});
