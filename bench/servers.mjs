// One benchmark server per child process, so that the load generator, the
// upstream and the proxy under test never share an event loop.
//
//   node bench/servers.mjs upstream
//   node bench/servers.mjs undici <upstream-origin>
//   node bench/servers.mjs http-proxy <upstream-origin>
//   node bench/servers.mjs gatehouse            (config text in $BENCH_GATEHOUSE_CONFIG)
//
// Started by bench/run.mjs with an IPC channel: the child listens on a free
// loopback port, sends { ready: true, port, adminPort? }, and exits when the
// parent asks it to, when it receives SIGTERM/SIGINT, or when the parent goes
// away (IPC disconnect), so no server can outlive a benchmark run.
import { createServer, Agent } from 'node:http';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';

const HOST = '127.0.0.1';
const BODY = Buffer.from('{"ok":true,"service":"bench-upstream"}\n');
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

const [kind, upstream] = process.argv.slice(2);

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

/** The direct upstream: 200 with a small fixed body, keep-alive, nothing else. */
async function startUpstream() {
  const server = createServer((req, res) => {
    // Drain any body (there is none in the benchmark) so keep-alive stays healthy.
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return { port, close: () => closeServer(server) };
}

/** Raw pass-through on undici Pool.stream, shaped like src/proxy/forwarder.ts but with no auth and no header policy. */
async function startUndici(origin) {
  const pool = new Pool(origin, { connections: 256, keepAliveTimeout: 4000, pipelining: 1 });
  const server = createServer((req, res) => {
    const raw = req.rawHeaders;
    const headers = [];
    for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    pool.stream(
      { path: req.url, method: req.method, headers, body: hasBody ? req : null, opaque: res },
      ({ statusCode, headers: upHeaders, opaque }) => {
        const out = {};
        for (const name in upHeaders) if (!HOP_BY_HOP.has(name)) out[name] = upHeaders[name];
        opaque.writeHead(statusCode, out);
        return opaque;
      },
      (err) => {
        if (err && !res.headersSent) {
          res.writeHead(502, { 'content-length': 0 });
          res.end();
        } else if (err) res.destroy();
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return { port, close: async () => (await closeServer(server), await pool.close().catch(() => pool.destroy())) };
}

/** Raw pass-through on http-proxy with a keep-alive agent. */
async function startHttpProxy(origin) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 4000 });
  const proxy = httpProxy.createProxyServer({ target: origin, agent, xfwd: false });
  proxy.on('error', (_err, _req, res) => {
    if (res && 'writeHead' in res && !res.headersSent) {
      res.writeHead(502, { 'content-length': 0 });
      res.end();
    } else res?.destroy?.();
  });
  const server = createServer((req, res) => proxy.web(req, res));
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return { port, close: async () => (await closeServer(server), proxy.close(), agent.destroy()) };
}

/** Gatehouse itself, from dist/, exactly as `gatehouse start` builds it (Gateway.start), config given by the parent. */
async function startGatehouse() {
  const { Gateway } = await import('../dist/app.js');
  const { parseConfigText, deepFreeze } = await import('../dist/config/load.js');
  const { config, problems } = parseConfigText(process.env.BENCH_GATEHOUSE_CONFIG ?? '', {});
  if (!config) throw new Error(`bench config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const gw = await Gateway.start({ config: deepFreeze(config) });
  return { port: gw.address().port, adminPort: gw.adminAddress()?.port ?? null, close: () => gw.stop() };
}

function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const starters = { upstream: startUpstream, undici: () => startUndici(upstream), 'http-proxy': () => startHttpProxy(upstream), gatehouse: startGatehouse };

async function main() {
  const start = starters[kind];
  if (!start) throw new Error(`unknown server kind ${kind}`);
  const handle = await start();
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), 3000);
    force.unref();
    try {
      await handle.close();
    } finally {
      // exit explicitly: a profiled child (--cpu-prof) writes its profile on a normal exit.
      process.exit(code);
    }
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('disconnect', () => void stop(0));
  process.on('message', (msg) => {
    if (msg && msg.stop) void stop(0);
  });
  process.send?.({ ready: true, port: handle.port, adminPort: handle.adminPort ?? null });
}

main().catch((err) => {
  process.stderr.write(`bench/servers.mjs ${kind}: ${err?.stack ?? err}\n`);
  process.send?.({ ready: false, error: String(err?.message ?? err) });
  process.exit(1);
});
