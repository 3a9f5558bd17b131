import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError, MISSING_TOKEN_DESCRIPTION } from '../../src/errors.js';
import { extractBearer, type Extracted } from '../../src/pipeline/extract.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectRawError, headerValues, raw, seenDuring } from './support.js';

/** SPEC §5.3, RFC 6750 §2.1 (one space, scheme case-insensitive), §2 (one method only), SECURITY.md P26-P28, J34. */

const T = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';

function extract(values: string[], query = ''): Extracted {
  return extractBearer(values.flatMap((v) => ['Authorization', v]), query);
}

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error('expected a 400 invalid_request');
}

describe('extractBearer', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('scheme %s is accepted', (scheme) => {
    expect(extract([`${scheme} ${T}`])).toEqual({ kind: 'bearer', token: T });
  });

  it('accepts every b64token character, with trailing "=" padding', () => {
    const token = 'AZaz09-._~+/abc==';
    expect(extract([`Bearer ${token}`])).toEqual({ kind: 'bearer', token });
  });

  it('no Authorization header is no token', () => {
    expect(extractBearer(['Host', 'x', 'Cookie', 'access_token=abc'], '')).toEqual({ kind: 'none' });
  });

  it.each([
    ['Basic dXNlcjpwYXNz', 'Basic'],
    ['Token abc', 'Token'],
    ['Digest username="a", realm="b"', 'Digest'],
    ['DPoP abc', 'DPoP'],
    ['Negotiate', 'scheme alone'],
  ])('%s is another scheme, not a bearer token (%s)', (value) => {
    expect(extract([value])).toEqual({ kind: 'other-scheme' });
  });

  it.each([
    [`Bearer\t${T}`, 'TAB instead of a space'],
    [`Bearer${T}`, 'no space: "BearerT"'],
    ['BearerToken', 'no space, short'],
    [`Bearer ${T} x`, 'trailing word'],
    [`Bearer  ${T}`, 'two spaces'],
    [`Bearer ${T} `, 'trailing space'],
    [` Bearer ${T}`, 'leading space'],
    ['Bearer', 'scheme without token'],
    ['Bearer ', 'scheme and a space'],
    ['', 'empty value'],
    [`Bearer ${T}, Bearer ${T}`, 'J34 a list of two bearer credentials in one header'],
    [`Bearer ${T},Bearer ${T}`, 'J34 a list without a space'],
    [`Bearer "${T}"`, 'quoted token'],
    [`Bearer ${T}=x`, '"=" only as trailing padding'],
    ['Bearer a:b', 'character outside b64token'],
    ['Bearer tok\u00e9n', 'non-ASCII'],
  ])('%j -> 400 invalid_request (%s)', (value) => {
    const e = refusal(() => extract([value]));
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_request');
    expect(e.reason).toBe('malformed_authorization');
  });

  it.each([
    [[`Bearer ${T}`, `Bearer ${T}`], 'the same token twice'],
    [[`Bearer ${T}`, 'Basic dXNlcjpwYXNz'], 'bearer then basic'],
    [['Basic dXNlcjpwYXNz', `Bearer ${T}`], 'basic then bearer'],
    [[`Bearer ${T}`, ''], 'a second, empty header'],
  ])('two Authorization headers -> 400 (%s)', (values) => {
    const e = refusal(() => extract(values));
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_request');
    expect(e.reason).toBe('duplicate_authorization');
  });

  it('header names are matched case-insensitively when counting', () => {
    const e = refusal(() => extractBearer(['authorization', `Bearer ${T}`, 'AUTHORIZATION', `Bearer ${T}`], ''));
    expect(e.reason).toBe('duplicate_authorization');
    expect(extractBearer(['X-Authorization', `Bearer ${T}`, 'Authorization2', 'x'], '')).toEqual({ kind: 'none' });
  });

  it.each(['?access_token=abc', '?a=1&access_token=abc', '?access_token=', '?x=1&access_token=abc&y=2'])('access_token in the query %s -> 400, with or without a header (P28)', (query) => {
    for (const values of [[], [`Bearer ${T}`]]) {
      const e = refusal(() => extract(values, query));
      expect(e.status).toBe(400);
      expect(e.code).toBe('invalid_request');
      expect(e.reason).toBe('token_in_query');
    }
  });

  it.each(['?my_access_token=abc', '?access_tokens=abc', '?q=access_token', '?a=access_token=x'])('%s is not a token parameter', (query) => {
    expect(extract([`Bearer ${T}`], query)).toEqual({ kind: 'bearer', token: T });
  });
});

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
      routes: [
        { match: { path: '/api/**' }, upstream: up.url, auth: 'required' },
        { match: { path: '/maybe/**' }, upstream: up.url, auth: 'optional' },
      ],
    });
  });
  afterAll(async () => {
    await g.stop();
    await up.close();
  });

  it.each(['Bearer', 'bearer', 'BEARER'])('%s <token> is accepted and forwarded', async (scheme) => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/api/x', [['Authorization', `${scheme} ${token}`]]));
    expect(result.status).toBe(200);
    expect(seen.map((s) => s.url)).toEqual(['/api/x']);
    expect(headerValues(seen[0]!, 'x-user-id')).toEqual(['alice']);
  });

  const malformed = (tok: () => string): Array<[string, () => string]> => [
    ['Bearer\\tT', () => `Bearer\t${tok()}`],
    ['BearerT', () => `Bearer${tok()}`],
    ['Bearer T x', () => `Bearer ${tok()} x`],
    ['Bearer  T', () => `Bearer  ${tok()}`],
    ['Bearer A, Bearer B', () => `Bearer ${tok()}, Bearer ${tok()}`],
  ];

  for (const path of ['/api/x', '/maybe/x']) {
    it.each(malformed(() => token))(`${path}: %s -> 400 invalid_request, upstream not called (P26)`, async (_label, value) => {
      const { result, seen } = await seenDuring(up, () => raw(g, path, [['Authorization', value()]]));
      expectRawError(result, 400, 'invalid_request');
      expect(seen).toEqual([]);
    });

    it(`${path}: two Authorization headers -> 400 invalid_request, upstream not called (P27)`, async () => {
      for (const second of [`Bearer ${token}`, 'Basic dXNlcjpwYXNz', `bearer ${token}`]) {
        const { result, seen } = await seenDuring(up, () => raw(g, path, [['Authorization', `Bearer ${token}`], ['authorization', second]]));
        expectRawError(result, 400, 'invalid_request');
        expect(seen).toEqual([]);
      }
    });

    it(`${path}: access_token in the query -> 400 invalid_request, upstream not called, never logged (P28)`, async () => {
      for (const headers of [[], [['Authorization', `Bearer ${token}`]]] as Array<Array<[string, string]>>) {
        const { result, seen } = await seenDuring(up, () => raw(g, `${path}?access_token=${token}`, headers));
        expectRawError(result, 400, 'invalid_request');
        expect(seen).toEqual([]);
      }
      expect(g.logs.text()).not.toContain(token);
    });
  }

  it.each([
    ['Basic dXNlcjpwYXNz'],
    ['Token abc'],
  ])('%s on a required route -> 401 unauthorized (no bearer token), upstream not called', async (value) => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/api/x', [['Authorization', value]]));
    const body = expectRawError(result, 401, 'unauthorized');
    expect(body.error_description).toBe(MISSING_TOKEN_DESCRIPTION);
    expect(result.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
    expect(seen).toEqual([]);
  });

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
