// Gatehouse soak (see soak/README.md): two Gatehouse processes from dist/ share
// one real redis-server (AOF on); one trusted external issuer publishes its
// keys from a JWKS server; two upstreams. A bounded mix of valid, expiring,
// expired, revoked, forged and missing tokens is sent to both instances while
// a fault script kills and restarts Redis, the JWKS server and one upstream.
// Every answer is judged against what that request should have got at that
// moment. Everything listens on 127.0.0.1 and everything started is stopped.
import { spawn, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { Pool } from 'undici';
import { countLogLines, untilListening } from '../bench/lines.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const HOST = '127.0.0.1';
const ISS = 'http://idp.soak.test';
const AUD = 'api';
const KID = 'soak-key-1';
/** verify.clockTolerance given to Gatehouse (seconds) */
const TOLERANCE_S = 1;
/** a revoked token may still pass for this long after the admin API confirmed the revocation */
const REVOKE_GRACE_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (a) => a[Math.floor(Math.random() * a.length)];

// ------------------------------------------------------------------ processes

const procs = new Set();

/** SIGKILL whatever is still running (last resort, synchronous: safe in process.on('exit')). */
export function killAllNow() {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      try {
        p.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  }
  procs.clear();
}

function track(child) {
  procs.add(child);
  child.once('exit', () => procs.delete(child));
  return child;
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

async function stopProc(child, signal = 'SIGTERM', forceMs = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), forceMs);
  await exited(child);
  clearTimeout(t);
}

