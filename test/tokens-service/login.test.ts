/**
 * POST /auth/login and the RFC 6749 password grant (SPEC §3, SECURITY.md
 * O11-O15): credentials, input validation, no user enumeration by body,
 * headers or timing, and login throttling per username and per client IP.
 */
import { request as httpRequest } from 'node:http';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  claimsOf,
  expectApiOk,
  expectError,
  expectTokens,
  hashed,
  headerNames,
  login,
  median,
  postForm,
  postJson,
  request,
  sleep,
  startIssuer,
  withoutRequestId,
  type IssuerEnv,
  type Reply,
  type UserEntry,
} from './support.js';

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
    const r = await postForm(env.g.url, '/oauth/token', { grant_type: 'password', username: ALICE, password: ALICE_PW, client_id: 'cli', scope: 'orders:read' });
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

  it('O15: NUL and Unicode characters in passwords round-trip exactly', async () => {
    const t = await login(env.g.url, ODD, ODD_PW);
    expect(claimsOf(t.access_token).sub).toBe(ODD);
    // form-encoded too (%00, UTF-8 percent-encoding)
    expectTokens(await postForm(env.g.url, '/oauth/token', { grant_type: 'password', username: ODD, password: ODD_PW }));
    // nothing is cut at the NUL, nothing is trimmed
    for (const wrong of [' p', ODD_PW.trim(), ODD_PW.replace('\u0000', ''), ODD_PW.slice(0, -1)]) {
      expectError(await loginJson({ username: ODD, password: wrong }), 401, 'invalid_credentials');
    }
  });
});

describe('no user enumeration (O13-O14)', () => {
  it('unknown user and wrong password: identical status, body and header names', async () => {
    const pairs: Array<[Reply, Reply]> = [
      [await loginJson({ username: 'nobody@example.com', password: 'whatever' }), await loginJson({ username: ALICE, password: 'whatever' })],
      [
        await postForm(env.g.url, '/oauth/token', { grant_type: 'password', username: 'nobody@example.com', password: 'whatever' }),
        await postForm(env.g.url, '/oauth/token', { grant_type: 'password', username: ALICE, password: 'whatever' }),
      ],
    ];
    const [[unknownJson, wrongJson], [unknownForm, wrongForm]] = pairs as [[Reply, Reply], [Reply, Reply]];
    expectError(unknownJson, 401, 'invalid_credentials');
    expectError(wrongJson, 401, 'invalid_credentials');
    expectError(unknownForm, 400, 'invalid_grant');
    expectError(wrongForm, 400, 'invalid_grant');
    for (const [unknown, wrong] of pairs) {
      expect(withoutRequestId(unknown)).toBe(withoutRequestId(wrong));
      expect(headerNames(unknown)).toEqual(headerNames(wrong));
      for (const name of ['content-type', 'cache-control', 'pragma', 'www-authenticate', 'retry-after']) expect(unknown.headers.get(name)).toBe(wrong.headers.get(name));
    }
  });

  it('unknown user and wrong password take similar time (argon2 runs for both)', async () => {
    const unknown: number[] = [];
    const wrong: number[] = [];
    const attempt = async (username: string, into: number[] | null) => {
      const r = await loginJson({ username, password: 'wrong-password' });
      expectError(r, 401, 'invalid_credentials');
      into?.push(r.ms);
    };
    // warm-up (JIT, connection, libuv threads), not counted
    for (let i = 0; i < 3; i++) {
      await attempt(`warm-${i}@example.com`, null);
      await attempt(ALICE, null);
    }
    // interleaved, alternating which goes first, so load from other test files affects both series alike
    for (let i = 0; i < 12; i++) {
      const pair = [() => attempt(`ghost-${i}@example.com`, unknown), () => attempt(ALICE, wrong)];
      if (i % 2) pair.reverse();
      for (const run of pair) await run();
    }
    const [mu, mw] = [median(unknown), median(wrong)];
    expect(mu / mw, `median unknown ${mu.toFixed(1)} ms, wrong password ${mw.toFixed(1)} ms`).toBeGreaterThan(0.5);
    expect(mu / mw, `median unknown ${mu.toFixed(1)} ms, wrong password ${mw.toFixed(1)} ms`).toBeLessThan(2);
    // and both pay for a password hash: far slower than a request refused before any hashing
    const baseline: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = await loginJson({ username: `ghost-${i}@example.com` });
      expectError(r, 400, 'invalid_request');
      baseline.push(r.ms);
    }
    expect(mu, `median unknown ${mu.toFixed(1)} ms, no password ${median(baseline).toFixed(1)} ms`).toBeGreaterThan(3 * median(baseline));
  });
});

