// One soak server per child process, so the fault script can SIGKILL it and
// start it again on the same port (a real crash, not a close()).
//
//   node soak/servers.mjs upstream <port> <name>
//   node soak/servers.mjs jwks <port> <jwks-json-file>
//
// Listens on 127.0.0.1:<port>, sends { ready: true } over IPC, and exits when
// the parent goes away (IPC disconnect) or on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [kind, portText, arg] = process.argv.slice(2);
const port = Number(portText);

let handler;
if (kind === 'upstream') {
  handler = (req, res) => {
    req.resume();
    const body = JSON.stringify({ ok: true, upstream: arg, path: req.url, user: req.headers['x-user-id'] ?? null });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
} else if (kind === 'jwks') {
  const body = readFileSync(arg);
  handler = (req, res) => {
    req.resume();
    if (req.url !== '/jwks.json') {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  };
} else {
  console.error(`soak/servers.mjs: unknown kind ${kind}`);
  process.exit(2);
}

const server = createServer(handler);
server.keepAliveTimeout = 30_000;
server.on('error', (err) => {
  process.send?.({ ready: false, error: err.message });
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.send?.({ ready: true, port }));
const bye = () => process.exit(0);
process.on('disconnect', bye);
process.on('SIGTERM', bye);
process.on('SIGINT', bye);