export async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, HOST, () => r()));
  const { port } = s.address();
  await new Promise((r) => s.close(() => r()));
  return port;
}

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
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${HOST}:${port} after ${ms} ms`);
    await sleep(25);
  }
}

/** redis-server on a fixed loopback port with AOF (appendfsync always): a SIGKILL + restart keeps what was acknowledged. */
function redisServer(port, dir) {
  let proc = null;
  return {
    port,
    get pid() {
      return proc?.pid;
    },
    async start() {
      proc = track(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            HOST,
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            'yes',
            '--appendfsync',
            'always',
            '--protected-mode',
            'no',
            '--loglevel',
            'warning',
          ],
          {
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        ),
      );
      const spawnError = new Promise((_, reject) => proc.once('error', (e) => reject(new Error(`cannot start redis-server (is it on PATH?): ${e.message}`))));
      await Promise.race([waitForPort(port, 10_000), spawnError]);
    },
    async kill() {
      if (proc) await stopProc(proc, 'SIGKILL');
    },
    async stop() {
      if (proc) await stopProc(proc, 'SIGKILL');
    },
  };
}

/** soak/servers.mjs <kind> <port> <arg> in a child process, restartable on the same port. */
function childServer(kind, port, arg) {
  let proc = null;
  return {
    port,
    async start() {
      for (let attempt = 1; ; attempt++) {
        proc = track(fork(join(HERE, 'servers.mjs'), [kind, String(port), arg], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
        const msg = await new Promise((resolve) => {
          proc.once('message', resolve);
          proc.once('exit', () => resolve({ ready: false, error: 'exited' }));
        });
        if (msg?.ready) return;
        // the port can linger for a moment after a SIGKILL: try again briefly
        if (attempt >= 40) throw new Error(`${kind}: cannot start on port ${port}: ${msg?.error}`);
        await sleep(100);
      }
    },
    async kill() {
      if (proc) await stopProc(proc, 'SIGKILL');
    },
    async stop() {
      if (proc) await stopProc(proc, 'SIGTERM', 2000);
    },
  };
}

/** `node dist/cli.js start -c <file>`, as an operator runs it; ready once it says it listens. */
async function startGatehouse(name, file, logCounts) {
  const cli = track(spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'start', '-c', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  countLogLines(name, cli.stdout, logCounts);
  await untilListening(cli, name, (line) => {
    const key = `${name} (stderr): ${line.slice(0, 160)}`;
    logCounts.set(key, (logCounts.get(key) ?? 0) + 1);
  });
  return cli;
}

function rssBytes(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

// --------------------------------------------------------------------- tokens

async function makeKeys() {
  const good = await generateKeyPair('ES256', { extractable: true });
  const wrong = await generateKeyPair('ES256', { extractable: true });
  const pub = { ...(await exportJWK(good.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  return { good: good.privateKey, wrong: wrong.privateKey, jwks: { keys: [pub] } };
}

function sign(key, claims, { kid = KID, exp } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(now - 5)
    .setExpirationTime(exp ?? now + 3600)
    .sign(key);
}

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function makeTokens(keys, seconds) {
  const now = Math.floor(Date.now() / 1000);
  const user = (i, prefix, roles) => ({ sub: `${prefix}-${i}`, jti: randomUUID(), roles });
  const users = [];
  for (let i = 0; i < 40; i++) users.push({ kind: 'valid', role: 'user', token: await sign(keys.good, user(i, 'user', ['user'])) });
  const admins = [];
  for (let i = 0; i < 10; i++) admins.push({ kind: 'valid', role: 'admin', token: await sign(keys.good, user(i, 'admin', ['admin'])) });
  // revoked during the run, one by one, through the admin API of either instance
  const revocable = [];
  for (let i = 0; i < Math.max(60, seconds * 3); i++) {
    const role = i % 4 === 0 ? 'admin' : 'user';
    const c = user(i, 'revocable', [role]);
    const exp = now + 3600;
    revocable.push({
      kind: 'revocable',
      role,
      jti: c.jti,
      exp,
      token: await sign(keys.good, c, { exp }),
      state: 'active',
      revokeStartedAt: Infinity,
      revokedAt: Infinity,
    });
  }
  // expire during the run (exp spread over its middle)
  const expiring = [];
  for (let i = 0; i < 20; i++) {
    const exp = now + Math.round(seconds * (0.25 + (0.5 * i) / 20)) + 2;
    expiring.push({ kind: 'expiring', role: 'user', exp, token: await sign(keys.good, user(i, 'expiring', ['user']), { exp }) });
  }
  const expired = [];
  for (let i = 0; i < 10; i++)
    expired.push({ kind: 'expired', role: 'admin', token: await sign(keys.good, user(i, 'expired', ['admin']), { exp: now - 60 - i }) });
  // forged: every one of them must get 401 on a protected route, whatever is down
  const forged = [];
  for (let i = 0; i < 10; i++) {
    const valid = await sign(keys.good, user(i, 'forged', ['user']));
    const [h, p, s] = valid.split('.');
    // tampered signature: flip one character in the middle (stays canonical base64url)
    const mid = Math.floor(s.length / 2);
    forged.push({
      kind: 'forged',
      how: 'tampered-signature',
      role: 'admin',
      token: `${h}.${p}.${s.slice(0, mid)}${s[mid] === 'A' ? 'B' : 'A'}${s.slice(mid + 1)}`,
    });
    // tampered payload: promoted to admin, original signature
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    forged.push({ kind: 'forged', how: 'tampered-payload', role: 'admin', token: `${h}.${b64({ ...claims, roles: ['admin'] })}.${s}` });
    // signed with another key under the trusted kid
    forged.push({ kind: 'forged', how: 'wrong-key', role: 'admin', token: await sign(keys.wrong, user(i, 'forged-wk', ['admin'])) });
    // another key under an unknown kid (Gatehouse may refetch the JWKS, at most once per cooldown)
    forged.push({ kind: 'forged', how: 'unknown-kid', role: 'admin', token: await sign(keys.wrong, user(i, 'forged-uk', ['admin']), { kid: `rogue-${i}` }) });
    // alg none
    forged.push({ kind: 'forged', how: 'alg-none', role: 'admin', token: `${b64({ alg: 'none', kid: KID })}.${b64({ ...claims, roles: ['admin'] })}.` });
  }
  return { users, admins, revocable, expiring, expired, forged };
}

// --------------------------------------------------------------------- config

function gatehouseConfig({ port, adminPort, jwksPort, redisPort, upstreamA, upstreamB }) {
  // JSON is YAML.
  return JSON.stringify(
    {
      server: { listen: `${HOST}:${port}`, workers: 1, upstreamTimeout: '5s', keepAliveTimeout: '30s', shutdownTimeout: '3s' },
      admin: { listen: `${HOST}:${adminPort}` },
      trustedIssuers: [
        {
          iss: ISS,
          jwksUri: `http://${HOST}:${jwksPort}/jwks.json`,
          audience: AUD,
          algorithms: ['ES256'],
          jwksRefresh: '3s',
          jwksCooldown: '2s',
          jwksTimeout: '1s',
        },
      ],
      verify: { algorithms: ['ES256'], clockTolerance: `${TOLERANCE_S}s` },
      revocation: { store: 'redis', redis: { url: `redis://${HOST}:${redisPort}`, keyPrefix: 'soak:', commandTimeout: '500ms' }, onStoreError: 'deny' },
      log: { level: 'warn' },
      routes: [
        { name: 'public', match: { path: '/public/**' }, upstream: `http://${HOST}:${upstreamB}`, auth: 'public' },
        { name: 'api', match: { path: '/api/**' }, upstream: `http://${HOST}:${upstreamA}`, auth: 'required' },
        { name: 'ops', match: { path: '/ops/**' }, upstream: `http://${HOST}:${upstreamB}`, auth: { roles: ['admin'] } },
      ],
    },
    null,
    2,
  );
}

