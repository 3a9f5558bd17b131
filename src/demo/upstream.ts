import { createServer, type Server } from 'node:http';

/**
 * A tiny echo service for trying Gatehouse: it answers every request with what
 * it received, so you can see the identity headers Gatehouse adds and the
 * spoofed ones it removes.
 */
export function startEchoUpstream(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ upstream: `${host}:${port}`, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') || undefined }, null, 2);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
