// A cross-check of `npm run bench` with wrk, the load generator the issue's own
// figures came from (it costs far less CPU per request than autocannon, which
// shares the 2 cores with the proxy under test). Not part of `npm run bench`;
// needs wrk on PATH (`apt-get install -y wrk`) and a built dist/.
//
//   node bench/wrk-check.mjs
//   WRK_ONLY=raw-undici-bearer,gatehouse-token-cached WRK_ROUNDS=3 node bench/wrk-check.mjs
//
// The servers are bench/servers.mjs's, one process each, on loopback. Scenarios:
//   raw-undici, raw-undici-bearer             the raw pass-through, without / with the token's Authorization header
//   raw-undici-jose-new, raw-undici-es256-new the new-token floors (see bench/README.md)
//   gatehouse-public, gatehouse-token-cached, gatehouse-token-new
// Every new-token run (its 1 s warm-up too) takes a fresh slice of the token pool, so no server sees a token
// twice. wrk runs 1 thread, 50 connections, 5 s after 1 s of warm-up; medians over the rounds, ratios to the
// first scenario named, and the proxy's CPU per request (all threads, and its main thread) from /proc.
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningJwk } from '../dist/tokens/keygen.js';
import { loadKeyFile } from '../dist/tokens/keys.js';
import { cpuSeconds } from './proc.mjs';
import { signTokens } from './tokens.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ISS = 'http://gatehouse.bench';
const AUD = 'api';
const ONLY = (process.env.WRK_ONLY ?? 'raw-undici,raw-undici-bearer,raw-undici-jose-new,raw-undici-es256-new,gatehouse-token-cached,gatehouse-token-new').split(',');
const ROUNDS = Number(process.env.WRK_ROUNDS ?? 5);
const SLICE = { warm: 20_000, run: 100_000 };
const NEW = new Set(['raw-undici-jose-new', 'raw-undici-es256-new', 'gatehouse-token-new']);
const POOL = Math.max(1, [...NEW].filter((n) => ONLY.includes(n)).length) * ROUNDS * (SLICE.warm + SLICE.run) + 1;

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'));
const children = [];
try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (err) {
  if (err.code === 'ENOENT') throw new Error('wrk is not on PATH (apt-get install -y wrk)');
}

const jwk = await generateSigningJwk('ES256', 'bench-es256');
const keyFile = join(tmp, 'bench-es256.jwk.json');
writeFileSync(keyFile, JSON.stringify(jwk), { mode: 0o600 });
const key = await loadKeyFile(keyFile, { requirePrivate: true });
const tokens = await signTokens(jwk, { iss: ISS, aud: AUD, ttlSeconds: 3600, roles: ['user'], scope: 'read write' }, POOL);
const repeated = tokens[POOL - 1];

const start = (args, env = {}) =>
  new Promise((resolve, reject) => {
    const c = fork(join(HERE, 'servers.mjs'), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.push(c);
    c.once('message', (m) => (m.ready ? resolve({ port: m.port, pid: c.pid }) : reject(new Error(m.error))));
  });
const upstream = await start(['upstream']);
const origin = `http://127.0.0.1:${upstream.port}`;
const verifyKey = JSON.stringify({ jwk: key.publicJwk, iss: ISS, aud: AUD });
const config = `server:\n  listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nissuer:\n  iss: ${ISS}\n  audience: ${AUD}\n  signingKeys:\n    - file: ${JSON.stringify(keyFile)}\nverify:\n  algorithms: [ES256]\n  cache: { maxEntries: 100000 }\nlog:\n  level: warn\nroutes:\n  - name: public\n    match: { path: /public/** }\n    upstream: ${origin}\n    auth: public\n  - name: api\n    match: { path: /api/** }\n    upstream: ${origin}\n`;

// scenario -> [server kind, request path, token: none | repeated | new]
const SCENARIOS = {
  'raw-undici': ['undici', '/api/hello', 'none'],
  'raw-undici-bearer': ['undici', '/api/hello', 'repeated'],
  'raw-undici-jose-new': ['undici-jose', '/api/hello', 'new'],
  'raw-undici-es256-new': ['undici-es256', '/api/hello', 'new'],
  'gatehouse-public': ['gatehouse', '/public/hello', 'none'],
  'gatehouse-token-cached': ['gatehouse', '/api/hello', 'repeated'],
  'gatehouse-token-new': ['gatehouse', '/api/hello', 'new'],
};
const servers = new Map();
for (const name of ONLY) {
  if (!SCENARIOS[name]) throw new Error(`unknown scenario ${name}`);
  const kind = SCENARIOS[name][0];
  if (!servers.has(kind)) servers.set(kind, await start(kind === 'gatehouse' ? ['gatehouse'] : [kind, origin], { BENCH_VERIFY_KEY: verifyKey, BENCH_GATEHOUSE_CONFIG: config }));
}

const cpu = (pid) => ({ all: cpuSeconds(pid), main: cpuSeconds(pid, pid) });

let offset = 0;
const script = (tag, token, path) => {
  const file = join(tmp, `tokens-${tag}.txt`);
  if (token === 'new') {
    writeFileSync(file, tokens.slice(offset, offset + SLICE[tag]).join('\n') + '\n');
    offset += SLICE[tag];
  } else writeFileSync(file, `${repeated}\n`);
  const header = token === 'none' ? '{}' : '{ ["Authorization"] = "Bearer " .. t[i] }';
  const lua = join(tmp, `request-${tag}.lua`);
  writeFileSync(
    lua,
    `local t = {}\nfor l in io.lines("${file}") do t[#t+1] = l end\nlocal n = 0\nrequest = function()\n  n = n + 1\n  local i = ${token === 'new' ? 'n' : '1'}\n  if i > #t then error("token slice used up") end\n  return wrk.format("GET", "${path}", ${header})\nend\n`,
  );
  return lua;
};

const results = {};
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of ONLY) {
      const [kind, path, token] = SCENARIOS[name];
      const { port, pid } = servers.get(kind);
      const url = `http://127.0.0.1:${port}${path}`;
      execFileSync('wrk', ['-t1', '-c50', '-d1s', '-s', script('warm', token, path), url]);
      const c0 = cpu(pid);
      const out = execFileSync('wrk', ['-t1', '-c50', '-d5s', '-s', script('run', token, path), url], { encoding: 'utf8' });
      const c1 = cpu(pid);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
      const total = Number(/(\d+) requests in/.exec(out)[1]);
      const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors: .*?(\d+)/.exec(out)?.[1] ?? 0);
      const us = (seconds) => ((seconds * 1e6) / total).toFixed(0);
      (results[name] ??= []).push(rps);
      process.stderr.write(`round ${round + 1}/${ROUNDS}  ${name.padEnd(24)} ${rps.toFixed(0).padStart(6)} req/s  cpu us/req ${us(c1.all - c0.all)} (main thread ${us(c1.main - c0.main)})${bad ? `  !! ${bad} bad answers` : ''}\n`);
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const base = median(results[ONLY[0]]);
  process.stdout.write(`\nwrk -t1 -c50, 5 s per run, median of ${ROUNDS} rounds; ratio to ${ONLY[0]}\n`);
  for (const name of ONLY) process.stdout.write(`${name.padEnd(24)} ${median(results[name]).toFixed(0).padStart(6)} req/s  ${(median(results[name]) / base).toFixed(2)}x\n`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  rmSync(tmp, { recursive: true, force: true });
}
