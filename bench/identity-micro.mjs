// Micro-benchmark of the identity headers a verified token adds to the
// upstream request (proxy/upstream-request.ts, issue "Hot path per core"):
// CPU ns per request of Gatehouse's upstreamHeaders, for a new token on every
// request (each one a new VerifiedToken, as the verifier makes it) and for one
// repeated (cached) token. For scale, in the same run: the same identity
// headers memoised in a WeakMap keyed by the token, as Gatehouse did before,
// and encoded afresh every time with no memo at all. The garbage collector's
// work is in the figures (that is where a WeakMap's cost goes); each row starts
// on a freshly collected heap, in a process of its own.
//
//   npm run build && node bench/identity-micro.mjs
//   MICRO_N=2000000 MICRO_ROUNDS=5 node bench/identity-micro.mjs
import { identityPlan, identityValue } from '../dist/proxy/identity.js';
import { trustedProxyList } from '../dist/proxy/client-address.js';
import { upstreamHeaders } from '../dist/proxy/upstream-request.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { median } from './measure.mjs';

// a full collection before each measurement, so that no row pays for the garbage (or the WeakMap) another left
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const N = Number(process.env.MICRO_N ?? 1_000_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);

// The default identity headers (README "Identity headers") and a request as wrk sends it.
const plan = identityPlan({ 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope' }, true);
const deps = { sessionCookie: null, identity: plan, trusted: trustedProxyList([]), anyTrusted: false };
const route = { preserveHost: false, stripPrefix: null };
const req = {
  rawHeaders: ['Host', 'gatehouse.bench', 'User-Agent', 'wrk', 'Authorization', 'Bearer eyJ...'],
  headers: { host: 'gatehouse.bench' },
  socket: { remoteAddress: '127.0.0.1', encrypted: false },
};
const ctx = (identity) => ({
  req,
  requestId: 'r-1',
  path: '/api/x',
  query: '',
  identity,
  clientIp: '127.0.0.1',
  host: 'gatehouse.bench',
  credential: 'bearer',
  token: 't',
});

let serial = 0;
/** A VerifiedToken as Verifier.accept makes one (frozen, roles and scopes frozen, a fresh header memo). */
function verified() {
  const sub = `user-${serial++ % 10_000}`;
  const claims = { iss: 'https://idp.bench', aud: 'api', sub, exp: 2e9, iat: 1.9e9, roles: ['user', 'reader'], scope: 'read write' };
  return Object.freeze({
    claims,
    iss: claims.iss,
    sub,
    jti: undefined,
    iat: claims.iat,
    exp: claims.exp,
    sid: undefined,
    roles: Object.freeze(['user', 'reader']),
    scopes: Object.freeze(['read', 'write']),
    selfIssued: false,
    headerMemo: { plan: null, pairs: null },
  });
}

const encode = (token) => {
  const list = [];
  for (const h of plan.headers) {
    const value = identityValue(token, h.claim);
    if (value !== null) list.push(h.name, value);
  }
  return list;
};
const byToken = new WeakMap();
/** The memo Gatehouse had before: a WeakMap from token to its header list. */
const weakMapped = (token) => {
  let pairs = byToken.get(token);
  if (!pairs) byToken.set(token, (pairs = encode(token)));
  return pairs;
};

const repeated = verified();
const rows = {
  'new token: upstreamHeaders (Gatehouse)': () => upstreamHeaders(ctx(verified()), route, deps).length,
  'new token: reference, WeakMap memo (before)': () => weakMapped(verified()).length,
  'new token: reference, encoded, no memo': () => encode(verified()).length,
  'cached token: upstreamHeaders (Gatehouse)': () => upstreamHeaders(ctx(repeated), route, deps).length,
};

function measure(fn) {
  gc();
  const cpu = process.cpuUsage();
  for (let i = 0; i < N; i++) if (!fn()) throw new Error('no headers');
  const used = process.cpuUsage(cpu);
  return ((used.user + used.system) * 1000) / N;
}

// Each row runs in a process of its own (MICRO_ROW): in one process the rows disturbed each other (the same code
// measured 900-3,500 ns depending on which rows ran before it, through the inline caches they left).
if (process.env.MICRO_ROW !== undefined) {
  const fn = rows[process.env.MICRO_ROW];
  measure(fn); // warm-up
  process.stdout.write(String(measure(fn)));
} else {
  const results = Object.fromEntries(Object.keys(rows).map((name) => [name, []]));
  for (let r = 0; r < ROUNDS; r++)
    for (const name of Object.keys(rows)) {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, MICRO_ROW: name } });
      results[name].push(Number(out.toString()));
    }
  console.log(`identity headers, CPU ns per request (median of ${ROUNDS} processes of ${N} requests each; node ${process.version})`);
  for (const [name, runs] of Object.entries(results)) console.log(`  ${name.padEnd(46)} ${median(runs).toFixed(0).padStart(6)} ns`);
}
