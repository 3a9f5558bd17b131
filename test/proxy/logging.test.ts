import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, parts, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { send, waitFor, type HeaderMap, type NodeReply as Reply } from '../helpers/http.js';

const ISS = 'https://gatehouse.test';

let key: TestKey;
let up: TestUpstream;
let g: TestGateway;
/** requests sent to the main listener by this file: each must produce exactly one "request" log line */
let sent = 0;

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  const dead = await deadPort();
  up.handler = (req, res) => {
    const delay = req.url?.startsWith('/public/slow') ? 150 : 0;
    setTimeout(() => res.end('ok'), delay);
  };
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      { name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' },
      { name: 'api', match: { path: '/api/**' }, upstream: up.url },
      { name: 'admin', match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } },
      { name: 'dead', match: { path: '/dead/**' }, upstream: `http://127.0.0.1:${dead}`, auth: 'public' },
    ],
  });
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

type Line = Record<string, unknown>;

async function call(path: string, headers: HeaderMap = {}): Promise<{ reply: Reply; id: string }> {
  const id = `log-${crypto.randomUUID()}`;
  sent++;
  const reply = await send(g.url, path, { headers: { 'x-request-id': id, ...headers } });
  expect(reply.headers['x-request-id']).toBe(id);
  return { reply, id };
}

/** The one "request" line for a request id (the line is written when the response is done, so wait for it). */
async function requestLine(id: string): Promise<Line> {
  const lines = () => g.logs.lines.filter((l) => l.msg === 'request' && l.reqId === id);
  await waitFor(() => lines().length > 0, `the log line of ${id}`, 2000);
  expect(lines()).toHaveLength(1);
  return lines()[0] as Line;
}

describe('one JSON line per request', () => {
  it.each([
    { name: 'public 200', path: '/public/x', token: false, status: 200, route: 'public', auth: 'public', reason: 'ok' },
    { name: 'authenticated 200', path: '/api/x', token: true, status: 200, route: 'api', auth: 'authenticated', reason: 'ok' },
    { name: 'no token 401', path: '/api/x', token: false, status: 401, route: 'api', auth: 'denied', reason: 'no_token' },
    { name: 'missing role 403', path: '/admin/x', token: true, status: 403, route: 'admin', auth: 'denied', reason: 'missing_role' },
    { name: 'no route 404', path: '/nowhere', token: false, status: 404, route: '(none)', auth: 'error', reason: 'no_route' },
    { name: 'upstream refused 502', path: '/dead/x', token: false, status: 502, route: 'dead', auth: 'public', reason: 'upstream_refused' },
  ])('$name: route, status, latency, auth outcome and reason', async (row) => {
    const headers: HeaderMap = row.token ? { authorization: `Bearer ${await signToken(key, { roles: ['user'] }, { iss: ISS })}` } : {};
    const { reply, id } = await call(row.path, headers);
    expect(reply.status).toBe(row.status);
    const line = await requestLine(id);
    expect(line).toMatchObject({ route: row.route, status: row.status, auth: row.auth, reason: row.reason, method: 'GET' });
    expect(typeof line.ms).toBe('number');
    expect(line.ms as number).toBeGreaterThanOrEqual(0);
    expect(line.ms as number).toBeLessThan(reply.ms + 50);
    if (row.auth === 'authenticated') expect(line.sub).toBe('alice');
    expect(typeof line.time).toBe('string');
  });

  it('an expired token is logged with its reason', async () => {
    const expired = await signToken(key, {}, { iss: ISS, iat: Math.floor(Date.now() / 1000) - 600, ttl: -300 });
    const { reply, id } = await call('/api/x', { authorization: `Bearer ${expired}` });
    expect(reply.status).toBe(401);
    expect(await requestLine(id)).toMatchObject({ status: 401, auth: 'denied', reason: 'expired' });
  });

  it('latency is in milliseconds', async () => {
    const { reply, id } = await call('/public/slow');
    expect(reply.status).toBe(200);
    const line = await requestLine(id);
    expect(line.ms as number).toBeGreaterThanOrEqual(140);
    expect(line.ms as number).toBeLessThan(2000);
  });
});

