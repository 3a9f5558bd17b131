// One benchmark server per child process, so that the load generator, the
// upstream and the proxy under test never share an event loop.
//
//   node bench/servers.mjs upstream
//   node bench/servers.mjs undici <upstream-origin>
//   node bench/servers.mjs http-proxy <upstream-origin>
//   node bench/servers.mjs undici-jose <upstream-origin>    raw-undici + bare jose.jwtVerify per request
//   node bench/servers.mjs undici-es256 <upstream-origin>   raw-undici + a bare synchronous signature check (ES256, or RS256 for an RSA key)
//                                               (both: public JWK, iss, aud and alg (default ES256) in
//                                               $BENCH_VERIFY_KEY as JSON)
//   node bench/servers.mjs fastify-jwt <upstream-origin>    fastify + @fastify/jwt (fast-jwt, no verifier cache)
//                                               + @fastify/reply-from ($BENCH_VERIFY_KEY: { pem, iss, aud, alg })
//   node bench/servers.mjs gatehouse            (config text in $BENCH_GATEHOUSE_CONFIG)
//   node bench/servers.mjs gatehouse-cli <config-file> <listen-port>
//                                               `node dist/cli.js start -c <config-file>` as a child
//                                               (the CLI forks server.workers processes itself)
//   node bench/servers.mjs redis <data-dir>     redis-server from PATH, loopback, persistence off
//   node bench/servers.mjs native <port> <argv-json>
//                                               a program that is not Node.js (nginx, haproxy: bench/peers.mjs),
//                                               spawned as `argv` says, ready once it accepts connections on <port>
//
// Started by bench/children.mjs with an IPC channel: the child listens on a free
// loopback port, sends { ready: true, port, adminPort?, pid }, and exits when the
// parent asks it to, when it receives SIGTERM/SIGINT, or when the parent goes
// away (IPC disconnect), so no server can outlive a benchmark run. The
// `gatehouse-cli`, `redis` and `native` kinds supervise a process of their own
// (the CLI primary and its workers, redis-server, nginx or haproxy) and stop
// it, the whole tree, before they exit; the pid they report is that process's.
import { spawn } from 'node:child_process';
import { createServer, Agent } from 'node:http';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';
import { freePort } from './children.mjs';
import { untilListening } from './lines.mjs';
import { descendants } from './proc.mjs';

const HOST = '127.0.0.1';
const BODY = Buffer.from('{"ok":true,"service":"bench-upstream"}\n');
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
]);

const [kind, upstream, extra] = process.argv.slice(2);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

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

/**
 * Raw pass-through on undici Pool.stream, shaped like src/proxy/forwarder.ts but with no auth and no header policy.
 * `admit(req)`: an optional bearer check before forwarding (true, false, or a promise of either); false answers 401.
 */
async function startUndici(origin, admit = null, accounting = null) {
  const pool = new Pool(origin, { connections: 256, keepAliveTimeout: 4000, pipelining: 1 });
  const unauthorized = (res) => {
    res.writeHead(401, { 'content-length': 0 });
    res.end();
  };
  const forward = (req, res) => {
    // the accounting's end of the request, from undici's completion callback below: Gatehouse's forwarder calls
    // its finish from its own end-of-response hook, with no 'finish' listener on the response, so neither does this
    const done = accounting ? accounting(req) : null;
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
        if (done) done(err ? (res.headersSent ? res.statusCode : 502) : res.statusCode);
        if (err && !res.headersSent) {
          res.writeHead(502, { 'content-length': 0 });
          res.end();
        } else if (err) res.destroy();
      },
    );
  };
  const server = createServer(
    admit
      ? (req, res) => {
          const ok = admit(req);
          if (ok === true) forward(req, res);
          else if (ok === false) unauthorized(res);
          else ok.then((yes) => (yes ? forward(req, res) : unauthorized(res)));
        }
      : forward,
  );
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return { port, close: async () => (await closeServer(server), await pool.close().catch(() => pool.destroy())) };
}

/** The bearer token of a request, or null. */
const bearer = (req) => {
  const h = req.headers.authorization;
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : null;
};

