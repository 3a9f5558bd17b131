import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { expectError } from '../helpers/expect.js';
import { send, sleep, waitFor } from '../helpers/http.js';

const ISS = 'https://gatehouse.test';

/** Counts the TCP connections a server accepts and how many are still open. */
interface ConnCount {
  total: number;
  open: number;
}
function countConnections(server: Server | NetServer): ConnCount {
  const c: ConnCount = { total: 0, open: 0 };
  server.on('connection', (socket: Socket) => {
    c.total++;
    c.open++;
    socket.once('close', () => c.open--);
  });
  return c;
}

/**
 * A raw TCP "upstream" for responses node:http refuses to produce. Each
 * request's path picks the bytes written back; "reset" destroys the socket.
 */
interface RawUpstream {
  url: string;
  conns: ConnCount;
  requests: string[];
  close(): Promise<void>;
}
async function startRawUpstream(reply: (path: string) => string | null): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) !== -1) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const path = head.split(' ')[1] ?? '/';
        requests.push(path);
        const bytes = reply(path);
        // null: the connection dies under the request, before any response byte (a stale keep-alive connection)
        if (bytes === null) {
          socket.destroy();
          return;
        }
        socket.write(bytes);
      }
    });
  });
  const conns = countConnections(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    conns,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let up1: TestUpstream;
let up2: TestUpstream;
let delayed: TestUpstream;
let never: TestUpstream;
let keepAlive: TestUpstream;
let raw: RawUpstream;
let neverConns: ConnCount;
let keepAliveConns: ConnCount;
let g: TestGateway;
let token: string;
const received = new Map<string, number>();
const dropped = new Set<string>();

beforeAll(async () => {
  const key = await makeKey('ES256');
  [up1, up2, delayed, never, keepAlive] = await Promise.all([startUpstream(), startUpstream(), startUpstream(), startUpstream(), startUpstream()]);
  // bytes of each request body as they arrive, before the request ends (streaming check)
  up1.server.on('request', (req: IncomingMessage) => {
    const id = req.headers['x-test-id'];
    if (typeof id === 'string') req.on('data', (c: Buffer) => received.set(id, (received.get(id) ?? 0) + c.length));
  });
  delayed.handler = (req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? '0');
    setTimeout(() => res.end('late but fine'), ms);
  };
  never.handler = () => {};
  neverConns = countConnections(never.server);
  keepAliveConns = countConnections(keepAlive.server);
  raw = await startRawUpstream((path) => {
    const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok';
    if (path === '/raw/bad-status') return 'HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok';
    if (path === '/raw/not-http') return 'hello there\r\n\r\n';
    if (path === '/raw/cl-te') return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
    if (path.startsWith('/raw/drop-once') && !dropped.has(path)) {
      dropped.add(path);
      return null;
    }
    if (path.startsWith('/raw/drop-always')) return null;
    return ok;
  });
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    server: { upstreamTimeout: '10s' },
    routes: [
      { name: 'api', match: { path: '/api/**' }, upstream: up1.url, stripPrefix: '/api' },
      { name: 'rr', match: { path: '/rr/**' }, upstream: [up1.url, up2.url], auth: 'public' },
      { name: 'echo', match: { path: '/echo/**' }, upstream: up1.url, auth: 'public' },
      { name: 'fast', match: { path: '/fast/**' }, upstream: delayed.url, auth: 'public', timeout: '300ms' },
      { name: 'patient', match: { path: '/patient/**' }, upstream: delayed.url, auth: 'public', timeout: '3s' },
      { name: 'never', match: { path: '/never/**' }, upstream: never.url, auth: 'public', timeout: '100ms' },
      { name: 'hang', match: { path: '/hang/**' }, upstream: never.url, auth: 'public', timeout: '30s' },
      { name: 'ka', match: { path: '/ka/**' }, upstream: keepAlive.url, auth: 'public' },
      { name: 'raw', match: { path: '/raw/**' }, upstream: raw.url, auth: 'public' },
    ],
  });
  token = await signToken(key, { roles: ['user'] }, { iss: ISS });
});

