import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { rawRequest } from '../helpers/raw.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectError } from '../helpers/expect.js';
import { waitFor, type NodeReply as Reply } from '../helpers/http.js';

const ISS = 'https://gatehouse.test';

let key: TestKey;
let wss: WebSocketServer;
let wsUrl: string;
let http: TestUpstream;
let g: TestGateway;
let token: string;
/** handshake headers of every connection the WebSocket upstream accepted */
const upgrades: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
const clients: WebSocket[] = [];

beforeAll(async () => {
  key = await makeKey('ES256');
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wsUrl = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    socket.send('hello from upstream');
    socket.on('message', (data: RawData, isBinary: boolean) => socket.send(isBinary ? data : `echo:${data.toString()}`, { binary: isBinary }));
  });
  http = await startUpstream();
  const dead = await deadPort();
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      { name: 'ws', match: { path: '/ws/**' }, upstream: wsUrl },
      { name: 'ws-admin', match: { path: '/ws-admin/**' }, upstream: wsUrl, auth: { roles: ['admin'] } },
      { name: 'ws-public', match: { path: '/pubws/**' }, upstream: wsUrl, auth: 'public' },
      { name: 'http-public', match: { path: '/public/**' }, upstream: http.url, auth: 'public' },
      { name: 'ws-off', match: { path: '/nows/**' }, upstream: wsUrl, auth: 'public', websocket: false },
      { name: 'ws-dead', match: { path: '/deadws/**' }, upstream: `http://127.0.0.1:${dead}`, auth: 'public' },
    ],
  });
  token = await signToken(key, { roles: ['user'] }, { iss: ISS, sub: 'alice' });
});

afterAll(async () => {
  for (const c of clients) c.terminate();
  await g?.stop();
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  await http?.close();
});

const wsBase = () => g.url.replace(/^http/, 'ws');

/** Opens a client; resolves when open (with the first message) or with the refusal response. */
function connect(path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; first: string } | { refused: Reply }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase()}${path}`, { headers });
    clients.push(ws);
    ws.once('message', (data: RawData) => resolve({ ws, first: data.toString() }));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        ws.terminate();
        resolve({ refused: { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: 0 } });
      });
    });
    ws.once('error', (err) => reject(err));
  });
}

const nextMessage = (ws: WebSocket) => new Promise<string>((resolve) => ws.once('message', (d: RawData) => resolve(d.toString())));

describe('WebSocket upgrades pass the same checks as requests', () => {
  it.each([
    ['no token', {}, 401, 'unauthorized'],
    ['a bad token', { authorization: 'Bearer not.a.jwt' }, 401, 'invalid_token'],
  ] as const)('an upgrade with %s on a protected route -> %i and the upstream never sees a connection', async (_name, headers, status, code) => {
    const before = upgrades.length;
    const beforeClients = wss.clients.size;
    const r = await connect('/ws/chat', headers);
    expect('refused' in r).toBe(true);
    if (!('refused' in r)) return;
    expectError(r.refused, status, code);
    expect(r.refused.headers['www-authenticate']).toMatch(/^Bearer realm="gatehouse"/);
    expect(upgrades.length).toBe(before);
    expect(wss.clients.size).toBe(beforeClients);
  });

  it('an upgrade with a valid token but without the role -> 403', async () => {
    const before = upgrades.length;
    const r = await connect('/ws-admin/x', { authorization: `Bearer ${token}` });
    if (!('refused' in r)) throw new Error('expected a refusal');
    expectError(r.refused, 403, 'insufficient_scope');
    expect(upgrades.length).toBe(before);
  });

  it('a valid token connects: the upstream sees Gatehouse identity headers (not spoofed ones) and messages flow both ways', async () => {
    const r = await connect('/ws/chat?room=1', {
      authorization: `Bearer ${token}`,
      'x-user-id': 'mallory',
      X_User_Roles: 'admin',
      'x-forwarded-for': '6.6.6.6',
    });
    if ('refused' in r) throw new Error(`refused: ${r.refused.status} ${r.refused.body}`);
    expect(r.first).toBe('hello from upstream');
    const seen = upgrades.at(-1)!;
    expect(seen.url).toBe('/ws/chat?room=1');
    expect(seen.headers['x-user-id']).toBe('alice');
    expect(seen.headers['x-user-roles']).toBe('user');
    expect(seen.headers['x_user_roles']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    const reply = nextMessage(r.ws);
    r.ws.send('ping');
    expect(await reply).toBe('echo:ping');
    const binary = new Promise<Buffer>((resolve) => r.ws.once('message', (d: RawData) => resolve(Buffer.from(d as Buffer))));
    r.ws.send(Buffer.from([0, 1, 2, 255]));
    expect([...(await binary)]).toEqual([0, 1, 2, 255]);
    r.ws.close();
    await waitFor(() => r.ws.readyState === WebSocket.CLOSED, 'the socket to close');
  });

  it('a public route upgrades without a token', async () => {
    const r = await connect('/pubws/feed');
    if ('refused' in r) throw new Error(`refused: ${r.refused.status} ${r.refused.body}`);
    expect(r.first).toBe('hello from upstream');
    expect(upgrades.at(-1)!.headers['x-user-id']).toBeUndefined();
    const reply = nextMessage(r.ws);
    r.ws.send('hi');
    expect(await reply).toBe('echo:hi');
    r.ws.close();
  });

  it('a route with websocket: false refuses upgrades with 400', async () => {
    const before = upgrades.length;
    const r = await connect('/nows/x');
    if (!('refused' in r)) throw new Error('expected a refusal');
    expectError(r.refused, 400, 'invalid_request');
    expect(upgrades.length).toBe(before);
  });

  it('an upgrade to an upstream that refuses connections -> 502 bad_gateway', async () => {
    const r = await connect('/deadws/x');
    if (!('refused' in r)) throw new Error('expected a refusal');
    expectError(r.refused, 502, 'bad_gateway');
  });

  it('Upgrade: h2c is refused with 400, the connection closed, and the upstream sees nothing', async () => {
    const before = http.seen.length;
    const port = Number(new URL(g.url).port);
    const r = await rawRequest(
      port,
      'GET /public/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect((JSON.parse(r.body) as { error: string }).error).toBe('invalid_request');
    expect(r.closed).toBe(true);
    expect(http.seen.length).toBe(before);
  });
});
