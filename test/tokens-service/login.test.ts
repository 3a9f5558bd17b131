/**
 * POST /auth/login and the RFC 6749 password grant (SPEC §3): credentials,
 * input validation and login throttling, beyond what SECURITY.md O11-O15
 * check (test/security/session.test.ts).
 */
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect.js';
import { postForm, postJson, rawPost, request, type Reply } from '../helpers/http.js';
import { claimsOf, expectApiOk, expectTokens, hashed, login, startIssuer, type IssuerEnv, type UserEntry } from '../helpers/issuer.js';

const ALICE = 'alice@example.com';
const ALICE_PW = 'alice-password';
const LEGACY = 'legacy@example.com';
const LEGACY_PW = 'bcrypt-era password';
const ODD = 'odd@example.com';
/** NUL, combining and astral characters, leading/trailing spaces: all part of the password */
const ODD_PW = ' p\u0000ss wörd é́ パスワード 🔑\t ';

let users: UserEntry[];
let env: IssuerEnv;

beforeAll(async () => {
  const [alice, odd] = await Promise.all([hashed(ALICE_PW), hashed(ODD_PW)]);
  const legacy = await bcrypt.hash(LEGACY_PW, 4);
  expect(legacy.startsWith('$2b$')).toBe(true);
  users = [
    { username: ALICE, password: alice, roles: ['admin'], scope: 'orders:read orders:write', email: ALICE, name: 'Alice' },
    { username: LEGACY, password: legacy, roles: [], scope: 'orders:read', email: LEGACY },
    { username: ODD, password: odd, roles: [], email: ODD },
  ];
  // generous limits: these tests fail many logins on purpose
  env = await startIssuer({ users, issuer: { throttle: { perUser: 1000, perIp: 1000, window: '15m' } } });
});

afterAll(async () => {
  await env?.stop();
});

const loginJson = (body: unknown, e: IssuerEnv = env, headers: Record<string, string> = {}) => postJson(e.g.url, '/auth/login', body, headers);

describe('successful logins', () => {
  it('POST /auth/login with username', async () => {
    const r = await loginJson({ username: ALICE, password: ALICE_PW });
    const t = expectTokens(r);
    expect(t.expires_in).toBe(900);
    expect(t.refresh_expires_in).toBe(14 * 24 * 3600);
    expect(t.scope).toBe('orders:read orders:write');
    const c = claimsOf(t.access_token);
    expect(c.sub).toBe(ALICE);
    expect(c.roles).toEqual(['admin']);
    expect(c.email).toBe(ALICE);
    const headers = await expectApiOk(env, t.access_token);
    expect(headers['x-user-id']).toBe(ALICE);
    expect(headers['x-user-roles']).toBe('admin');
    expect(headers['x-user-email']).toBe(ALICE);
  });

  it('POST /auth/login with `email` in place of `username`', async () => {
    const t = expectTokens(await loginJson({ email: ALICE, password: ALICE_PW }));
    expect(claimsOf(t.access_token).sub).toBe(ALICE);
    await expectApiOk(env, t.access_token);
  });

  it('POST /oauth/token grant_type=password, form-encoded, with a public client_id', async () => {
    const r = await postForm(env.g.url, '/oauth/token', {
      grant_type: 'password',
      username: ALICE,
      password: ALICE_PW,
      client_id: 'cli',
      scope: 'orders:read',
    });
    const t = expectTokens(r);
    expect(t.scope).toBe('orders:read');
    expect(claimsOf(t.access_token).scope).toBe('orders:read');
    await expectApiOk(env, t.access_token);
  });

  it('a bcrypt $2b$ hash from the users file logs in (and the weak hash is reported in the log)', async () => {
    const t = await login(env.g.url, LEGACY, LEGACY_PW);
    expect(claimsOf(t.access_token).sub).toBe(LEGACY);
    await expectApiOk(env, t.access_token);
    expectError(await loginJson({ username: LEGACY, password: `${LEGACY_PW}!` }), 401, 'invalid_credentials');
    const warning = env.g.logs.lines.find((l) => typeof l.msg === 'string' && /weaker than argon2id/.test(l.msg));
    expect(warning?.user).toBe(LEGACY);
    expect(env.g.logs.text()).not.toContain(LEGACY_PW);
  });
});