afterAll(async () => {
  await g?.stop();
  await Promise.all([up1, up2, delayed, never, keepAlive, raw].map((u) => u?.close()));
});

describe('paths', () => {
  it('stripPrefix removes the route prefix, keeps the query, and tells the upstream the prefix', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const r = await send(g.url, '/api/orders/7?expand=items&x=%20', { headers: auth });
    expect(r.status).toBe(200);
    const seen = up1.seen.at(-1)!;
    expect(seen.url).toBe('/orders/7?expand=items&x=%20');
    expect(seen.headers['x-forwarded-prefix']).toBe('/api');
    expect((await send(g.url, '/api', { headers: auth })).status).toBe(200);
    expect(up1.seen.at(-1)!.url).toBe('/');
    // "/apiary" is not under "/api": the route does not match at all
    expect((await send(g.url, '/apiary', { headers: auth })).status).toBe(404);
  });

  it('round robin alternates between the upstreams of a route', async () => {
    const before1 = up1.seen.length;
    const before2 = up2.seen.length;
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const a = up1.seen.length;
      const r = await send(g.url, `/rr/${i}`);
      expect(r.status).toBe(200);
      order.push(up1.seen.length > a ? 'a' : 'b');
    }
    expect(up1.seen.length - before1).toBe(3);
    expect(up2.seen.length - before2).toBe(3);
    expect(order.join('')).toMatch(/^(ab){3}$|^(ba){3}$/);
  });
});