// ---------------------------------------------------------------------- judge

/**
 * The statuses a request may get. `win(kind, grace)`: did the request overlap
 * an outage of `kind` (from the kill until `grace` ms after it was back)?
 */
function expected(r, tok, win, g) {
  if (r.route === 'public') return { ok: [200], accept: true };
  const denyAll = { ok: [401], accept: false };
  if (r.kind === 'missing' || r.kind === 'forged' || r.kind === 'expired') return denyAll;
  const base = r.route === 'ops' && tok.role !== 'admin' ? 403 : 200;
  const valid = [base];
  if (win('redis', g.redis)) valid.push(503);
  if (base === 200 && r.route === 'api' && win('upstream', g.upstream)) valid.push(502, 504);
  if (r.kind === 'valid') return { ok: valid, accept: base === 200 };
  if (r.kind === 'expiring') {
    const expMs = tok.exp * 1000;
    if (r.doneAt < expMs - 1000) return { ok: valid, accept: base === 200 };
    if (r.sentAt >= (tok.exp + TOLERANCE_S) * 1000 + 1000) return { ok: [401], accept: false, why: 'expired token accepted' };
    return { ok: [...valid, 401], accept: base === 200 };
  }
  // revocable
  if (r.sentAt > tok.revokedAt + REVOKE_GRACE_MS) {
    const ok = [401];
    if (win('redis', g.redis)) ok.push(503);
    return { ok, accept: false, why: `revoked token accepted more than ${REVOKE_GRACE_MS} ms after its revocation` };
  }
  // not yet revoked, being revoked, or revoked less than the grace ago (or a revocation whose answer failed: it may still have landed)
  if (r.doneAt >= tok.revokeStartedAt) return { ok: [...valid, 401], accept: base === 200 };
  return { ok: valid, accept: base === 200 };
}

