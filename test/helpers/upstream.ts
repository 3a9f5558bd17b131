import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface TestUpstream {
  url: string;
  port: number;
  server: Server;
  /** every request that reached this upstream */
  seen: SeenRequest[];
  /** replace the default echo behaviour */
  handler: ((req: IncomingMessage, res: ServerResponse, body: string) => void) | null;
  close(): Promise<void>;
}

/** A real HTTP server on a free loopback port that records what it receives and echoes it as JSON. */
export async function startUpstream(host = '127.0.0.1'): Promise<TestUpstream> {
  const up: TestUpstream = {
    url: '',
    port: 0,
    server: createServer(),
    seen: [],
    handler: null,
    close: () =>
      new Promise((resolve) => {
        up.server.closeAllConnections();
        up.server.close(() => resolve());
      }),
  };
  up.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      up.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (up.handler) return up.handler(req, res, body);
      const json = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(json);
    });
  });
  await new Promise<void>((resolve) => up.server.listen(0, host, () => resolve()));
  up.port = (up.server.address() as AddressInfo).port;
  up.url = `http://${host}:${up.port}`;
  return up;
}

/** A loopback port with nothing listening (for "upstream refused"). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
