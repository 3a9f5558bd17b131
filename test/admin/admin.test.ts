import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/observe/log.js';
import { configFrom, LogCapture, startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { DownStore } from '../helpers/down-store.js';
import { expectError } from '../helpers/expect.js';
import { send, type NodeReply as Reply } from '../helpers/http.js';

const ISS = 'https://gatehouse.test';

let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

function config(upstream: string): Record<string, unknown> {
  return {
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      { name: 'public', match: { path: '/public/**' }, upstream, auth: 'public' },
      { name: 'api', match: { path: '/api/**' }, upstream },
    ],
  };
}

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  g = await startGateway(config(up.url));
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

const api = (token: string) => send(g.url, '/api/orders', { headers: { authorization: `Bearer ${token}` } });
const revoke = (body: string, contentType = 'application/json') =>
  send(g.adminUrl, '/admin/revoke', { method: 'POST', headers: { 'content-type': contentType }, body });
const now = () => Math.floor(Date.now() / 1000);

/** 401 invalid_token whose description says the token was revoked; the upstream not called. */
async function expectRevoked(token: string): Promise<void> {
  const before = up.seen.length;
  const r = await api(token);
  const body = expectError(r, 401, 'invalid_token');
  expect(body.error_description).toMatch(/revoked/);
  expect(r.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  expect(up.seen.length).toBe(before);
}

describe('health and readiness', () => {
  it('GET /healthz -> 200', async () => {
    const r = await send(g.adminUrl, '/healthz');
    expect(r.status).toBe(200);
  });

  it('GET /readyz -> 200 with JSON when keys and the store are usable', async () => {
    const r = await send(g.adminUrl, '/readyz');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ready' });
  });

  it('GET /readyz -> 503 with the reason when the revocation store is down', async () => {
    const store = new DownStore();
    const raw = { ...config(up.url), server: { listen: '127.0.0.1:0' }, admin: { listen: '127.0.0.1:0' } };
    const gw = await Gateway.start({ config: configFrom(raw), store, logger: createLogger('info', new LogCapture()) });
    try {
      const adminUrl = `http://127.0.0.1:${gw.adminAddress()!.port}`;
      const r = await send(adminUrl, '/readyz');
      expect(r.status).toBe(503);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      expect(r.body).toContain('connection refused (test double)');
      expect((await send(adminUrl, '/healthz')).status).toBe(200);
      // a failed revocation write is 503, never a silent 204
      const w = await send(adminUrl, '/admin/revoke', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sub":"alice"}' });
      expectError(w, 503, 'temporarily_unavailable');
    } finally {
      await gw.stop();
    }
  });
});

describe('metrics', () => {
  it('GET /metrics is Prometheus text with requests, auth decisions, upstream latency and token cache', async () => {
    const token = await signToken(key, { roles: ['user'] }, { iss: ISS });
    expect((await api(token)).status).toBe(200);
    expect((await api(token)).status).toBe(200); // second time from the verify cache
    expect((await send(g.url, '/api/orders')).status).toBe(401);
    expect((await send(g.url, '/public/x')).status).toBe(200);
    expect((await send(g.url, '/nowhere')).status).toBe(404);
    const r = await send(g.adminUrl, '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = r.body;
    expect(text).toMatch(/^# TYPE gatehouse_requests_total counter$/m);
    expect(text).toMatch(/^gatehouse_requests_total\{route="api",status="200"\} [2-9]\d*$/m);
    expect(text).toMatch(/^gatehouse_requests_total\{route="api",status="401"\} \d+$/m);
    expect(text).toMatch(/^gatehouse_requests_total\{route="public",status="200"\} \d+$/m);
    expect(text).toMatch(/^gatehouse_requests_total\{route="[^"]+",status="404"\} \d+$/m);
    expect(text).toMatch(/^# TYPE gatehouse_auth_decisions_total counter$/m);
    expect(text).toMatch(/^gatehouse_auth_decisions_total\{outcome="authenticated",reason="ok"\} \d+$/m);
    expect(text).toMatch(/^gatehouse_auth_decisions_total\{outcome="denied",reason="no_token"\} \d+$/m);
    expect(text).toMatch(/^# TYPE gatehouse_upstream_duration_seconds histogram$/m);
    expect(text).toMatch(/^gatehouse_upstream_duration_seconds_bucket\{le="\+Inf",route="api"\} \d+$/m);
    expect(text).toMatch(/^gatehouse_upstream_duration_seconds_count\{route="api"\} \d+$/m);
    expect(text).toMatch(/^gatehouse_token_cache_total\{result="hit"\} [1-9]\d*$/m);
    expect(text).toMatch(/^gatehouse_token_cache_total\{result="miss"\} [1-9]\d*$/m);
    expect(text).toMatch(/^# TYPE gatehouse_store_errors_total counter$/m);
  });

  it('counters are exact across scrapes: each request counted once, never again at the next scrape', async () => {
    const value = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const scrape = async () => (await send(g.adminUrl, '/metrics')).body;
    const reqs = 'gatehouse_requests_total{route="public",status="200"}';
    const ok = 'gatehouse_auth_decisions_total{outcome="public",reason="ok"}';
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await send(g.url, '/public/count')).status).toBe(200);
    const middle = await scrape();
    expect(value(middle, reqs) - value(before, reqs)).toBe(3);
    // a scrape with nothing new in between changes nothing
    expect(value(await scrape(), reqs)).toBe(value(middle, reqs));
    for (let i = 0; i < 2; i++) expect((await send(g.url, '/public/count')).status).toBe(200);
    const after = await scrape();
    expect(value(after, reqs) - value(before, reqs)).toBe(5);
    expect(value(after, ok) - value(before, ok)).toBe(5);
  });
});

describe('POST /admin/revoke', () => {
  it('{jti, exp} -> 204, and the next request with that token (even a cached one) is 401 revoked', async () => {
    const token = await signToken(key, { roles: ['user'] }, { iss: ISS, jti: 'jti-to-revoke' });
    expect((await api(token)).status).toBe(200);
    const r = await revoke(JSON.stringify({ jti: 'jti-to-revoke', exp: now() + 600 }));
    expect(r.status).toBe(204);
    expect(r.body).toBe('');
    await expectRevoked(token);
  });

  it('{sub} -> 204: every token of that subject issued until now is revoked, a later one is not', async () => {
    const t1 = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'bob', iat: now() - 60 });
    const t2 = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'bob', iat: now() - 1 });
    const other = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'carol', iat: now() - 60 });
    expect((await api(t1)).status).toBe(200);
    const r = await revoke(JSON.stringify({ sub: 'bob' }));
    expect(r.status).toBe(204);
    await expectRevoked(t1);
    await expectRevoked(t2);
    expect((await api(other)).status).toBe(200);
    // issued after the cut-off (iat in the future within clock tolerance): a fresh login still works
    const later = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'bob', iat: now() + 2 });
    expect((await api(later)).status).toBe(200);
  });

  it('{token} -> 204 and that token is revoked', async () => {
    const token = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'dave' });
    const sibling = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'dave' });
    expect((await api(token)).status).toBe(200);
    const r = await revoke(JSON.stringify({ token }));
    expect(r.status).toBe(204);
    await expectRevoked(token);
    // only that token: another token of the same subject keeps working
    expect((await api(sibling)).status).toBe(200);
  });

  it('{sid} -> 204: every token of that login session is revoked, other sessions of the subject keep working', async () => {
    const sid = crypto.randomUUID();
    const a = await signToken(key, { roles: ['user'], sid }, { iss: ISS, sub: 'gina' });
    const b = await signToken(key, { roles: ['user'], sid }, { iss: ISS, sub: 'gina' });
    const other = await signToken(key, { roles: ['user'], sid: crypto.randomUUID() }, { iss: ISS, sub: 'gina' });
    expect((await api(a)).status).toBe(200);
    const r = await revoke(JSON.stringify({ sid }));
    expect(r.status).toBe(204);
    await expectRevoked(a);
    await expectRevoked(b);
    expect((await api(other)).status).toBe(200);
  });

  it("a token this gateway would not accept cannot be used to revoke someone else's jti", async () => {
    const victim = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'erin', jti: 'victim-jti' });
    const attacker = await makeKey('ES256', key.kid); // same kid, different key
    const forged = await signToken(attacker, { roles: ['user'] }, { iss: ISS, sub: 'erin', jti: 'victim-jti' });
    const r = await revoke(JSON.stringify({ token: forged }));
    expectError(r, 400, 'invalid_request');
    expect((await api(victim)).status).toBe(200);
  });

  describe('bad bodies -> 4xx JSON and nothing revoked', () => {
    let victim: string;
    let victimJti: string;
    beforeAll(async () => {
      victimJti = `bad-body-${crypto.randomUUID()}`;
      victim = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'frank', jti: victimJti, iat: now() - 10 });
    });

    // status 0: any of 400 invalid_request / 415 unsupported_media_type (SPEC §6 leaves the choice open)
    const cases: Array<[string, () => Promise<Reply>, number, string]> = [
      ['not JSON', () => revoke('jti=whatever'), 400, 'invalid_request'],
      ['truncated JSON', () => revoke(`{"jti": "${victimJti}", "exp": `), 400, 'invalid_request'],
      ['a JSON array', () => revoke(JSON.stringify([{ jti: victimJti }])), 400, 'invalid_request'],
      ['a JSON string', () => revoke(JSON.stringify(victimJti)), 400, 'invalid_request'],
      ['wrong content-type', () => revoke(JSON.stringify({ jti: victimJti, exp: now() + 600 }), 'text/plain'), 0, 'invalid_request|unsupported_media_type'],
      ['form content-type', () => revoke(`jti=${victimJti}`, 'application/x-www-form-urlencoded'), 0, 'invalid_request|unsupported_media_type'],
      ['two keys', () => revoke(JSON.stringify({ jti: victimJti, sub: 'frank' })), 400, 'invalid_request'],
      ['three keys', () => revoke(JSON.stringify({ jti: victimJti, sub: 'frank', token: victim })), 400, 'invalid_request'],
      ['an empty object', () => revoke('{}'), 400, 'invalid_request'],
      ['an empty body', () => revoke(''), 400, 'invalid_request'],
      ['jti not a string', () => revoke(JSON.stringify({ jti: 42 })), 400, 'invalid_request'],
      ['exp not a number', () => revoke(JSON.stringify({ jti: victimJti, exp: 'tomorrow' })), 400, 'invalid_request'],
      ['sub empty', () => revoke(JSON.stringify({ sub: '' })), 400, 'invalid_request'],
      ['sid not a string', () => revoke(JSON.stringify({ sid: 7 })), 400, 'invalid_request'],
      ['sid and sub', () => revoke(JSON.stringify({ sid: 'x', sub: 'frank' })), 400, 'invalid_request'],
      ['token not a token', () => revoke(JSON.stringify({ token: 'nope' })), 400, 'invalid_request'],
    ];

    it.each(cases)('%s', async (_name, call, status, code) => {
      const r = await call();
      if (status === 0) {
        expect([400, 415]).toContain(r.status);
        expectError(r, r.status, r.status === 415 ? 'unsupported_media_type' : 'invalid_request');
      } else {
        expectError(r, status, code);
      }
      expect((await api(victim)).status).toBe(200);
    });
  });

  it('GET /admin/revoke -> 405 with Allow: POST', async () => {
    const r = await send(g.adminUrl, '/admin/revoke');
    expectError(r, 405, 'method_not_allowed');
    expect(r.headers.allow).toBe('POST');
  });
});

describe('unknown admin paths', () => {
  it.each(['/nope', '/admin', '/admin/revoke/extra', '/metrics/x'])('%s -> 404 JSON', async (path) => {
    expectError(await send(g.adminUrl, path), 404, 'not_found');
  });

  it('the admin endpoints are not on the main listener', async () => {
    const r = await send(g.url, '/healthz');
    expectError(r, 404, 'not_found');
  });
});
