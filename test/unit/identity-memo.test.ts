/**
 * A verified token keeps its encoded identity headers for the plan they were
 * computed for (VerifiedToken.headerMemo, proxy/upstream-request.ts): the
 * headers must always be the current plan's and the token's own, never
 * another plan's or another token's, and the token itself stays frozen.
 * Real signed tokens through the real Verifier.
 */
import { describe, expect, it } from 'vitest';
import { trustedProxyList } from '../../src/proxy/client-address.js';
import { identityPlan, type IdentityPlan } from '../../src/proxy/identity.js';
import { upstreamHeaders, type ProxiedContext } from '../../src/proxy/upstream-request.js';
import type { RouteConfig } from '../../src/config/schema.js';
import { staticKeySource } from '../../src/tokens/jwks.js';
import { Verifier, type VerifiedToken } from '../../src/tokens/verifier.js';
import { makeKey, signToken } from '../helpers/keys.js';
import type { IncomingMessage } from 'node:http';

const ISS = 'https://idp-memo.test';

async function setup() {
  const key = await makeKey('ES256', 'memo-1');
  const verifier = new Verifier({
    issuers: [
      {
        iss: ISS,
        audience: ['api'],
        algorithms: ['ES256'],
        rolesClaim: ['roles'],
        scopeClaim: ['scope'],
        getKey: staticKeySource([key.publicJwk]).getKey,
        selfIssued: false,
      },
    ],
    clockToleranceMs: 0,
    maxTokenAgeMs: null,
    maxTokenBytes: 8192,
    cacheMaxEntries: 100,
  });
  const sign = (sub: string, roles: string[]) => signToken(key, { roles }, { iss: ISS, sub, typ: null });
  const verified = async (sub: string, roles: string[]) => verifier.verify(await sign(sub, roles));
  return { verifier, sign, verified };
}

const req = {
  rawHeaders: ['Host', 'gw.test', 'Accept', '*/*'],
  headers: { host: 'gw.test' },
  socket: { remoteAddress: '127.0.0.1' },
} as unknown as IncomingMessage;
const route = { preserveHost: false, stripPrefix: null } as unknown as RouteConfig;
const context = { req, requestId: 'r-1', path: '/api/x', query: '', clientIp: '127.0.0.1', host: 'gw.test', credential: 'bearer' as const, token: 't' };
const ctx = (identity: VerifiedToken): ProxiedContext => ({ ...context, identity });

/** The identity headers sent upstream: every header but the client's Accept and Gatehouse's fixed ones, by name. */
function identityHeaders(token: VerifiedToken, plan: IdentityPlan): Record<string, string> {
  const list = upstreamHeaders(ctx(token), route, { sessionCookie: null, identity: plan, trusted: trustedProxyList([]), anyTrusted: false });
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) out[(list[i] as string).toLowerCase()] = list[i + 1] as string;
  for (const fixed of ['accept', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'x-request-id']) delete out[fixed];
  return out;
}

describe('identity header memo', () => {
  it("follows the plan: a token forwarded under another plan gets that plan's headers, and its own again after", async () => {
    const { verified } = await setup();
    const t = await verified('alice', ['admin']);
    const a = identityPlan({ 'X-User-Id': 'sub' }, true);
    const b = identityPlan({ 'X-Subject': 'sub', 'X-Roles': 'roles' }, true);
    expect(identityHeaders(t, a)).toEqual({ 'x-user-id': 'alice' });
    expect(identityHeaders(t, a)).toEqual({ 'x-user-id': 'alice' });
    expect(identityHeaders(t, b)).toEqual({ 'x-subject': 'alice', 'x-roles': 'admin' });
    expect(identityHeaders(t, a)).toEqual({ 'x-user-id': 'alice' });
  });

  it("is the token's own: two tokens under one plan never get each other's headers", async () => {
    const { verified } = await setup();
    const plan = identityPlan({ 'X-User-Id': 'sub', 'X-Roles': 'roles' }, true);
    const alice = await verified('alice', ['admin']);
    const bob = await verified('bob', ['reader']);
    for (let i = 0; i < 3; i++) {
      expect(identityHeaders(alice, plan)).toEqual({ 'x-user-id': 'alice', 'x-roles': 'admin' });
      expect(identityHeaders(bob, plan)).toEqual({ 'x-user-id': 'bob', 'x-roles': 'reader' });
    }
  });

  it('leaves the verified token frozen; a cache hit gives the same token, its memo filled for the plan', async () => {
    const { verifier, sign } = await setup();
    const token = await sign('carol', []);
    const t = await verifier.verify(token);
    expect(Object.isFrozen(t)).toBe(true);
    const plan = identityPlan({ 'X-User-Id': 'sub', 'X-User-Roles': 'roles' }, true);
    // no roles: no X-User-Roles header at all
    expect(identityHeaders(t, plan)).toEqual({ 'x-user-id': 'carol' });
    const again = verifier.verify(token);
    expect(again).toBe(t);
    expect(t.headerMemo?.plan).toBe(plan);
    expect(() => {
      (t as { sub: string | undefined }).sub = 'mallory';
    }).toThrow(TypeError);
    expect(identityHeaders(again as VerifiedToken, plan)).toEqual({ 'x-user-id': 'carol' });
  });

  it('works for a token made without a memo (computed every time)', () => {
    const t = Object.freeze({
      claims: { sub: 'dave' },
      iss: ISS,
      sub: 'dave',
      jti: undefined,
      iat: undefined,
      exp: 0,
      sid: undefined,
      roles: [],
      scopes: [],
      selfIssued: false,
    }) as VerifiedToken;
    const plan = identityPlan({ 'X-User-Id': 'sub' }, true);
    expect(identityHeaders(t, plan)).toEqual({ 'x-user-id': 'dave' });
    expect(identityHeaders(t, plan)).toEqual({ 'x-user-id': 'dave' });
  });
});
