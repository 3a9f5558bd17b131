/**
 * Issue "Security round 2", item 6: a WebSocket tunnel lives no longer than
 * the token that opened it. W01-W06 (README: Security model > WebSocket
 * lifetime): closed with 1008 when the token expires and within 1 s of a
 * revocation that covers it (jti, subject, login session), on every instance
 * of a fleet sharing Redis; the Close frame is put between two upstream
 * frames, never inside one.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const ISS = 'https://gatehouse.test';

let key: TestKey;
let wss: WebSocketServer;
let wsUrl: string;
/** upstream side of every tunnel, by the path the client asked for */
const upstreamSockets = new Map<string, WebSocket>();
const clients: WebSocket[] = [];
const gateways: TestGateway[] = [];
let redis: TestRedis | null = null;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    verify: { clockTolerance: 0 },
    routes: [{ name: 'ws', match: { path: '/ws/**' }, upstream: wsUrl }],
    ...extra,
  };
}

beforeAll(async () => {
  key = await makeKey('ES256');
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wsUrl = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    upstreamSockets.set(req.url ?? '', socket);
    socket.send('hello');
    socket.on('message', (data: RawData) => {
      const text = data.toString();
      // "flood": a stream of large messages, so a close is likely to land inside a frame
      if (text === 'flood') {
        const big = Buffer.alloc(256 * 1024, 120);
        // At most 16 frames (4 MiB) per turn: readyState only changes when the socket's 'close' event runs, so once
        // the gateway has destroyed the connection an unbounded loop here would never see it and never yield.
        const pump = () => {
          for (let i = 0; i < 16 && socket.readyState === WebSocket.OPEN && socket.bufferedAmount < 4 * 1024 * 1024; i++) socket.send(big);
          if (socket.readyState === WebSocket.OPEN) setTimeout(pump, 5);
        };
        pump();
      } else socket.send(`echo:${text}`);
    });
  });
});

afterAll(async () => {
  for (const c of clients) c.terminate();
  await Promise.all(gateways.map((g) => g.stop()));
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  await redis?.stop();
});

async function gateway(extra: Record<string, unknown> = {}): Promise<TestGateway> {
  const g = await startGateway(config(extra));
  gateways.push(g);
  return g;
}

interface Open {
  ws: WebSocket;
  path: string;
  closed: Promise<{ code: number; reason: string; at: number }>;
  errors: Error[];
}

