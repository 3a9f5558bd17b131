import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const ISS = 'https://gatehouse.test';
let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      { match: { path: '/public/**' }, upstream: up.url, auth: 'public' },
      { match: { path: '/api/**' }, upstream: up.url, stripPrefix: '/api' },
    ],
  });
});
afterAll(async () => {
  await g.stop();
  await up.close();
});

describe('smoke', () => {
  it('forwards a public request', async () => {
    const res = await fetch(`${g.url}/public/x?y=1`);
    expect(res.status).toBe(200);
    expect(up.seen.at(-1)?.url).toBe('/public/x?y=1');
  });
  it('forwards an authenticated request with identity headers', async () => {
    const token = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const res = await fetch(`${g.url}/api/orders`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const seen = up.seen.at(-1)!;
    expect(seen.url).toBe('/orders');
    expect(seen.headers['x-user-id']).toBe('alice');
    expect(seen.headers['x-user-roles']).toBe('user');
  });
});
