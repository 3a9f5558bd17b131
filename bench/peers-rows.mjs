// What bench/peers.mjs measures: its rows (the proxy each loads, the path,
// what every request carries, the cores the proxy is pinned to), the servers
// behind them (Gatehouse instances, the Node.js peers of bench/servers.mjs,
// HAProxy and nginx), the backend they all forward to, and the run's keys and
// token files. See bench/README.md, "Peers: CPU per request, one core each".
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startChild } from './children.mjs';
import { haproxyConf, nginxBackendConf, nginxProxyConf, writeConf } from './peers-native.mjs';
import { AUD, ISS, TOKEN_CLAIMS, gatehouseConfig, writeFixtures } from './scenarios.mjs';
import { signTokens } from './tokens.mjs';

/** The issuer of the RS256 tokens: an external IdP with a static public key (Gatehouse `trustedIssuers`). */
export const RS_ISS = 'http://rs256-idp.bench';

/** Where the load generator, the backend, Redis and the bench itself run; every proxy runs alone on PROXY_CPU. */
export const LOAD_CPU = '0';
export const PROXY_CPU = '1';
export const BOTH_CPUS = '0,1';

/**
 * Every row, in the order of the table. `server`: a key of SERVERS; `path`: default /api/hello; `load`: what each
 * request carries, for bench/wrk/tokens.lua — `none`, `fixed` (the one repeated ES256 token), `cycle` over the
 * `pool` (a different token on every request), `zipf` (the realistic mix). Where the proxy runs, and the tool
 * without which the row is skipped (said so in the table), are its server's: `cpus` (default PROXY_CPU, alone) and
 * `needs`. `noAuth`: sends a token but checks none (no refusal expected in the sanity check).
 */