/** Opens a tunnel through `g` and waits for the upstream's first message. */
async function open(g: TestGateway, token: string): Promise<Open> {
  const path = `/ws/${crypto.randomUUID()}`;
  const ws = new WebSocket(`${g.url.replace(/^http/, 'ws')}${path}`, { headers: { authorization: `Bearer ${token}` } });
  clients.push(ws);
  const errors: Error[] = [];
  ws.on('error', (e) => errors.push(e));
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('unexpected-response', (_req, res: IncomingMessage) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return { ws, path, closed, errors };
}

const echo = (ws: WebSocket, text: string) =>
  new Promise<string>((resolve) => {
    const on = (d: RawData) => {
      if (d.toString().startsWith('echo:')) {
        ws.off('message', on);
        resolve(d.toString());
      }
    };
    ws.on('message', on);
    ws.send(text);
  });

const revoke = async (g: TestGateway, body: Record<string, unknown>) => {
  const r = await fetch(`${g.adminUrl}/admin/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status).toBe(204);
  return Date.now();
};

/** the upstream side of the tunnel was closed too */
const upstreamClosed = async (path: string) => {
  const up = upstreamSockets.get(path)!;
  if (up.readyState !== WebSocket.CLOSED) await new Promise<void>((resolve) => up.once('close', () => resolve()));
  expect(up.readyState).toBe(WebSocket.CLOSED);
};

describe('WebSocket tunnels live no longer than their token', () => {
  it('W01 the token expires: the tunnel relays until then, then the client gets Close 1008 "token expired" and the upstream connection ends', async () => {
    const g = await gateway();
    const token = await signToken(key, {}, { iss: ISS, sub: 'alice', ttl: 2 });
    const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
    const t = await open(g, token);
    expect(await echo(t.ws, 'still valid')).toBe('echo:still valid');
    const closed = await t.closed;
    expect(closed).toMatchObject({ code: 1008, reason: 'token expired' });
    // not before exp (tolerance 0), and promptly after it
    expect(closed.at).toBeGreaterThanOrEqual(exp * 1000);
    expect(closed.at - exp * 1000).toBeLessThan(1000);
    expect(t.errors).toEqual([]);
    await upstreamClosed(t.path);
    const line = g.logs.lines.find((l) => l.msg === 'websocket closed');
    expect(line).toMatchObject({ reason: 'token expired', sub: 'alice', code: 1008 });
    expect(await (await fetch(`${g.adminUrl}/metrics`)).text()).toMatch(/^gatehouse_websocket_closed_total\{reason="token expired"\} 1$/m);
  });

  it('W02 revoking its jti closes the tunnel within 1 s ("token revoked"); other tunnels stay open', async () => {
    const g = await gateway();
    const jti = crypto.randomUUID();
    const victim = await open(g, await signToken(key, {}, { iss: ISS, sub: 'alice', jti }));
    const bystander = await open(g, await signToken(key, {}, { iss: ISS, sub: 'alice' }));
    const since = await revoke(g, { jti, exp: Math.floor(Date.now() / 1000) + 600 });
    const closed = await victim.closed;
    expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect(closed.at - since).toBeLessThan(1000);
    await upstreamClosed(victim.path);
    expect(await echo(bystander.ws, 'unaffected')).toBe('echo:unaffected');
  });

  it('W03 revoking the subject ("log out everywhere") closes every tunnel of that subject within 1 s, and only those', async () => {
    const g = await gateway();
    const a1 = await open(g, await signToken(key, {}, { iss: ISS, sub: 'carol' }));
    const a2 = await open(g, await signToken(key, {}, { iss: ISS, sub: 'carol' }));
    const other = await open(g, await signToken(key, {}, { iss: ISS, sub: 'dave' }));
    const since = await revoke(g, { sub: 'carol' });
    for (const t of [a1, a2]) {
      const closed = await t.closed;
      expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
      expect(closed.at - since).toBeLessThan(1000);
    }
    expect(await echo(other.ws, 'dave stays')).toBe('echo:dave stays');
  });

  it('W04 ending the login session (another access token of the same session logs out) closes the tunnel within 1 s', async () => {
    const g = await gateway();
    const sid = crypto.randomUUID();
    const inSession = await open(g, await signToken(key, { sid }, { iss: ISS, sub: 'erin' }));
    const otherSession = await open(g, await signToken(key, { sid: crypto.randomUUID() }, { iss: ISS, sub: 'erin' }));
    const logoutToken = await signToken(key, { sid }, { iss: ISS, sub: 'erin' });
    const r = await fetch(`${g.url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${logoutToken}` } });
    expect(r.status).toBe(204);
    const since = Date.now();
    const closed = await inSession.closed;
    expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect(closed.at - since).toBeLessThan(1000);
    expect(await echo(otherSession.ws, 'other session')).toBe('echo:other session');
  });

  it('W05 a fleet on Redis: a revocation on instance A closes a tunnel held by instance B within 1 s', async () => {
    redis = await startRedis();
    const revocation = { store: 'redis', redis: { url: redis.url, keyPrefix: `gh-ws-${process.pid}:` } };
    const [A, B] = [await gateway({ revocation }), await gateway({ revocation })];
    const jti = crypto.randomUUID();
    const onB = await open(B, await signToken(key, {}, { iss: ISS, sub: 'frank', jti }));
    const bySub = await open(B, await signToken(key, {}, { iss: ISS, sub: 'grace' }));
    const since = await revoke(A, { jti, exp: Math.floor(Date.now() / 1000) + 600 });
    const closed = await onB.closed;
    expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect(closed.at - since).toBeLessThan(1000);
    await upstreamClosed(onB.path);
    const since2 = await revoke(A, { sub: 'grace' });
    const closed2 = await bySub.closed;
    expect(closed2).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect(closed2.at - since2).toBeLessThan(1000);
  });

  it('W06 a tunnel closed while the upstream streams large messages gets whole frames, then the Close frame (no protocol error at the client)', async () => {
    const g = await gateway();
    const jti = crypto.randomUUID();
    const t = await open(g, await signToken(key, {}, { iss: ISS, sub: 'heidi', jti }));
    let received = 0;
    t.ws.on('message', (_d: RawData, isBinary: boolean) => {
      if (isBinary) received++;
    });
    t.ws.send('flood');
    while (received < 3) await new Promise((r) => setTimeout(r, 20));
    await revoke(g, { jti, exp: Math.floor(Date.now() / 1000) + 600 });
    const closed = await t.closed;
    // a Close frame injected inside a frame would make ws report an invalid frame and close with 1002/1006
    expect(closed).toMatchObject({ code: 1008, reason: 'token revoked' });
    expect(t.errors).toEqual([]);
  });
});