/**
 * Floor references for the new-token scenario (no cache anywhere): the same pass-through, plus the least
 * work any verifier must do per request. `undici-jose`: jose.jwtVerify with the imported key, iss, aud and
 * alg checked, nothing else (the floor for a gateway built on jose, as Gatehouse is). `undici-es256`: only
 * node:crypto.verify on the signature, synchronous, no JOSE parsing and no claims at all: the floor for any
 * Node.js verifier. Neither is a usable verifier; they say what the machine allows.
 */
async function startUndiciJose(origin) {
  const { importJWK, jwtVerify } = await import('jose');
  const { jwk, iss, aud, alg = 'ES256' } = JSON.parse(process.env.BENCH_VERIFY_KEY ?? '{}');
  const key = await importJWK(jwk, alg);
  const opts = { issuer: iss, audience: aud, algorithms: [alg] };
  return startUndici(origin, (req) => {
    const token = bearer(req);
    return token === null
      ? false
      : jwtVerify(token, key, opts).then(
          () => true,
          () => false,
        );
  });
}

async function startUndiciEs256(origin) {
  const { createPublicKey, verify } = await import('node:crypto');
  const { jwk } = JSON.parse(process.env.BENCH_VERIFY_KEY ?? '{}');
  const key = { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' };
  return startUndici(origin, (req) => {
    const token = bearer(req);
    const dot = token === null ? -1 : token.lastIndexOf('.');
    if (dot < 0) return false;
    return verify('sha256', Buffer.from(token.slice(0, dot)), key, Buffer.from(token.slice(dot + 1), 'base64url'));
  });
}

/**
 * A peer built the way a Node.js team would build one with the fastify ecosystem (bench/peers.mjs): fastify,
 * @fastify/jwt verifying the bearer token in an onRequest hook (fast-jwt underneath, its verifier cache off, as
 * by default: every new token is a full verification; alg, iss, aud and exp checked), and @fastify/reply-from
 * (undici) forwarding to the upstream. 401 without a valid token.
 */
async function startFastifyJwt(origin) {
  const { default: Fastify } = await import('fastify');
  const { default: fastifyJwt } = await import('@fastify/jwt');
  const { default: replyFrom } = await import('@fastify/reply-from');
  const { pem, iss, aud, alg = 'RS256' } = JSON.parse(process.env.BENCH_VERIFY_KEY ?? '{}');
  const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
  // verify only: fast-jwt needs no private key for that
  await app.register(fastifyJwt, { secret: { public: pem }, verify: { algorithms: [alg], allowedIss: iss, allowedAud: aud, cache: false } });
  await app.register(replyFrom, { base: origin, undici: { connections: 256, pipelining: 1, keepAliveTimeout: 4000 } });
  app.addHook('onRequest', async (request, reply) => {
    try {
      await request.jwtVerify();
    } catch {
      return reply.code(401).send();
    }
  });
  app.all('/*', (request, reply) => reply.from(request.url));
  await app.listen({ host: HOST, port: 0 });
  return { port: app.server.address().port, close: () => app.close() };
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
  // BENCH_GATEHOUSE_DIST: another build's dist/ (peers.mjs PEERS_AB_DIST), to compare two builds in one run
  const dist = process.env.BENCH_GATEHOUSE_DIST
    ? pathToFileURL(`${resolve(process.env.BENCH_GATEHOUSE_DIST)}/`).href
    : new URL('../dist/', import.meta.url).href;
  const { Gateway } = await import(`${dist}gateway/gateway.js`);
  const { parseConfigText, deepFreeze } = await import(`${dist}config/load.js`);
  const { config, problems } = parseConfigText(process.env.BENCH_GATEHOUSE_CONFIG ?? '', {});
  if (!config) throw new Error(`bench config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const gw = await Gateway.start({ config: deepFreeze(config) });
  return { port: gw.address().port, adminPort: gw.adminAddress()?.port ?? null, close: () => gw.stop() };
}

/** Processes this wrapper spawned and supervises (the CLI primary, redis-server). */
const spawned = new Set();
/** SIGKILL to every supervised process and its descendants (workers first): the last resort when a drain did not finish or never started. */
function killSpawned() {
  for (const child of spawned) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    for (const pid of [...descendants(child.pid).reverse(), child.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** `node dist/cli.js start -c <file>`, as an operator starts it; ready once it says it listens (the primary says so once every worker is). */
async function startGatehouseCli(file, port) {
  // BENCH_CLI_EXEC_ARGV: node flags for the CLI (BENCH_PROFILE); cluster workers inherit the primary's execArgv.
  const execArgv = process.env.BENCH_CLI_EXEC_ARGV ? JSON.parse(process.env.BENCH_CLI_EXEC_ARGV) : [];
  const cli = spawn(process.execPath, [...execArgv, join(ROOT, 'dist/cli.js'), 'start', '-c', file], { cwd: ROOT, stdio: ['ignore', 'inherit', 'pipe'] });
  spawned.add(cli);
  const exited = new Promise((resolve) => cli.once('exit', (code, signal) => resolve(signal ?? code)));
  // anything else the CLI says (a worker died, ...) goes with Gatehouse's log lines on stdout, which the bench counts
  await untilListening(cli, 'gatehouse CLI', (line) => process.stdout.write(line + '\n'));
  return {
    port: Number(port),
    pid: cli.pid,
    exited,
    // SIGTERM drains (the primary forwards it to every worker); whatever is still there after 3 s is killed, workers first.
    close: async () => {
      if (cli.exitCode !== null || cli.signalCode !== null) return;
      cli.kill('SIGTERM');
      const t = setTimeout(killSpawned, 3000);
      await exited;
      clearTimeout(t);
    },
    forceMs: 4500,
  };
}

/** redis-server on a free loopback port, persistence off (no RDB snapshots, no AOF): the bench measures Gatehouse, not fsync. */
async function startRedis(dir) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const redis = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        // its own process group: a Ctrl-C in the terminal reaches the bench, which stops Redis last, after every Gatehouse using it
        detached: true,
      },
    );
    spawned.add(redis);
    const exited = new Promise((resolve) => redis.once('exit', (code, signal) => resolve(signal ?? code)));
    const spawnError = new Promise((resolve) => redis.once('error', resolve));
    const up = await Promise.race([
      waitForPort(port, 5000),
      exited.then((how) => `exited (${how})`),
      spawnError.then((e) => `cannot start redis-server (is it on PATH?): ${e.message}`),
    ]);
    if (up === true) {
      return {
        port,
        pid: redis.pid,
        exited,
        close: async () => {
          if (redis.exitCode !== null || redis.signalCode !== null) return;
          redis.kill('SIGTERM'); // no persistence: shuts down at once
          const t = setTimeout(() => redis.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(t);
        },
        forceMs: 4500,
      };
    }
    if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGKILL');
    spawned.delete(redis);
    if (attempt >= 3) throw new Error(`redis-server on port ${port}: ${up === false ? 'not listening after 5 s' : up}`);
  }
}

/**
 * A program that is not Node.js (nginx, haproxy), supervised like redis-server: spawned as `argv` says (bench/peers.mjs
 * puts `taskset -c N` in front, which execs the program, so the pid is the program's), ready once it accepts
 * connections on `port` (chosen by the parent and written into the program's config), stopped with SIGTERM (nginx
 * and haproxy: fast shutdown) and SIGKILL, with everything it forked, after 3 s.
 */
async function startNative(port, argvJson) {
  const [cmd, ...args] = JSON.parse(argvJson);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  spawned.add(proc);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve(signal ?? code)));
  const spawnError = new Promise((resolve) => proc.once('error', resolve));
  const up = await Promise.race([
    waitForPort(Number(port), 10_000),
    exited.then((how) => `exited (${how})`),
    spawnError.then((e) => `cannot start ${cmd}: ${e.message}`),
  ]);
  if (up !== true) throw new Error(`${args.join(' ')}: ${up === false ? `not listening on ${port} after 10 s` : up}`);
  return {
    port: Number(port),
    pid: proc.pid,
    exited,
    close: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(killSpawned, 3000);
      await exited;
      clearTimeout(t);
    },
    forceMs: 4500,
  };
}

/** true once something accepts connections on the port, false after `ms`. */
async function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = connect(port, HOST, () => {
        sock.end();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Gatehouse's per-request accounting and nothing else, for the raw pass-through: the context Gatehouse's own
 * newContext makes (request id, start time, client address), marked as an admitted public request, then
 * dist/gateway/finish.js's own finish once undici reports the response done (Metrics.recordRequest and the access log
 * line through the logger's batchedInfoLines, to stdout, drained by the bench). What complete, redacted log lines
 * cost by themselves, next to the pass-through they are added to.
 */
async function gatehouseAccounting() {
  const dist = new URL('../dist/', import.meta.url).href;
  const [{ createLogger }, { createFinish, newContext }, { Metrics }, { trustedProxyList }] = await Promise.all([
    import(`${dist}observe/log.js`),
    import(`${dist}gateway/finish.js`),
    import(`${dist}observe/metrics.js`),
    import(`${dist}proxy/client-address.js`),
  ]);
  const route = { name: 'api' };
  // newContext reads only the trusted-proxy settings of a runtime (none here); finish only the logger and metrics
  const rt = { trusted: trustedProxyList([]), anyTrusted: false };
  const finish = createFinish({ current: () => rt, logger: createLogger('info'), metrics: new Metrics() });
  return (req) => {
    const ctx = newContext(req, rt);
    ctx.path = req.url.split('?')[0];
    ctx.route = route;
    ctx.outcome = 'public';
    return (status) => finish(ctx, status, upstream);
  };
}

const starters = {
  upstream: startUpstream,
  undici: () => startUndici(upstream),
  'undici-accounting': async () => startUndici(upstream, null, await gatehouseAccounting()),
  'http-proxy': () => startHttpProxy(upstream),
  'undici-jose': () => startUndiciJose(upstream),
  'undici-es256': () => startUndiciEs256(upstream),
  'fastify-jwt': () => startFastifyJwt(upstream),
  gatehouse: startGatehouse,
  'gatehouse-cli': () => startGatehouseCli(upstream, extra),
  redis: () => startRedis(upstream),
  native: () => startNative(upstream, extra),
};

async function main() {
  const start = starters[kind];
  if (!start) throw new Error(`unknown server kind ${kind}`);
  let handle = null;
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => (killSpawned(), process.exit(code)), handle?.forceMs ?? 3000);
    force.unref();
    try {
      // asked to stop while still starting: nothing to drain, just make sure nothing this wrapper spawned survives it
      if (handle) await handle.close();
      else killSpawned();
    } finally {
      // exit explicitly: a profiled child (--cpu-prof) writes its profile on a normal exit.
      process.exit(code);
    }
  };
  // Installed before start-up, so a stop during start-up still takes the supervised processes down.
  process.on('SIGTERM', () => void stop(0));
  // redis: a terminal Ctrl-C reaches the whole process group; the bench stops Redis itself, after the Gatehouses using it
  process.on('SIGINT', () => (kind === 'redis' ? undefined : void stop(0)));
  process.on('disconnect', () => void stop(0));
  process.on('message', (msg) => {
    if (msg && msg.stop) void stop(0);
  });
  handle = await start();
  if (stopping) return void (await handle.close());
  // A supervised process that dies on its own ends this wrapper too: the bench sees the child exit.
  handle.exited?.then((how) => {
    if (stopping) return;
    process.stderr.write(`bench/servers.mjs ${kind}: supervised process exited unexpectedly (${how})\n`);
    void stop(1);
  });
  process.send?.({ ready: true, port: handle.port, adminPort: handle.adminPort ?? null, pid: handle.pid ?? process.pid });
}

main().catch((err) => {
  process.stderr.write(`bench/servers.mjs ${kind}: ${err?.stack ?? err}\n`);
  process.send?.({ ready: false, error: String(err?.message ?? err) });
  killSpawned();
  process.exit(1);
});