export const ROWS = [
  { name: 'raw-undici', server: 'raw-undici', load: 'none', what: 'undici Pool.stream pass-through, no auth: the reference' },
  {
    name: 'raw-undici-bearer',
    server: 'raw-undici',
    load: 'fixed',
    noAuth: true,
    what: "raw undici sent the cached-token rows' request (the same ~400-byte Authorization header), no auth",
  },
  {
    name: 'raw-undici-cycle-rs256',
    server: 'raw-undici',
    load: 'cycle',
    pool: 'rs256',
    noAuth: true,
    what: "raw undici sent the new-RS256 rows' requests (a different token each), no auth: what that load costs a proxy that verifies nothing",
  },
  {
    name: 'raw-undici-accounting',
    server: 'raw-undici-accounting',
    load: 'none',
    what: "raw undici plus only Gatehouse's per-request accounting (its access log line code, info, to a drained pipe, and its metrics)",
  },
  {
    name: 'gatehouse-public-info',
    server: 'gatehouse-info',
    path: '/public/hello',
    load: 'none',
    what: 'Gatehouse, public route, info access log to a drained pipe',
  },
  { name: 'gatehouse-cached-es256-info', server: 'gatehouse-info', load: 'fixed', what: 'Gatehouse, one repeated ES256 token (cache hit), log info' },
  { name: 'gatehouse-cached-es256-warn', server: 'gatehouse-warn', load: 'fixed', what: 'Gatehouse, one repeated ES256 token (cache hit), log warn' },
  {
    name: 'gatehouse-new-rs256',
    server: 'gatehouse-nocache',
    load: 'cycle',
    pool: 'rs256',
    what: 'Gatehouse, new RS256 token per request, cache off, log info',
  },
  {
    name: 'gatehouse-new-rs256-warn',
    server: 'gatehouse-nocache-warn',
    load: 'cycle',
    pool: 'rs256',
    what: 'Gatehouse, new RS256 token per request, cache off, log warn (no access log, as the peers it is compared with)',
  },
  {
    name: 'gatehouse-new-es256',
    server: 'gatehouse-nocache',
    load: 'cycle',
    pool: 'es256',
    what: 'Gatehouse, new ES256 token per request, cache off, log info',
  },
  {
    name: 'sync-verify-new-rs256',
    server: 'sync-verify-rs256',
    load: 'cycle',
    pool: 'rs256',
    what: 'raw undici + a bare synchronous node:crypto.verify of the signature (no decoding, no claims), new RS256 token: the floor',
  },
  { name: 'jose-new-rs256', server: 'jose-rs256', load: 'cycle', pool: 'rs256', what: 'raw undici + bare jose.jwtVerify, new RS256 token' },
  { name: 'jose-new-es256', server: 'jose-es256', load: 'cycle', pool: 'es256', what: 'raw undici + bare jose.jwtVerify, new ES256 token' },
  {
    name: 'fastify-jwt-new-rs256',
    server: 'fastify-jwt-rs256',
    load: 'cycle',
    pool: 'rs256',
    what: 'fastify + @fastify/jwt + @fastify/reply-from, new RS256 token',
  },
  {
    name: 'haproxy-new-rs256',
    server: 'haproxy-rs256',
    load: 'cycle',
    pool: 'rs256',
    what: 'HAProxy 2.6 jwt_verify RS256 (+alg, iss, aud, exp), nbthread 1, new token',
  },
  {
    name: 'haproxy-new-es256',
    server: 'haproxy-es256',
    load: 'cycle',
    pool: 'es256',
    what: 'HAProxy 2.6 jwt_verify ES256 (+alg, iss, aud, exp), nbthread 1, new token',
  },
  { name: 'nginx-proxy', server: 'nginx-proxy', load: 'none', what: 'nginx reverse proxy, 1 worker, no auth, no access log' },
  {
    name: 'gatehouse-zipf-es256',
    server: 'gatehouse-info',
    load: 'zipf',
    what: 'Gatehouse, ES256 tokens of N users drawn Zipf (s=1), renewed every TTL, cache on, log info',
  },
  { name: 'gatehouse-w1-cached', server: 'gatehouse-w1', load: 'fixed', what: 'Gatehouse CLI, server.workers 1 (Redis store), repeated token, log info' },
  { name: 'gatehouse-w2-cached', server: 'gatehouse-w2', load: 'fixed', what: 'as w1, server.workers 2, on both cores (shared with wrk + backend)' },
  {
    name: 'gatehouse-w1-new-es256',
    server: 'gatehouse-w1',
    load: 'cycle',
    pool: 'es256',
    what: 'Gatehouse CLI, server.workers 1, new ES256 token per request',
  },
  {
    name: 'gatehouse-w2-new-es256',
    server: 'gatehouse-w2',
    load: 'cycle',
    pool: 'es256',
    what: 'as w1-new, server.workers 2, on both cores (shared with wrk + backend)',
  },
  // PEERS_AB_DIST=<another build's dist/>: the Gatehouse rows on Gateway.start once more from that build, measured in the
  // same rounds as the rows above (rotated with them), so two builds are compared under the same machine drift
  ...(process.env.PEERS_AB_DIST
    ? [
        {
          name: 'b-gatehouse-public-info',
          server: 'b-gatehouse-info',
          path: '/public/hello',
          load: 'none',
          what: 'as gatehouse-public-info, PEERS_AB_DIST build',
        },
        { name: 'b-gatehouse-cached-es256-info', server: 'b-gatehouse-info', load: 'fixed', what: 'as gatehouse-cached-es256-info, PEERS_AB_DIST build' },
        { name: 'b-gatehouse-new-rs256', server: 'b-gatehouse-nocache', load: 'cycle', pool: 'rs256', what: 'as gatehouse-new-rs256, PEERS_AB_DIST build' },
      ]
    : []),
];

// ----------------------------------------------------------------- fixtures

const writeLines = (file, lines) => (writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 }), file);

/**
 * The run's keys and tokens, in `dir`: the ES256 issuer key, users file and repeated token of bench/scenarios.mjs;
 * an RS256 key pair for the external IdP (public key as SPKI PEM for Gatehouse, HAProxy and fastify, as JWK for
 * jose); the ES256 public key as PEM (HAProxy); the token pools signed over worker threads (bench/tokens.mjs):
 * `es256` and `rs256` (one new token per request, cycled), `zipfUsers` (one current token per user) and `zipfFresh`
 * (the tokens that replace them when they expire). Each pool is also a file, one token a line, for tokens.lua.
 */
