// A cross-check of `npm run bench` with wrk, the load generator the issue's own
// figures came from (it costs far less CPU per request than autocannon, which
// shares the 2 cores with the proxy under test). Not part of `npm run bench`;
// needs wrk on PATH (`apt-get install -y wrk`) and a built dist/.
//
//   node bench/wrk-check.mjs
//   WRK_ONLY=raw-undici-bearer,gatehouse-token-cached WRK_ROUNDS=3 node bench/wrk-check.mjs
//
// The scenarios, servers, Gatehouse config and tokens are bench/scenarios.mjs's, one process each, on loopback:
// any scenario whose server is one process and whose requests carry no token, the repeated token or a new one
// (not the CLI instances nor the token service), by default:
//   raw-undici, raw-undici-bearer             the raw pass-through, without / with the token's Authorization header
//   raw-undici-jose-new, raw-undici-es256-new the new-token floors (see bench/README.md)
//   gatehouse-token-cached, gatehouse-token-new
// Every new-token run (its 1 s warm-up too) takes a fresh slice of the token pool, so no server sees a token
// twice. wrk runs 1 thread, 50 connections, 5 s after 1 s of warm-up; medians over the rounds, ratios to the
// first scenario named, and the proxy's CPU per request (all threads, and its main thread) from /proc.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChildren } from './children.mjs';
import { median } from './measure.mjs';
import { cpuSeconds } from './proc.mjs';
import { SCENARIOS, SERVERS, TOKEN_CLAIMS, startServers, writeFixtures } from './scenarios.mjs';
import { signTokens } from './tokens.mjs';

const ONLY = (process.env.WRK_ONLY ?? 'raw-undici,raw-undici-bearer,raw-undici-jose-new,raw-undici-es256-new,gatehouse-token-cached,gatehouse-token-new').split(
  ',',
);
const ROUNDS = Number(process.env.WRK_ROUNDS ?? 5);
const SLICE = { warm: 20_000, run: 100_000 };
// bench/scenarios.mjs's scenarios, those whose requests a wrk script can send and whose server is one process
const selected = ONLY.map((name) => {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s || !['none', 'repeated', 'new'].includes(s.auth ?? 'none') || SERVERS[s.server]?.tree)
    throw new Error(`unknown scenario ${name} (or not one wrk-check runs)`);
  return s;
});
const POOL = Math.max(1, selected.filter((s) => s.auth === 'new').length) * ROUNDS * (SLICE.warm + SLICE.run);

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (err) {
  if (err.code === 'ENOENT') throw new Error('wrk is not on PATH (apt-get install -y wrk)');
}

const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'));
const cpu = (pid) => ({ all: cpuSeconds(pid), main: cpuSeconds(pid, pid) });

let offset = 0;
const script = (tag, token, path) => {
  const file = join(tmp, `tokens-${tag}.txt`);
  if (token === 'new') {
    writeFileSync(file, tokens.slice(offset, offset + SLICE[tag]).join('\n') + '\n');
    offset += SLICE[tag];
  } else writeFileSync(file, `${fixtures.repeatedToken}\n`);
  const header = token === 'none' ? '{}' : '{ ["Authorization"] = "Bearer " .. t[i] }';
  const lua = join(tmp, `request-${tag}.lua`);
  writeFileSync(
    lua,
    `local t = {}\nfor l in io.lines("${file}") do t[#t+1] = l end\nlocal n = 0\nrequest = function()\n  n = n + 1\n  local i = ${token === 'new' ? 'n' : '1'}\n  if i > #t then error("token slice used up") end\n  return wrk.format("GET", "${path}", ${header})\nend\n`,
  );
  return lua;
};

const results = {};
let fixtures;
let tokens;
try {
  fixtures = await writeFixtures(tmp);
  tokens = await signTokens(fixtures.jwk, TOKEN_CLAIMS, POOL);
  // the bench's servers, with its Gatehouse config (verifier cache 100,000 entries)
  const { servers } = await startServers(selected, { fixtures, cacheEntries: 100_000, profileDir: null });
  for (let round = 0; round < ROUNDS; round++) {
    for (const { name, server, path = '/api/hello', auth: token = 'none' } of selected) {
      const { port, pid } = servers.get(server);
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
      process.stderr.write(
        `round ${round + 1}/${ROUNDS}  ${name.padEnd(24)} ${rps.toFixed(0).padStart(6)} req/s  cpu us/req ${us(c1.all - c0.all)} (main thread ${us(c1.main - c0.main)})${bad ? `  !! ${bad} bad answers` : ''}\n`,
      );
    }
  }
  const base = median(results[ONLY[0]]);
  process.stdout.write(`\nwrk -t1 -c50, 5 s per run, median of ${ROUNDS} rounds; ratio to ${ONLY[0]}\n`);
  for (const name of ONLY)
    process.stdout.write(`${name.padEnd(24)} ${median(results[name]).toFixed(0).padStart(6)} req/s  ${(median(results[name]) / base).toFixed(2)}x\n`);
} finally {
  await stopChildren();
  rmSync(tmp, { recursive: true, force: true });
}
