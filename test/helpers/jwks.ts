/**
 * A loopback JWKS server the test controls (SPEC §2 jwksUri; SECURITY.md
 * J09, J13, J37, F07-F10): it serves `body()` at /jwks, or fails in one of
 * the ways a real IdP fails, counts what it is asked, and can be stopped and
 * started again on the same port. Any other path answers 404, except /evil,
 * the target of the redirect mode, which serves `evil()` (an attacker's keys).
 * As a canary (J09, J21), `paths` lists every request it ever received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type JwksMode = 'ok' | 'status500' | 'html' | 'emptyObject' | 'emptyKeys' | 'redirect' | 'hugeDeclared' | 'hugeChunked' | 'hang';

export interface JwksServer {
  url: string;
  port: number;
  mode: JwksMode;
  /** what GET /jwks serves in mode ok (and with status 500 in mode status500) */
  body: () => unknown;
  /** what GET /evil serves */
  evil: () => unknown;
  /** milliseconds to wait before answering /jwks */
  delayMs: number;
  /** GET /jwks requests received */
  fetches: number;
  /** every path requested, in order */
  paths: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

const TEN_MB = 10 * 1024 * 1024;

export async function startJwks(body: () => unknown, opts: { port?: number; evil?: () => unknown } = {}): Promise<JwksServer> {
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let server: Server | null = null;
  const json = (res: ServerResponse, status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof value === 'string' ? value : JSON.stringify(value));
  };
  const answer = (res: ServerResponse) => {
    switch (s.mode) {
      case 'ok':
        return json(res, 200, s.body());
      case 'status500':
        return json(res, 500, s.body());
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<html><body><h1>Service Unavailable</h1></body></html>');
      case 'emptyObject':
        return json(res, 200, '{}');
      case 'emptyKeys':
        return json(res, 200, '{"keys":[]}');
      case 'redirect':
        res.writeHead(302, { location: '/evil' });
        return res.end();
      case 'hugeDeclared':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': TEN_MB });
        return res.end(Buffer.alloc(TEN_MB, 0x20));
      case 'hugeChunked': {
        // no content-length: the cap has to hold while streaming
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        res.write('{"keys":[');
        for (let i = 0; i < 10; i++) res.write(chunk);
        return res.end(']}');
      }
      case 'hang':
        hanging.add(res);
        return;
    }
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    res.on('error', () => {});
    const path = req.url ?? '';
    s.paths.push(path);
    if (path === '/evil') return json(res, 200, s.evil());
    if (path !== '/jwks') {
      res.writeHead(404);
      return res.end();
    }
    s.fetches++;
    if (s.delayMs > 0) setTimeout(() => answer(res), s.delayMs);
    else answer(res);
  };
  const s: JwksServer = {
    url: '',
    port: opts.port ?? 0,
    mode: 'ok',
    body,
    evil: opts.evil ?? (() => ({ keys: [] })),
    delayMs: 0,
    fetches: 0,
    paths: [],
    async start() {
      const srv = createServer(handle);
      server = srv;
      srv.on('connection', (c: Socket) => {
        sockets.add(c);
        c.once('close', () => sockets.delete(c));
      });
      await new Promise<void>((resolve) => srv.listen(s.port, '127.0.0.1', () => resolve()));
      s.port = (srv.address() as AddressInfo).port;
      s.url = `http://127.0.0.1:${s.port}`;
    },
    async stop() {
      for (const r of hanging) r.destroy();
      hanging.clear();
      const srv = server;
      server = null;
      if (!srv) return;
      for (const c of sockets) c.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
  await s.start();
  return s;
}
