/**
 * Security round 2, item 2 (docs/security-catalogue.md I01-I05): claim values
 * cannot be chosen so that the backend reads someone else's identity — one
 * injective encoding for every value and list item.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { headerValues, raw, seenDuring } from '../helpers/http.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';

const ISS = 'https://gatehouse.test';
let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    identity: {
      headers: {
        'X-User-Id': 'sub',
        'X-User-Roles': 'roles',
        'X-User-Scopes': 'scope',
        'X-User-Name': 'name',
        'X-User-Tenant': 'tenant',
        'X-User-Groups': 'groups',
      },
    },
    routes: [{ name: 'api', match: { path: '/api/**' }, upstream: up.url }],
  });
});
afterAll(async () => {
  await g?.stop();
  await up?.close();
});

/** What the upstream saw for a token with these claims (sub defaults to alice). */
async function seen(claims: Record<string, unknown>, sub = 'alice'): Promise<SeenRequest> {
  const token = await signToken(key, claims, { iss: ISS, sub });
  const { result, seen: s } = await seenDuring(up, () => raw(g, '/api/x', [['Authorization', `Bearer ${token}`]]));
  expect(result.status, result.body).toBe(200);
  expect(s).toHaveLength(1);
  return s[0]!;
}
const header = async (claims: Record<string, unknown>, name: string, sub?: string) => headerValues(await seen(claims, sub), name);

describe('identity values are unforgeable through claim values', () => {
  it('I01 surrounding whitespace: " alice" and "alice " never reach the backend as "alice"', async () => {
    const plain = await header({}, 'X-User-Id', 'alice');
    expect(plain).toEqual(['alice']);
    for (const sub of [' alice', 'alice ', '\talice', 'alice\u00a0']) {
      const v = await header({}, 'X-User-Id', sub);
      expect(v, JSON.stringify(sub)).toHaveLength(1);
      expect(v[0], JSON.stringify(sub)).not.toBe('alice');
      expect(v[0]!.trim(), JSON.stringify(sub)).toBe(v[0]);
    }
  });

  it('I02 a literal "%": a backend that percent-decodes cannot read "%61lice" as "alice"', async () => {
    const v = (await header({}, 'X-User-Id', '%61lice'))[0]!;
    expect(v).toBe('%2561lice');
    expect(decodeURIComponent(v)).toBe('%61lice');
  });

  it('I03 list items carrying the separator or spaces: a role "guest,admin" or " admin" never reads as the role admin', async () => {
    const cases: Array<[string[], string]> = [
      [['guest,admin'], 'guest%2Cadmin'],
      [['guest, admin'], 'guest%2C%20admin'],
      [['guest', ' admin'], 'guest,%20admin'],
      [['admin '], 'admin%20'],
    ];
    for (const [roles, expected] of cases) {
      const v = (await header({ roles }, 'X-User-Roles'))[0]!;
      expect(v, JSON.stringify(roles)).toBe(expected);
      expect(
        v.split(',').map((x) => x.trim()),
        JSON.stringify(roles),
      ).not.toContain('admin');
    }
    // and the genuine two-role list is distinguishable from the one-role list
    expect((await header({ roles: ['guest', 'admin'] }, 'X-User-Roles'))[0]).toBe('guest,admin');
  });

  it('I04 types: the number 7 and the string "7", true and "true", an object and its JSON text are different headers', async () => {
    expect(await header({ tenant: 7 }, 'X-User-Tenant')).toEqual(['7']);
    expect(await header({ tenant: '7' }, 'X-User-Tenant')).toEqual(['%37']);
    expect(await header({ tenant: true }, 'X-User-Tenant')).toEqual(['true']);
    expect(await header({ tenant: 'true' }, 'X-User-Tenant')).toEqual(['%74rue']);
    expect(await header({ tenant: { id: 'a,b' } }, 'X-User-Tenant')).toEqual(['{"id":"a%2Cb"}']);
    expect(await header({ tenant: '{"id":"a,b"}' }, 'X-User-Tenant')).toEqual(['%7B%22id%22:%22a%2Cb%22%7D']);
  });

  it('I05 an empty list sends no header at all (not an empty one); a missing claim neither', async () => {
    const s = await seen({ roles: [], scope: '', groups: [] });
    for (const name of ['X-User-Roles', 'X-User-Scopes', 'X-User-Groups', 'X-User-Name']) expect(headerValues(s, name), name).toEqual([]);
    expect(headerValues(s, 'X-User-Id')).toEqual(['alice']);
  });
});