function judge(records, windows, g) {
  const win = (r) => (kind, grace) => windows.some((w) => w.kind === kind && r.sentAt <= (w.upAt ?? Infinity) + grace && r.doneAt >= w.downAt - 250);
  const out = {
    answered: 0,
    lost: 0,
    lostByReason: {},
    wrongAccepts: 0,
    wrongDenials: 0,
    unexpected5xx: 0,
    expected5xx: 0,
    byStatus: {},
    byKind: {},
    samples: [],
    maxRevokedAcceptLagMs: 0,
  };
  for (const r of records) {
    const k = `${r.kind}${r.how ? `/${r.how}` : ''} ${r.route}`;
    const bk = (out.byKind[k] ??= { sent: 0, statuses: {} });
    bk.sent++;
    if (r.status === null) {
      out.lost++;
      out.lostByReason[r.error] = (out.lostByReason[r.error] ?? 0) + 1;
      bk.statuses.lost = (bk.statuses.lost ?? 0) + 1;
      if (out.samples.length < 30) out.samples.push({ problem: 'lost', ...strip(r) });
      continue;
    }
    out.answered++;
    out.byStatus[r.status] = (out.byStatus[r.status] ?? 0) + 1;
    bk.statuses[r.status] = (bk.statuses[r.status] ?? 0) + 1;
    const e = expected(r, r.tok, win(r), g);
    const is2xx = r.status >= 200 && r.status < 300;
    if (r.kind === 'revocable' && is2xx && r.route !== 'public' && r.sentAt > r.tok.revokedAt)
      out.maxRevokedAcceptLagMs = Math.max(out.maxRevokedAcceptLagMs, r.sentAt - r.tok.revokedAt);
    if (e.ok.includes(r.status)) {
      if (r.status >= 500) out.expected5xx++;
      continue;
    }
    let problem;
    if (is2xx) {
      out.wrongAccepts++;
      problem = e.why ?? `${r.kind} accepted`;
    } else if (r.status >= 500) {
      out.unexpected5xx++;
      problem = `unexpected ${r.status}`;
    } else {
      out.wrongDenials++;
      problem = `got ${r.status}, expected ${e.ok.join('/')}`;
    }
    if (out.samples.length < 30) out.samples.push({ problem, ...strip(r) });
  }
  return out;
}

function strip(r) {
  const { tok, ...rest } = r;
  return { ...rest, revokedAt: tok?.revokedAt === Infinity ? undefined : tok?.revokedAt, exp: tok?.exp };
}

// ------------------------------------------------------------------------ run

/**
 * Runs one soak and returns the result (never throws after start-up began
 * without stopping everything it started).
 * @param {{seconds?: number, rps?: number, concurrency?: number, lostAfterMs?: number, checkMemory?: boolean, log?: (s: string) => void}} opts
 */
