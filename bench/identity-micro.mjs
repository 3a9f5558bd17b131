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
import { median } from './measure.mjs';
import { inProcesses, isolatedRow, nsPerCall, report } from './micro.mjs';

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

// each row in a process of its own (bench/micro.mjs), on a collected heap
const row = isolatedRow();
if (row !== null) {
  nsPerCall(rows[row], N); // warm-up
  report(nsPerCall(rows[row], N));
} else {
  const results = inProcesses(import.meta.url, Object.keys(rows), ROUNDS);
  console.log(`identity headers, CPU ns per request (median of ${ROUNDS} processes of ${N} requests each; node ${process.version})`);
  for (const [name, runs] of Object.entries(results)) console.log(`  ${name.padEnd(46)} ${median(runs).toFixed(0).padStart(6)} ns`);
}
