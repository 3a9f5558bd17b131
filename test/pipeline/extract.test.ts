import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { headerValues, raw, seenDuring } from '../helpers/http.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Credential extraction through a running gateway, on an optional route (the
 * required route is SECURITY.md P26-P28 in test/security/proxy.test.ts; the
 * extractBearer table is test/unit/extract.test.ts).
 */

describe('credential extraction through a running gateway', () => {
  const ISS = 'https://gatehouse.test';
  let key: TestKey;
  let token: string;
  let up: TestUpstream;
  let g: TestGateway;

  beforeAll(async () => {
    key = await makeKey('ES256');
    token = await signToken(key, { roles: ['user'] }, { iss: ISS });
    up = await startUpstream();
    g = await startGateway({
      issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
      routes: [{ match: { path: '/maybe/**' }, upstream: up.url, auth: 'optional' }],
    });
  });
  afterAll(async () => {
    await g.stop();
    await up.close();
  });

  it.each(['Bearer', 'bearer', 'BEARER'])('%s <token> is accepted on an optional route and forwarded with the identity', async (scheme) => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/maybe/x', [['Authorization', `${scheme} ${token}`]]));
    expect(result.status).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/maybe/x']);
    expect(headerValues(seen[0]!, 'x-user-id')).toEqual(['alice']);
  });

  const malformed = (tok: () => string): Array<[string, () => string]> => [
    ['Bearer\\tT', () => `Bearer\t${tok()}`],
    ['BearerT', () => `Bearer${tok()}`],
    ['Bearer T x', () => `Bearer ${tok()} x`],
    ['Bearer  T', () => `Bearer  ${tok()}`],
    ['Bearer A, Bearer B', () => `Bearer ${tok()}, Bearer ${tok()}`],
  ];

  // the required route is the catalogue's (test/security/proxy.test.ts P26-P28); an optional route must refuse the same way
  {
    const path = '/maybe/x';
    it.each(malformed(() => token))(`${path}: %s -> 400 invalid_request, upstream not called (P26)`, async (_label, value) => {
      const { result, seen } = await seenDuring(up, () => raw(g, path, [['Authorization', value()]]));
      expectError(result, 400, 'invalid_request');
      expect(seen).toEqual([]);
    });

    it(`${path}: two Authorization headers -> 400 invalid_request, upstream not called (P27)`, async () => {
      for (const second of [`Bearer ${token}`, 'Basic dXNlcjpwYXNz', `bearer ${token}`]) {
        const { result, seen } = await seenDuring(up, () =>
          raw(g, path, [
            ['Authorization', `Bearer ${token}`],
            ['authorization', second],
          ]),
        );
        expectError(result, 400, 'invalid_request');
        expect(seen).toEqual([]);
      }
    });

    it(`${path}: access_token in the query -> 400 invalid_request, upstream not called, never logged (P28)`, async () => {
      for (const headers of [[], [['Authorization', `Bearer ${token}`]]] as Array<Array<[string, string]>>) {
        const { result, seen } = await seenDuring(up, () => raw(g, `${path}?access_token=${token}`, headers));
        expectError(result, 400, 'invalid_request');
        expect(seen).toEqual([]);
      }
      expect(g.logs.text()).not.toContain(token);
    });
  }

  it('another scheme on an optional route is anonymous: forwarded without identity headers', async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/maybe/x', [['Authorization', 'Basic dXNlcjpwYXNz']]));
    expect(result.status).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/maybe/x']);
    expect(headerValues(seen[0]!, 'x-user-id')).toEqual([]);
  });

  it('the token never appears in the logs', () => {
    expect(g.logs.text()).not.toContain(token);
  });
});