export async function runSoak(opts = {}) {
  const seconds = opts.seconds ?? 120;
  const rps = opts.rps ?? 200;
  const concurrency = opts.concurrency ?? 32;
  const lostAfterMs = opts.lostAfterMs ?? 10_000;
  const log = opts.log ?? (() => {});
  const checkMemory = opts.checkMemory ?? seconds >= 60;
  // how long after a component is back an outage may still show (generous: a loaded 2-core CI box)
  const grace = { redis: 5000, upstream: 3000 };
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-soak-'));
  const logCounts = new Map();
  const servers = [];
  const gatehouses = [];
  const pools = [];
  try {
    const keys = await makeKeys();
    const tokens = await makeTokens(keys, seconds);
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(keys.jwks));

    const [redisPort, jwksPort, upstreamA, upstreamB] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const redis = redisServer(redisPort, mkdtempSync(join(dir, 'redis-')));
    const jwks = childServer('jwks', jwksPort, jwksFile);
    const upA = childServer('upstream', upstreamA, 'A');
    const upB = childServer('upstream', upstreamB, 'B');
    servers.push(redis, jwks, upA, upB);
    await Promise.all(servers.map((s) => s.start()));
    log(`redis :${redisPort}, jwks :${jwksPort}, upstreams :${upstreamA} (faulted) :${upstreamB}`);

    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const adminPort = await freePort();
      const file = join(dir, `gatehouse-${i}.yaml`);
      writeFileSync(file, gatehouseConfig({ port, adminPort, jwksPort, redisPort, upstreamA, upstreamB }));
      const proc = await startGatehouse(`gatehouse-${i}`, file, logCounts);
      const gh = { name: `gatehouse-${i}`, port, adminPort, proc, rss: [] };
      gh.pool = new Pool(`http://${HOST}:${port}`, {
        connections: Math.ceil(concurrency / 2) + 2,
        pipelining: 1,
        headersTimeout: lostAfterMs,
        bodyTimeout: lostAfterMs,
        keepAliveTimeout: 20_000,
      });
      gh.admin = new Pool(`http://${HOST}:${adminPort}`, { connections: 2, headersTimeout: lostAfterMs, bodyTimeout: lostAfterMs });
      pools.push(gh.pool, gh.admin);
      gatehouses.push(gh);
      log(`${gh.name} pid ${proc.pid} on :${port} (admin :${adminPort})`);
    }

    // --------------------------------------------------------------- traffic
    const records = [];
    const windows = [];
    const revocations = { attempted: 0, confirmed: 0, failed: 0 };
    let inflight = 0;
    let stopTraffic = false;
    const t0 = Date.now();
    const endAt = t0 + seconds * 1000;

    const sampleMemory = () => {
      for (const gh of gatehouses) gh.rss.push({ t: Date.now() - t0, rss: rssBytes(gh.proc.pid) });
    };
    sampleMemory();
    const memTimer = setInterval(sampleMemory, 2000);

    const send = async (gh, rec, headers) => {
      inflight++;
      rec.sentAt = Date.now();
      let timer;
      try {
        const res = await Promise.race([
          gh.pool.request({ path: rec.path, method: 'GET', headers: { host: 'soak.test', ...headers } }).then(async (res) => {
            await res.body.text();
            return res;
          }),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(Object.assign(new Error('no answer'), { code: 'SOAK_TIMEOUT' })), lostAfterMs + 2000);
          }),
        ]);
        rec.status = res.statusCode;
      } catch (err) {
        rec.status = null;
        rec.error = err.code ?? err.message;
      } finally {
        clearTimeout(timer);
        rec.doneAt = Date.now();
        inflight--;
      }
    };

    const nextRequest = (n) => {
      const gh = gatehouses[n % 2];
      const x = Math.random();
      const route = x < 0.2 ? 'public' : x < 0.65 ? 'api' : 'ops';
      const y = Math.random();
      let tok = null;

      if (y < 0.25) tok = pick(tokens.users);
      else if (y < 0.35) tok = pick(tokens.admins);
      else if (y < 0.55) {
        const revoked = tokens.revocable.filter((t) => t.state === 'revoked');
        const active = tokens.revocable.filter((t) => t.state === 'active');
        tok = revoked.length && (Math.random() < 0.6 || !active.length) ? pick(revoked) : active.length ? pick(active) : pick(tokens.users);
      } else if (y < 0.63) tok = pick(tokens.expiring);
      else if (y < 0.7) tok = pick(tokens.expired);
      else if (y < 0.9) tok = pick(tokens.forged);
      return send(gh, newRecord(gh, route, tok, n), tok ? { authorization: `Bearer ${tok.token}` } : {});
    };
    const newRecord = (gh, route, tok, n) => {
      const rec = {
        n,
        inst: gh.name,
        route,
        kind: tok ? tok.kind : 'missing',
        how: tok?.how,
        path: `/${route}/item/${n}`,
        tok,
        sentAt: 0,
        doneAt: 0,
        status: null,
      };
      records.push(rec);
      return rec;
    };
    const probes = new Set();

    const traffic = (async () => {
      let n = 0;
      const pending = new Set();
      while (Date.now() < endAt && !stopTraffic) {
        const due = Math.floor(((Date.now() - t0) / 1000) * rps);
        while (n < due && inflight < concurrency) {
          const p = nextRequest(n++);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        await sleep(5);
      }
      await Promise.all(pending);
      return n;
    })();

    // ----------------------------------------------------------- revocations
    const revoker = (async () => {
      const every = Math.max(200, Math.floor((seconds * 1000) / (tokens.revocable.length * 0.8)));
      let i = 0;
      while (Date.now() < endAt - 3000 && !stopTraffic) {
        await sleep(every);
        const tok = tokens.revocable.find((t) => t.state === 'active');
        if (!tok) break;
        const gh = gatehouses[i++ % 2];
        const body = i % 2 ? { jti: tok.jti, exp: tok.exp } : { token: tok.token };
        revocations.attempted++;
        tok.revokeStartedAt = Date.now();
        tok.state = 'revoking';
        try {
          const res = await gh.admin.request({
            path: '/admin/revoke',
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          await res.body.text();
          if (res.statusCode >= 200 && res.statusCode < 300) {
            tok.revokedAt = Date.now();
            tok.state = 'revoked';
            revocations.confirmed++;
            // the sharpest check: both instances, just after the 1 s grace
            setTimeout(() => {
              if (stopTraffic) return;
              for (const other of gatehouses) probes.add(send(other, newRecord(other, 'api', tok, 'probe'), { authorization: `Bearer ${tok.token}` }));
            }, REVOKE_GRACE_MS + 50);
          } else {
            tok.state = 'uncertain';
            revocations.failed++;
          }
        } catch {
          tok.state = 'uncertain';
          revocations.failed++;
        }
      }
    })();

    // ---------------------------------------------------------------- faults
    const faults = (async () => {
      const comps = { redis, jwks, upstream: upA };
      const order = ['redis', 'jwks', 'upstream', 'redis', 'upstream', 'jwks'];
      const down = { redis: 2500, jwks: 4000, upstream: 2500 };
      const first = Math.min(10_000, seconds * 150);
      const period = Math.max(3500, (seconds * 1000 - first - 6000) / 6);
      for (let i = 0; ; i++) {
        const at = t0 + first + i * period;
        const kind = order[i % order.length];
        // the last outage ends at least 4 s before the traffic does, so recovery is judged too
        if (at + down[kind] + 4000 > endAt) break;
        await sleep(at - Date.now());
        if (stopTraffic) break;
        const w = { kind, downAt: Date.now(), upAt: null };
        windows.push(w);
        await comps[kind].kill();
        log(`t=${((w.downAt - t0) / 1000).toFixed(1)}s ${kind} killed`);
        await sleep(down[kind]);
        await comps[kind].start();
        w.upAt = Date.now();
        log(`t=${((w.upAt - t0) / 1000).toFixed(1)}s ${kind} back`);
      }
    })();

    let sent;
    try {
      await Promise.all([traffic, revoker, faults]);
      await Promise.all(probes);
      sent = records.length;
    } finally {
      stopTraffic = true;
      clearInterval(memTimer);
    }
    sampleMemory();

    // ---------------------------------------------------------------- report
    const j = judge(records, windows, grace);
    const memory = gatehouses.map((gh) => {
      const warm = gh.rss.find((s) => s.t >= Math.min(10_000, seconds * 150)) ?? gh.rss[0];
      const end = gh.rss[gh.rss.length - 1];
      const peak = Math.max(...gh.rss.map((s) => s.rss ?? 0));
      const limit = Math.max(24 * 2 ** 20, 0.2 * (warm.rss ?? 0));
      return {
        instance: gh.name,
        pid: gh.proc.pid,
        rssStartMiB: mib(gh.rss[0].rss),
        rssWarmMiB: mib(warm.rss),
        rssEndMiB: mib(end.rss),
        rssPeakMiB: mib(peak),
        growthMiB: mib(end.rss - warm.rss),
        limitMiB: mib(limit),
        flat: end.rss !== null && warm.rss !== null && end.rss - warm.rss <= limit,
      };
    });
    const memoryFlat = memory.every((m) => m.flat);
    // how long each outage still showed after the component was back: the last 503 (Redis) / 502-504 (upstream) answered after upAt
    const recovery = windows.map((w) => {
      const codes = w.kind === 'redis' ? [503] : w.kind === 'upstream' ? [502, 504] : [];
      let last = null;
      for (const r of records)
        if (codes.includes(r.status) && w.upAt && r.doneAt >= w.upAt && r.sentAt <= w.upAt + grace[w.kind]) last = Math.max(last ?? 0, r.doneAt - w.upAt);
      return {
        kind: w.kind,
        downAtS: +((w.downAt - t0) / 1000).toFixed(2),
        upAtS: w.upAt ? +((w.upAt - t0) / 1000).toFixed(2) : null,
        lastFaultAnswerAfterUpMs: last,
      };
    });
    const targets = {
      wrongAccepts: j.wrongAccepts === 0,
      wrongDenials: j.wrongDenials === 0,
      unexpected5xx: j.unexpected5xx === 0,
      lost: j.lost === 0,
      memoryFlat: checkMemory ? memoryFlat : 'not checked (run shorter than 60 s)',
      revocations: revocations.confirmed > 0,
    };
    const passed = Object.values(targets).every((v) => v === true || typeof v === 'string');
    return {
      passed,
      when: new Date(t0).toISOString(),
      seconds,
      rps,
      concurrency,
      lostAfterMs,
      graceMs: { ...grace, revoked: REVOKE_GRACE_MS },
      memoryFlatRule: 'RSS at the end minus RSS after warm-up (first 10 s) <= max(24 MiB, 20% of the warm RSS), per instance',
      sent,
      answered: j.answered,
      wrongAccepts: j.wrongAccepts,
      wrongDenials: j.wrongDenials,
      unexpected5xx: j.unexpected5xx,
      expected5xx: j.expected5xx,
      lost: j.lost,
      lostByReason: j.lostByReason,
      maxRevokedAcceptLagMs: j.maxRevokedAcceptLagMs,
      revocations,
      faults: recovery,
      byStatus: j.byStatus,
      memory,
      targets,
      byKind: j.byKind,
      samples: j.samples,
      gatehouseLogs: Object.fromEntries([...logCounts].sort((a, b) => b[1] - a[1])),
    };
  } finally {
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
    await Promise.all(gatehouses.map((gh) => stopProc(gh.proc, 'SIGTERM', 4000)));
    await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b) => (b === null || b === undefined ? null : +(b / 2 ** 20).toFixed(1));

/** The table printed by soak/run.mjs. */
export function formatTable(r) {
  const row = (k, v, target = '') => `  ${k.padEnd(34)} ${String(v).padStart(10)}  ${target}`;
  const mark = (ok) => (ok === true ? 'ok' : ok === false ? 'MISSED' : ok);
  const lines = [
    `Gatehouse soak: ${r.seconds} s, ${r.rps} req/s max, ${r.concurrency} in flight max, 2 instances, faults: ${r.faults.map((f) => `${f.kind}@${f.downAtS}s`).join(' ')}`,
    row('requests sent', r.sent),
    row('answered', r.answered),
    row('wrong decisions: accepted', r.wrongAccepts, `target 0  ${mark(r.targets.wrongAccepts)}`),
    row('wrong decisions: denied/other 4xx', r.wrongDenials, `target 0  ${mark(r.targets.wrongDenials)}`),
    row('5xx outside fault windows', r.unexpected5xx, `target 0  ${mark(r.targets.unexpected5xx)}`),
    row('5xx inside fault windows (ok)', r.expected5xx),
    row(`lost (no answer in ${r.lostAfterMs / 1000} s or error)`, r.lost, `target 0  ${mark(r.targets.lost)}`),
    row('revocations confirmed/attempted', `${r.revocations.confirmed}/${r.revocations.attempted}`),
    row('max lag revoked token accepted ms', r.maxRevokedAcceptLagMs, `<= ${r.graceMs.revoked}`),
    row(
      'outage visible after back (max ms)',
      Math.max(0, ...r.faults.map((f) => f.lastFaultAnswerAfterUpMs ?? 0)),
      `grace ${r.graceMs.redis}/${r.graceMs.upstream} (redis/upstream)`,
    ),
    row(
      'statuses',
      Object.entries(r.byStatus)
        .map(([s, n]) => `${s}:${n}`)
        .join(' '),
    ),
  ];
  for (const m of r.memory)
    lines.push(
      row(
        `RSS ${m.instance} start/warm/end MiB`,
        `${m.rssStartMiB}/${m.rssWarmMiB}/${m.rssEndMiB}`,
        `growth ${m.growthMiB} MiB (limit ${m.limitMiB})  ${mark(r.targets.memoryFlat === true || r.targets.memoryFlat === false ? m.flat : r.targets.memoryFlat)}`,
      ),
    );
  lines.push(`  result: ${r.passed ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}