describe('bad input (O15)', () => {
  const cases: Array<[string, () => Promise<Reply>, RegExp]> = [
    ['wrong content type', () => request(env.g.url, '/auth/login', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ username: ALICE, password: ALICE_PW }) }), /application\/json/],
    ['form body on the JSON endpoint', () => postForm(env.g.url, '/auth/login', { username: ALICE, password: ALICE_PW }), /application\/json/],
    ['no content type', () => request(env.g.url, '/auth/login', { method: 'POST', body: JSON.stringify({ username: ALICE, password: ALICE_PW }) }), /application\/json/],
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

  it('a 1 MB password is rejected fast (< 200 ms), on both endpoints', async () => {
    const huge = 'p'.repeat(1024 * 1024);
    for (const [path, type, body] of [
      ['/auth/login', 'application/json', JSON.stringify({ username: ALICE, password: huge })],
      ['/oauth/token', 'application/x-www-form-urlencoded', new URLSearchParams({ grant_type: 'password', username: ALICE, password: huge }).toString()],
    ] as const) {
      const r = await rawPost(env.g.url, path, body, type);
      expectError(r, 400, 'invalid_request');
      expect(r.ms).toBeLessThan(200);
    }
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
    expect(expectError(await postForm(env.g.url, '/oauth/token', { username: ALICE, password: ALICE_PW }), 400, 'invalid_request').error_description).toMatch(/grant_type/);
    const r = await request(env.g.url, '/oauth/token', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=password' });
    expect(expectError(r, 400, 'invalid_request').error_description).toMatch(/x-www-form-urlencoded/);
    expect(expectError(await postForm(env.g.url, '/oauth/token', { grant_type: 'password', password: ALICE_PW }), 400, 'invalid_request').error_description).toMatch(/username/);
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

describe('throttling (O11, O12)', () => {
  let perUser: IssuerEnv;
  let perIp: IssuerEnv;
  let behindProxy: IssuerEnv;

  beforeAll(async () => {
    [perUser, perIp, behindProxy] = await Promise.all([
      startIssuer({ users, issuer: { throttle: { perUser: 3, perIp: 100, window: '2s' } } }),
      startIssuer({ users, issuer: { throttle: { perUser: 100, perIp: 3, window: '2s' } } }),
      startIssuer({ users, issuer: { throttle: { perUser: 100, perIp: 3, window: '2s' } }, server: { trustedProxies: ['127.0.0.1/32'] } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([perUser?.stop(), perIp?.stop(), behindProxy?.stop()]);
  });

  const expectThrottled = (r: Reply): number => {
    expectError(r, 429, 'too_many_requests');
    const retry = Number(r.headers.get('retry-after'));
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(2);
    return retry;
  };

  it('O11: the 4th attempt for a username is 429 with Retry-After, the right password too; after the window it works', async () => {
    for (let i = 0; i < 3; i++) expectError(await loginJson({ username: ALICE, password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    const wrong = await loginJson({ username: ALICE, password: 'guess-3' }, perUser);
    expectThrottled(wrong);
    const right = await loginJson({ username: ALICE, password: ALICE_PW }, perUser);
    const retry = expectThrottled(right);
    // the same generic answer whatever the password
    expect(withoutRequestId(right)).toBe(withoutRequestId(wrong));
    expect(headerNames(right)).toEqual(headerNames(wrong));
    // the OAuth endpoint shares the counter
    expectThrottled(await postForm(perUser.g.url, '/oauth/token', { grant_type: 'password', username: ALICE, password: ALICE_PW }));
    // other users are not affected
    expectTokens(await loginJson({ username: LEGACY, password: LEGACY_PW }, perUser));

    await sleep(retry * 1000 + 100);
    const t = expectTokens(await loginJson({ username: ALICE, password: ALICE_PW }, perUser));
    await expectApiOk(perUser, t.access_token);
  });

  it('O11: unknown usernames are throttled the same way (no enumeration through the limiter)', async () => {
    for (let i = 0; i < 3; i++) expectError(await loginJson({ username: 'nobody@example.com', password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    expectThrottled(await loginJson({ username: 'nobody@example.com', password: 'guess-3' }, perUser));
  });

  it('O11: parallel guesses cannot slip past the per-username limit', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => loginJson({ username: 'burst@example.com', password: `guess-${i}` }, perUser)));
    const denied = replies.filter((r) => r.status === 401);
    const throttled = replies.filter((r) => r.status === 429);
    for (const r of denied) expectError(r, 401, 'invalid_credentials');
    for (const r of throttled) expectThrottled(r);
    expect(denied.length + throttled.length).toBe(20);
    expect(denied.length, `${denied.length} passwords were checked; the limit is 3`).toBeLessThanOrEqual(3);
  });

  it('O12: parallel spraying from one address cannot slip past the per-IP limit', async () => {
    const fresh = await startIssuer({ users, issuer: { throttle: { perUser: 100, perIp: 3, window: '2s' } } });
    try {
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => loginJson({ username: `spray-${i}@example.com`, password: 'Winter2024!' }, fresh, { 'x-forwarded-for': `198.51.100.${i}` })));
      const denied = replies.filter((r) => r.status === 401);
      for (const r of denied) expectError(r, 401, 'invalid_credentials');
      for (const r of replies.filter((x) => x.status !== 401)) expectThrottled(r);
      expect(denied.length, `${denied.length} passwords were checked; the limit is 3`).toBeLessThanOrEqual(3);
    } finally {
      await fresh.stop();
    }
  });

  it('a successful login resets the username counter', async () => {
    for (let i = 0; i < 2; i++) expectError(await loginJson({ username: ODD, password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    expectTokens(await loginJson({ username: ODD, password: ODD_PW }, perUser));
    for (let i = 0; i < 2; i++) expectError(await loginJson({ username: ODD, password: `guess-${i}` }, perUser), 401, 'invalid_credentials');
    expectTokens(await loginJson({ username: ODD, password: ODD_PW }, perUser));
  });

  it('per-IP: after perIp failures from one address, every login from it is 429, spoofed X-Forwarded-For included (O12)', async () => {
    for (let i = 0; i < 3; i++) {
      expectError(await loginJson({ username: `spray-${i}@example.com`, password: 'Winter2024!' }, perIp, { 'x-forwarded-for': `203.0.113.${i + 1}` }), 401, 'invalid_credentials');
    }
    for (let i = 3; i < 6; i++) {
      expectThrottled(await loginJson({ username: `spray-${i}@example.com`, password: 'Winter2024!' }, perIp, { 'x-forwarded-for': `198.51.100.${i}`, forwarded: `for=198.51.100.${i}`, 'x-real-ip': `198.51.100.${i}` }));
    }
    expectThrottled(await loginJson({ username: ALICE, password: ALICE_PW }, perIp));
    expectThrottled(await postForm(perIp.g.url, '/oauth/token', { grant_type: 'password', username: ALICE, password: ALICE_PW }, { 'x-forwarded-for': '192.0.2.77' }));
  });

  it('behind a trusted proxy, X-Forwarded-For names the client: one client’s failures do not lock out another', async () => {
    for (let i = 0; i < 3; i++) {
      expectError(await loginJson({ username: `spray-${i}@example.com`, password: 'Winter2024!' }, behindProxy, { 'x-forwarded-for': '203.0.113.9' }), 401, 'invalid_credentials');
    }
    expectThrottled(await loginJson({ username: ALICE, password: ALICE_PW }, behindProxy, { 'x-forwarded-for': '203.0.113.9' }));
    // a different client behind the same proxy
    expectTokens(await loginJson({ username: ALICE, password: ALICE_PW }, behindProxy, { 'x-forwarded-for': '203.0.113.10' }));
    // a client cannot escape by prepending its own entries: the right-most untrusted hop counts
    expectThrottled(await loginJson({ username: ALICE, password: ALICE_PW }, behindProxy, { 'x-forwarded-for': '192.0.2.1, 203.0.113.9' }));
  });
});

/** POST over node:http on a fresh connection; tolerates the server answering early and closing while the body is still going out. */
function rawPost(base: string, path: string, body: string, type = 'application/json'): Promise<Reply> {
  const url = new URL(base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: 'POST', agent: false, headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET after the response arrived are expected; before it, they are failures
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    req.end(body);
  });
}