export async function writePeerFixtures(dir, sizes) {
  const base = await writeFixtures(dir);
  const esPublic = JSON.parse(base.verifyKey).jwk;
  const esPem = join(dir, 'es256.pub.pem');
  writeFileSync(esPem, createPublicKey({ key: esPublic, format: 'jwk' }).export({ type: 'spki', format: 'pem' }));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsJwk = { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'bench-rs256' };
  const rsPublicJwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'bench-rs256' };
  const rsPem = join(dir, 'rs256.pub.pem');
  writeFileSync(rsPem, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const es = { ...TOKEN_CLAIMS };
  const rs = { ...TOKEN_CLAIMS, iss: RS_ISS, alg: 'RS256', typ: 'JWT' };
  const [es256, rs256, zipfUsers, zipfFresh] = await Promise.all([
    signTokens(base.jwk, es, sizes.es256),
    signTokens(rsJwk, rs, sizes.rs256),
    signTokens(base.jwk, { ...es, subPrefix: 'zipf-user-' }, sizes.zipfUsers),
    signTokens(base.jwk, { ...es, subPrefix: 'zipf-renewed-' }, sizes.zipfFresh),
  ]);
  const pools = { es256, rs256, zipfUsers, zipfFresh };
  const files = Object.fromEntries(Object.entries(pools).map(([k, v]) => [k, writeLines(join(dir, `tokens-${k}.txt`), v)]));
  files.fixed = writeLines(join(dir, 'tokens-fixed.txt'), [base.repeatedToken]);
  return {
    ...base,
    pools,
    files,
    keys: {
      ES256: { publicJwk: esPublic, pem: esPem, iss: ISS },
      RS256: { publicJwk: rsPublicJwk, pem: rsPem, iss: RS_ISS },
    },
  };
}

// ------------------------------------------------------------------ servers

/** The Gatehouse config of the peers run: the bench's, plus the RS256 IdP as a trusted issuer. */
const peersConfig = (c, level, opts) =>
  gatehouseConfig(c, level, { ...opts, trustedIssuers: [{ iss: RS_ISS, keyFile: c.fixtures.keys.RS256.pem, alg: 'RS256' }] });

/** node flags of a Node.js proxy: with PEERS_PROFILE=1 (`c.profileDir`) a V8 CPU profile, <name>.cpuprofile, written when it stops. */
const profile = (c, name) => (c.profileDir ? ['--cpu-prof', '--cpu-prof-dir', c.profileDir, '--cpu-prof-name', `${name}.cpuprofile`] : []);

/** Gatehouse by Gateway.start in a servers.mjs child, stdout drained by the bench (children.mjs `drain`). */
const gateway = (level, cache, dist = null) => ({
  gatehouse: { launcher: 'Gateway.start', workers: 1, level, cache },
  start: (c, name) =>
    startChild(name, ['gatehouse'], {
      stdout: 'drain',
      execArgv: profile(c, name),
      env: {
        BENCH_GATEHOUSE_CONFIG: peersConfig(c, level, { cacheEntries: cache === 'off' ? 0 : c.cacheEntries }),
        ...(dist ? { BENCH_GATEHOUSE_DIST: dist } : {}),
      },
    }),
});

/**
 * `node dist/cli.js start -c <file>` with server.workers N and the Redis store (more than one worker needs it):
 * one worker alone on PROXY_CPU, two workers on both cores (the only way to give a second worker a core here).
 */
const cli = (workers) => ({
  gatehouse: { launcher: 'cli', workers, level: 'info', cache: 'on' },
  cpus: workers > 1 ? BOTH_CPUS : PROXY_CPU,
  needs: 'redis-server',
  redis: true,
  start: async (c, name) => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const file = join(c.fixtures.dir, `${name}.yaml`);
    // commandTimeout 5s, not the default 500 ms: on a 2-core machine that others load, a Redis ping waiting behind
    // wrk, the backend and a worker on core 0 can exceed 500 ms; the store is then marked down and every request is
    // refused (503 store_down) until the next heartbeat: the row would measure that failure path, not the workers
    const redis = { url: c.redisUrl, keyPrefix: `bench-peers-${name}:`, commandTimeout: c.redisCommandTimeout };
    writeFileSync(file, peersConfig(c, 'info', { listen: port, adminListen: adminPort, workers, redis, cacheEntries: c.workersCacheEntries }), { mode: 0o600 });
    // with PEERS_PROFILE=1 the CLI primary and each worker write their own profile (named by pid) into <profiles>/<name>/
    const execArgv = c.profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(c.profileDir, name)] : [];
    const h = await startChild(name, ['gatehouse-cli', file, String(port)], { stdout: 'drain', env: { BENCH_CLI_EXEC_ARGV: JSON.stringify(execArgv) } });
    return { ...h, adminPort };
  },
});

/** A Node.js peer of bench/servers.mjs (`kind`), forwarding to the backend; `verifyKey(c)`: its BENCH_VERIFY_KEY. */
const nodePeer = (kind, verifyKey = null) => ({
  start: (c, name) =>
    startChild(name, [kind, c.upstream], { execArgv: profile(c, name), ...(verifyKey ? { env: { BENCH_VERIFY_KEY: JSON.stringify(verifyKey(c)) } } : {}) }),
});

