/**
 * What real deployments need from trusted issuers (issue 13 item 5): roles
 * merged from several claims (Keycloak realm and client roles), route claim
 * rules that ask "does this list contain" (Auth0 permissions), and an opt-in
 * for an http:// JWKS inside a private network, warned at start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom, startGateway, type TestGateway } from '../helpers/gateway.js';
import { raw, seenDuring } from '../helpers/http.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KC = 'https://keycloak.test/realms/main';
let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  key = await makeKey('RS256', 'kc-key');
  up = await startUpstream();
  const pub = writeJwkFile(key.publicJwk);
  g = await startGateway({
    trustedIssuers: [
      {
        iss: KC,
        keys: [{ file: pub }],
        audience: 'api',
        algorithms: ['RS256'],
        rolesClaim: ['realm_access.roles', 'resource_access.orders.roles'],
        scopeClaim: ['scope', 'scp'],
      },
    ],
    identity: { headers: { 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope' } },
    routes: [
      { name: 'ops', match: { path: '/ops/**' }, upstream: up.url, auth: { roles: ['orders-admin'] } },
      { name: 'perm', match: { path: '/perm/**' }, upstream: up.url, auth: { claims: { permissions: { contains: 'read:orders' } } } },
      { name: 'scoped', match: { path: '/scoped/**' }, upstream: up.url, auth: { scopes: ['orders:read', 'orders:write'] } },
    ],
  });
});
afterAll(async () => {
  await g?.stop();
  await up?.close();
});

const token = (claims: Record<string, unknown>) => signToken(key, claims, { iss: KC, typ: 'JWT' });
async function status(path: string, claims: Record<string, unknown>): Promise<{ status: number; headers: Record<string, unknown> | undefined }> {
  const t = await token(claims);
  const { result, seen } = await seenDuring(up, () => raw(g, path, [['Authorization', `Bearer ${t}`]]));
  return { status: result.status, headers: seen[0]?.headers };
}

describe('trusted issuer options', () => {
  it('rolesClaim with several paths merges their roles (a client role grants the route)', async () => {
    const both = await status('/ops/x', { realm_access: { roles: ['user'] }, resource_access: { orders: { roles: ['orders-admin'] } } });
    expect(both.status).toBe(200);
    expect(both.headers?.['x-user-roles']).toBe('user,orders-admin');
    expect((await status('/ops/x', { realm_access: { roles: ['user'] } })).status).toBe(403);
  });

  it('scopeClaim with several paths merges a space-separated scope and an scp list', async () => {
    expect((await status('/scoped/x', { scope: 'orders:read', scp: ['orders:write'] })).status).toBe(200);
    expect((await status('/scoped/x', { scope: 'orders:read' })).status).toBe(403);
  });

  it('claims: { permissions: { contains: "read:orders" } } needs a list claim with that item, compared exactly', async () => {
    expect((await status('/perm/x', { permissions: ['write:orders', 'read:orders'] })).status).toBe(200);
    for (const permissions of [['read:orders-archive'], ['READ:ORDERS'], 'read:orders', [], undefined]) {
      expect((await status('/perm/x', permissions === undefined ? {} : { permissions })).status, JSON.stringify(permissions)).toBe(403);
    }
  });

  it('an http:// jwksUri outside loopback is refused unless the issuer opts in with allowInsecureJwks, and then warned at start', async () => {
    const base = { iss: 'https://idp.internal', audience: 'api', jwksUri: 'http://keycloak:8080/realms/main/protocol/openid-connect/certs' };
    expect(() => configFrom({ trustedIssuers: [base], routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:9' }] })).toThrow(
      /trustedIssuers\[0\]\.jwksUri: must be an https URL/,
    );
    const ok = configFrom({ trustedIssuers: [{ ...base, allowInsecureJwks: true }], routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:9' }] });
    expect(ok.trustedIssuers[0]?.allowInsecureJwks).toBe(true);
    const gw = await startGateway({
      trustedIssuers: [{ ...base, jwksUri: 'http://127.0.0.2:1/certs', allowInsecureJwks: true }],
      routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:9' }],
    });
    try {
      expect(gw.logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('JWKS over plain http'))).toBe(true);
    } finally {
      await gw.stop();
    }
  });
});