describe('timeouts', () => {
  it('a per-route timeout overrides the global one: 504 after ~300ms', async () => {
    const r = await send(g.url, '/fast/x?delay=2000');
    expectError(r, 504, 'gateway_timeout');
    expect(r.ms).toBeGreaterThanOrEqual(280);
    expect(r.ms).toBeLessThan(900);
  });

  it('an answer inside the route timeout passes; a longer route timeout allows a slower upstream', async () => {
    const quick = await send(g.url, '/fast/x?delay=50');
    expect(quick.status).toBe(200);
    expect(quick.body).toBe('late but fine');
    const slow = await send(g.url, '/patient/x?delay=600');
    expect(slow.status).toBe(200);
    expect(slow.body).toBe('late but fine');
    expect(slow.ms).toBeGreaterThanOrEqual(590);
  });

  it('1,000 requests to an upstream that never answers leave no sockets open', async () => {
    const started = neverConns.total;
    const total = 1000;
    const concurrency = 200;
    const statuses: number[] = [];
    for (let i = 0; i < total; i += concurrency) {
      const batch = await Promise.all(Array.from({ length: concurrency }, (_, j) => send(g.url, `/never/${i + j}`)));
      statuses.push(...batch.map((r) => r.status));
    }
    expect(statuses.filter((s) => s === 504)).toHaveLength(total);
    // each timed-out request cost the upstream one connection, and every one was closed
    expect(neverConns.total - started).toBeGreaterThan(0);
    // undici re-dials once after an in-flight abort (nodejs/undici#5845); that spare socket is reused by the
    // next request or reaped by the pool's 4s keep-alive timeout, so the count settles instead of growing
    expect(neverConns.open).toBeLessThanOrEqual(concurrency + 10);
    await waitFor(() => neverConns.open <= 2, `upstream connections to settle (open: ${neverConns.open})`, 7000);
    const gatewayOpen = await new Promise<number>((resolve, reject) => g.gw.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    expect(gatewayOpen).toBeLessThanOrEqual(2);
  });
});

describe('client going away', () => {
  it('a client that disconnects aborts its upstream request', async () => {
    let upstreamSocketClosed: boolean | null = null;
    never.handler = (req) => {
      upstreamSocketClosed = false;
      req.socket.once('close', () => (upstreamSocketClosed = true));
    };
    try {
      const url = new URL(g.url);
      const req = request({ host: url.hostname, port: url.port, path: '/hang/x', agent: false });
      req.on('error', () => {});
      req.end();
      await waitFor(() => upstreamSocketClosed === false, 'the request to reach the upstream');
      req.destroy();
      await waitFor(() => upstreamSocketClosed === true, 'the upstream connection to be closed', 2000);
    } finally {
      never.handler = () => {};
    }
  });
});

describe('bodies', () => {
  it('a 2 MB response body arrives intact', async () => {
    const big = randomBytes(1536 * 1024).toString('base64');
    up1.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < big.length; i += 65536) res.write(big.slice(i, i + 65536));
      res.end();
    };
    try {
      const r = await send(g.url, '/echo/download');
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(big.length);
      expect(r.body === big).toBe(true);
    } finally {
      up1.handler = null;
    }
  });

  it('a 1 MB POST body arrives intact and is streamed, not buffered', async () => {
    const body = randomBytes(768 * 1024).toString('base64'); // 1 MiB of text
    expect(body.length).toBe(1024 * 1024);
    const half = 512 * 1024;
    const url = new URL(g.url);
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/echo/upload',
          agent: false,
          headers: { 'content-type': 'text/plain', 'content-length': body.length, 'x-test-id': 'stream-1' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half));
      // the upstream must see the first half before the client has sent the second
      waitFor(() => (received.get('stream-1') ?? 0) >= half, 'the first half to reach the upstream', 3000).then(
        () => req.end(body.slice(half)),
        (err: unknown) => {
          req.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
    expect(reply.status).toBe(200);
    const seen = up1.seen.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.body.length).toBe(body.length);
    expect(createHash('sha256').update(seen.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(seen.headers['content-length']).toBe(String(body.length));
  });

  it('a chunked request body arrives intact', async () => {
    const parts = ['first,', 'second,', 'x'.repeat(70_000), ',last'];
    const url = new URL(g.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, method: 'PUT', path: '/echo/chunked', agent: false, headers: { 'content-type': 'text/plain' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      void (async () => {
        for (const p of parts) {
          req.write(p);
          await sleep(10);
        }
        req.end();
      })();
    });
    expect(status).toBe(200);
    const seen = up1.seen.at(-1)!;
    expect(seen.method).toBe('PUT');
    expect(seen.body).toBe(parts.join(''));
    expect(seen.headers['transfer-encoding']).toBe('chunked');
  });
});

describe('responses', () => {
  it('strips hop-by-hop response headers and those the upstream names in Connection', async () => {
    up1.handler = (_req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('Connection', 'keep-alive, X-Hop');
      res.setHeader('Keep-Alive', 'timeout=77, max=9');
      res.setHeader('X-Hop', 'secret');
      res.setHeader('Proxy-Authenticate', 'Basic realm="inner"');
      res.setHeader('Trailer', 'X-Checksum');
      res.setHeader('X-End-To-End', 'kept');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.end('hello');
    };
    try {
      const r = await send(g.url, '/echo/hop');
      expect(r.status).toBe(200);
      expect(r.body).toBe('hello');
      expect(r.headers['x-end-to-end']).toBe('kept');
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(r.headers['x-hop']).toBeUndefined();
      expect(r.headers['proxy-authenticate']).toBeUndefined();
      expect(r.headers.trailer).toBeUndefined();
      expect(r.headers['keep-alive'] ?? '').not.toContain('max=9');
      expect(r.headers.connection ?? '').not.toMatch(/x-hop/i);
      expect(r.headers['x-request-id']).toMatch(/.+/);
    } finally {
      up1.handler = null;
    }
  });

  it.each([
    [404, 'text/plain', 'the upstream has no such order'],
    [500, 'text/plain', 'upstream exploded'],
    [503, 'application/json', '{"upstream":"busy"}'],
    [201, 'application/json', '{"id":7}'],
  ])('passes an upstream %i and its body through unchanged', async (status, type, text) => {
    up1.handler = (_req, res) => {
      res.writeHead(status, { 'content-type': type, 'x-from': 'upstream' });
      res.end(text);
    };
    try {
      const r = await send(g.url, '/echo/status');
      expect(r.status).toBe(status);
      expect(r.headers['content-type']).toBe(type);
      expect(r.headers['x-from']).toBe('upstream');
      expect(r.body).toBe(text);
    } finally {
      up1.handler = null;
    }
  });

  it('passes 204 and redirects through', async () => {
    up1.handler = (req, res) => {
      if (req.url === '/echo/redirect') res.writeHead(302, { location: '/elsewhere' });
      else res.writeHead(204);
      res.end();
    };
    try {
      const none = await send(g.url, '/echo/nothing');
      expect(none.status).toBe(204);
      expect(none.body).toBe('');
      const moved = await send(g.url, '/echo/redirect');
      expect(moved.status).toBe(302);
      expect(moved.headers.location).toBe('/elsewhere');
    } finally {
      up1.handler = null;
    }
  });
});

describe('upstream failures (SECURITY.md F13)', () => {
  /** GET that reports whether the response completed or the connection was cut. */
  const getCut = (path: string) =>
    new Promise<{ status: number; complete: boolean; bytes: number }>((resolve, reject) => {
      const url = new URL(g.url);
      const req = request({ host: url.hostname, port: url.port, path, agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('error', () => {});
        res.on('close', () => resolve({ status: res.statusCode ?? 0, complete: res.complete, bytes }));
      });
      req.on('error', reject);
      req.end();
    });

  it.each([
    ['with a Content-Length', { 'content-length': '100000' }],
    ['chunked', {}],
  ])('an upstream reset mid-response (%s) cuts the client connection instead of ending the body cleanly', async (_name, headers) => {
    up1.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
      res.write('x'.repeat(4096));
      setTimeout(() => res.socket?.destroy(), 30);
    };
    try {
      const r = await getCut('/echo/reset');
      expect(r.status).toBe(200);
      expect(r.bytes).toBe(4096);
      expect(r.complete).toBe(false);
    } finally {
      up1.handler = null;
    }
    // the gateway stays healthy
    expect((await send(g.url, '/echo/after-reset')).status).toBe(200);
  });

  it.each([
    ['a malformed status line', '/raw/bad-status'],
    ['something that is not HTTP', '/raw/not-http'],
    ['Content-Length and Transfer-Encoding together', '/raw/cl-te'],
  ])('an upstream sending %s -> 502, and that connection is not reused', async (_name, path) => {
    const r = await send(g.url, path);
    expectError(r, 502, 'bad_gateway');
    await waitFor(() => raw.conns.open === 0, 'the bad upstream connection to be closed', 2000);
    const totalBefore = raw.conns.total;
    expect((await send(g.url, '/raw/ok')).status).toBe(200);
    expect(raw.conns.total).toBe(totalBefore + 1);
  });
});