/** nginx or HAProxy under a servers.mjs `native` supervisor, started pinned (`taskset -c cpus` execs the program). */
const native = (needs, conf) => ({
  needs,
  start: async (c, name) => {
    const port = await freePort();
    const dir = join(c.fixtures.dir, name);
    mkdirSync(dir, { recursive: true });
    const argv = conf(c, dir, port);
    return startChild(name, ['native', String(port), JSON.stringify(['taskset', '-c', PROXY_CPU, ...argv])]);
  },
});

const haproxy = (alg) =>
  native('haproxy', (c, dir, port) => {
    const k = c.fixtures.keys[alg];
    const file = writeConf(dir, 'haproxy.cfg', haproxyConf({ port, backendPort: c.backendPort, alg, pubkeyFile: k.pem, iss: k.iss, aud: AUD }));
    return ['haproxy', '-db', '-f', file];
  });

/** The servers rows load, each started only when a selected row needs it. */
export const SERVERS = {
  'raw-undici': nodePeer('undici'),
  'raw-undici-accounting': { start: (c, name) => startChild(name, ['undici-accounting', c.upstream], { stdout: 'drain', execArgv: profile(c, name) }) },
  'gatehouse-info': gateway('info', 'on'),
  'gatehouse-warn': gateway('warn', 'on'),
  // new-token rows: verify.cache.maxEntries 0, so a token seen again (the pools cycle) is verified again
  'gatehouse-nocache': gateway('info', 'off'),
  'gatehouse-nocache-warn': gateway('warn', 'off'),
  ...(process.env.PEERS_AB_DIST
    ? { 'b-gatehouse-info': gateway('info', 'on', process.env.PEERS_AB_DIST), 'b-gatehouse-nocache': gateway('info', 'off', process.env.PEERS_AB_DIST) }
    : {}),
  'sync-verify-rs256': nodePeer('undici-es256', (c) => ({ jwk: c.fixtures.keys.RS256.publicJwk })),
  'jose-rs256': nodePeer('undici-jose', (c) => ({ jwk: c.fixtures.keys.RS256.publicJwk, iss: RS_ISS, aud: AUD, alg: 'RS256' })),
  'jose-es256': nodePeer('undici-jose', (c) => ({ jwk: c.fixtures.keys.ES256.publicJwk, iss: ISS, aud: AUD, alg: 'ES256' })),
  'fastify-jwt-rs256': nodePeer('fastify-jwt', (c) => ({ pem: readFileSync(c.fixtures.keys.RS256.pem, 'utf8'), iss: RS_ISS, aud: AUD, alg: 'RS256' })),
  'haproxy-rs256': haproxy('RS256'),
  'haproxy-es256': haproxy('ES256'),
  'nginx-proxy': native('nginx', (c, dir, port) => [
    'nginx',
    '-e',
    join(dir, 'error.log'),
    '-c',
    writeConf(dir, 'nginx.conf', nginxProxyConf(dir, port, c.backendPort)),
  ]),
  'gatehouse-w1': cli(1),
  'gatehouse-w2': cli(2),
};

/**
 * The backend every proxy forwards to, on LOAD_CPU: nginx returning a small fixed 200 (1 worker), or, when nginx is
 * missing, bench/servers.mjs `upstream` (node:http, the same 39-byte body). Resolves with its handle and origin.
 */
export async function startBackend(c, haveNginx) {
  if (!haveNginx) {
    const h = await startChild('backend', ['upstream']);
    return { ...h, kind: 'node:http (bench/servers.mjs upstream; nginx is not installed)', origin: `http://127.0.0.1:${h.port}` };
  }
  const port = await freePort();
  const dir = join(c.fixtures.dir, 'backend');
  mkdirSync(dir, { recursive: true });
  const conf = writeConf(dir, 'nginx.conf', nginxBackendConf(dir, port));
  const h = await startChild('backend', [
    'native',
    String(port),
    JSON.stringify(['taskset', '-c', LOAD_CPU, 'nginx', '-e', join(dir, 'error.log'), '-c', conf]),
  ]);
  return { ...h, kind: 'nginx, 1 worker, return 200 (39-byte JSON)', origin: `http://127.0.0.1:${h.port}` };
}

/** redis-server for the CLI instances (bench/servers.mjs `redis`: loopback, no persistence), stopped last. */
export async function startRedis(c) {
  const dir = join(c.fixtures.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  const h = await startChild('redis', ['redis', dir], { last: true });
  return { ...h, url: `redis://127.0.0.1:${h.port}` };
}