describe('bad input', () => {
  const cases: Array<[string, () => Promise<Reply>, RegExp]> = [
    [
      'wrong content type',
      () =>
        request(env.g.url, '/auth/login', {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: JSON.stringify({ username: ALICE, password: ALICE_PW }),
        }),
      /application\/json/,
    ],
    ['form body on the JSON endpoint', () => postForm(env.g.url, '/auth/login', { username: ALICE, password: ALICE_PW }), /application\/json/],
    [
      'no content type',
      () => request(env.g.url, '/auth/login', { method: 'POST', body: JSON.stringify({ username: ALICE, password: ALICE_PW }) }),
      /application\/json/,
    ],
    ['malformed JSON', () => loginJson('{"username": "alice@example.com", "password": '), /JSON/],
    ['a JSON array', () => loginJson([ALICE, ALICE_PW]), /JSON object/],
    ['JSON null', () => loginJson('null'), /JSON object/],
    ['empty body', () => loginJson(''), /JSON/],
    ['missing username', () => loginJson({ password: ALICE_PW }), /username/],
    ['missing password', () => loginJson({ username: ALICE }), /password/],
    ['empty password', () => loginJson({ username: ALICE, password: '' }), /password/],
    ['numeric username', () => loginJson({ username: 42, password: ALICE_PW }), /username/],
    ['array username', () => loginJson({ username: [ALICE], password: ALICE_PW }), /username/],
    ['boolean password', () => loginJson({ username: ALICE, password: true }), /password/],
    ['object password', () => loginJson({ username: ALICE, password: { $ne: '' } }), /password/],
    ['null password', () => loginJson({ username: ALICE, password: null }), /password/],
    ['a 2 KB password', () => loginJson({ username: ALICE, password: 'x'.repeat(2048) }), /password.*longer|longer/],
    ['a username of 10 000 characters', () => loginJson({ username: 'u'.repeat(10_000), password: ALICE_PW }), /username/],
  ];
  for (const [name, send, description] of cases) {
    it(`${name} -> 400 invalid_request`, async () => {
      const r = await send();
      const body = expectError(r, 400, 'invalid_request');
      expect(body.error_description).toMatch(description);
    });
  }

  it('a body over 16 KiB -> 400 invalid_request, answered without reading it all', async () => {
    const r = await rawPost(env.g.url, '/auth/login', JSON.stringify({ username: ALICE, password: ALICE_PW, pad: 'x'.repeat(17 * 1024) }));
    const body = expectError(r, 400, 'invalid_request');
    expect(body.error_description).toMatch(/larger than 16384 bytes/);
  });

  it('repeated parameters on /oauth/token -> 400 invalid_request (RFC 6749 §3.1)', async () => {
    for (const form of [
      `grant_type=password&username=${encodeURIComponent(ALICE)}&username=mallory&password=${ALICE_PW}`,
      `grant_type=password&grant_type=refresh_token&username=${encodeURIComponent(ALICE)}&password=${ALICE_PW}`,
      `grant_type=password&username=${encodeURIComponent(ALICE)}&password=${ALICE_PW}&password=${ALICE_PW}`,
    ]) {
      const body = expectError(await postForm(env.g.url, '/oauth/token', form), 400, 'invalid_request');
      expect(body.error_description).toMatch(/repeated/);
    }
  });

  it('/oauth/token without grant_type or with a wrong content type -> 400 invalid_request', async () => {
    expect(expectError(await postForm(env.g.url, '/oauth/token', { username: ALICE, password: ALICE_PW }), 400, 'invalid_request').error_description).toMatch(
      /grant_type/,
    );
    const r = await request(env.g.url, '/oauth/token', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=password' });
    expect(expectError(r, 400, 'invalid_request').error_description).toMatch(/x-www-form-urlencoded/);
    expect(
      expectError(await postForm(env.g.url, '/oauth/token', { grant_type: 'password', password: ALICE_PW }), 400, 'invalid_request').error_description,
    ).toMatch(/username/);
  });

  it('unsupported grant types -> 400 unsupported_grant_type', async () => {
    for (const grant of ['client_credentials', 'authorization_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'PASSWORD']) {
      expectError(await postForm(env.g.url, '/oauth/token', { grant_type: grant, username: ALICE, password: ALICE_PW }), 400, 'unsupported_grant_type');
    }
  });

  it('GET /auth/login -> 405 with Allow: POST', async () => {
    for (const path of ['/auth/login', '/auth/refresh', '/auth/logout', '/oauth/token', '/oauth/revoke']) {
      const r = await request(env.g.url, path);
      expectError(r, 405, 'method_not_allowed');
      expect(r.headers.get('allow')).toBe('POST');
    }
    const put = await request(env.g.url, '/auth/login', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
    expectError(put, 405, 'method_not_allowed');
  });
});

describe('throttling per username (beyond SECURITY.md O11, O12)', () => {
  let perUser: IssuerEnv;

  beforeAll(async () => {
    perUser = await startIssuer({ users, issuer: { throttle: { perUser: 3, perIp: 100, window: '2s' } } });
  });
  afterAll(async () => {
    await perUser?.stop();
  });

  const expectThrottled = (r: Reply): number => {
    expectError(r, 429, 'too_many_requests');
    const retry = Number(r.headers.get('retry-after'));
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(2);
    return retry;
  };

  it('unknown usernames are throttled the same way (no enumeration through the limiter, O11)', async () => {
    for (let i = 0; i < 3; i++) expectError(await loginJson({ username: 'nobody@example.com', password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    expectThrottled(await loginJson({ username: 'nobody@example.com', password: 'guess-3' }, perUser));
  });

  it('parallel guesses cannot slip past the per-username limit (O11)', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => loginJson({ username: 'burst@example.com', password: `guess-${i}` }, perUser)));
    const denied = replies.filter((r) => r.status === 401);
    const throttled = replies.filter((r) => r.status === 429);
    for (const r of denied) expectError(r, 401, 'invalid_credentials');
    for (const r of throttled) expectThrottled(r);
    expect(denied.length + throttled.length).toBe(20);
    expect(denied.length, `${denied.length} passwords were checked; the limit is 3`).toBeLessThanOrEqual(3);
  });

  it('a successful login resets the username counter', async () => {
    for (let i = 0; i < 2; i++) expectError(await loginJson({ username: ODD, password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    expectTokens(await loginJson({ username: ODD, password: ODD_PW }, perUser));
    for (let i = 0; i < 2; i++) expectError(await loginJson({ username: ODD, password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    expectTokens(await loginJson({ username: ODD, password: ODD_PW }, perUser));
  });
});