describe('secrets never reach the logs (SPEC §5, SECURITY.md P28, O08)', () => {
  it('tokens, Authorization headers and token query strings appear nowhere in the captured logs', async () => {
    const valid = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const expired = await signToken(key, {}, { iss: ISS, iat: Math.floor(Date.now() / 1000) - 600, ttl: -300 });
    const inQuery = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const inPublicQuery = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const overWs = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const revoked = await signToken(key, { roles: ['user'] }, { iss: ISS });
    const basic = Buffer.from('alice:hunter2-secret').toString('base64');
    const secrets = [valid, expired, inQuery, inPublicQuery, overWs, revoked, basic, 'hunter2-secret'];

    const statuses = [
      (await call('/api/orders', { authorization: `Bearer ${valid}` })).reply.status,
      (await call('/admin/x', { authorization: `Bearer ${valid}` })).reply.status,
      (await call('/api/orders', { authorization: `Bearer ${expired}` })).reply.status,
      (await call('/api/orders', { authorization: `bearer ${valid} trailing` })).reply.status,
      (await call('/api/orders', { authorization: [`Bearer ${valid}`, `Bearer ${expired}`] })).reply.status,
      (await call('/api/orders', { authorization: `Basic ${basic}` })).reply.status,
      (await call(`/api/orders?access_token=${inQuery}`)).reply.status,
      (await call(`/api/orders?x=1&token=${inQuery}`, { authorization: `Bearer ${valid}` })).reply.status,
      (await call(`/public/x?token=${inPublicQuery}&access_token=${inPublicQuery}`)).reply.status,
      (await call(`/dead/x?token=${inPublicQuery}`)).reply.status,
    ];
    expect(statuses).toEqual([200, 403, 401, 400, 400, 401, 400, 200, 200, 502]);

    // WebSocket upgrades, accepted (to a route whose upstream is not a WebSocket server) and refused:
    // each is a request of the main listener too, with its own "request" line
    for (const path of ['/api/ws', '/admin/ws']) {
      sent++;
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(`${g.url.replace(/^http/, 'ws')}${path}?token=${overWs}`, { headers: { authorization: `Bearer ${overWs}` } });
        ws.once('unexpected-response', () => {
          ws.terminate();
          resolve();
        });
        ws.once('error', () => resolve());
        ws.once('open', () => {
          ws.terminate();
          resolve();
        });
      });
    }

    // the admin revocation endpoint logs what it revoked, never the token it was given
    const r = await send(g.adminUrl, '/admin/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: revoked }),
    });
    expect(r.status).toBe(204);
    expect((await call('/api/orders', { authorization: `Bearer ${revoked}` })).reply.status).toBe(401);

    await waitFor(() => g.logs.lines.filter((l) => l.msg === 'request').length >= sent, 'every request to be logged', 2000);
    const text = g.logs.text();
    expect(text.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(text).not.toContain(secret);
    // no fragment of a token either: its payload or signature segment alone identifies it
    for (const t of [valid, expired, inQuery, inPublicQuery, overWs, revoked]) {
      const [, payload, signature] = parts(t);
      expect(text).not.toContain(payload);
      expect(text).not.toContain(signature);
    }
    expect(text).not.toMatch(/bearer /i);
    expect(text).not.toMatch(/access_token=|[?&]token=/);
  });

  it('every request produced exactly one "request" line', async () => {
    await waitFor(() => g.logs.lines.filter((l) => l.msg === 'request').length >= sent, 'every request to be logged', 2000);
    const lines = g.logs.lines.filter((l) => l.msg === 'request');
    expect(lines).toHaveLength(sent);
    expect(new Set(lines.map((l) => l.reqId)).size).toBe(sent);
    expect(g.logs.raw.every((l) => l.startsWith('{'))).toBe(true);
  });
});