describe('a connection that dies before the response', () => {
  it('a bodiless GET is sent once more and succeeds (stale keep-alive race)', async () => {
    const before = raw.requests.length;
    const r = await send(g.url, '/raw/drop-once-get');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(raw.requests.slice(before)).toEqual(['/raw/drop-once-get', '/raw/drop-once-get']);
  });
  it('a GET is retried at most once: two deaths are a 502', async () => {
    const before = raw.requests.length;
    const r = await send(g.url, '/raw/drop-always-get');
    expectError(r, 502, 'bad_gateway');
    expect(raw.requests.length - before).toBe(2);
  });
  it('a POST is never resent: it may already have had an effect', async () => {
    const before = raw.requests.length;
    const r = await send(g.url, '/raw/drop-once-post', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'charge the card' });
    expectError(r, 502, 'bad_gateway');
    expect(raw.requests.length - before).toBe(1);
  });
});

describe('connections to the upstream', () => {
  it('reuses keep-alive connections: 200 requests cost the upstream a handful of connections', async () => {
    const before = keepAliveConns.total;
    for (let i = 0; i < 100; i++) expect((await send(g.url, `/ka/seq/${i}`)).status).toBe(200);
    expect(keepAliveConns.total - before).toBeLessThanOrEqual(2);
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => send(g.url, `/ka/par/${round}/${j}`)));
      for (const r of batch) expect(r.status).toBe(200);
    }
    expect(keepAlive.seen.length).toBeGreaterThanOrEqual(200);
    expect(keepAliveConns.total - before).toBeLessThanOrEqual(12);
  });
});
