// Micro-benchmark of a cached token's admission (issue "Hot path per core"):
// CPU per request of finding the bearer token in the headers and the
// verifier's cache hit (pipeline/extract.ts + Verifier.verify), for a short
// self-issued token and an IdP-sized one. Each request's header is a new
// string, as Node's HTTP parser makes one per request. For scale, in the same
// run: the same header scanned with the b64token regex, and a Map lookup by
// the whole token: what finding a cached token cost before it was keyed by
// the token's last characters (V8 hashes a new string in full, ~1.6 ns a
// character).
//
//   npm run build && node bench/cached-micro.mjs
//   MICRO_N=2000000 MICRO_ROUNDS=5 node bench/cached-micro.mjs
import { generateKeyPairSync } from 'node:crypto';
import { extractBearer } from '../dist/pipeline/extract.js';
import { median } from './measure.mjs';
import { inProcesses, isolatedRow, microVerifier, nsPerCall, report, signJwt } from './micro.mjs';

const N = Number(process.env.MICRO_N ?? 1_000_000);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 5);
const BEARER = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9\-._~+/]+=*)$/;

/** A verifier with one ES256 token in its cache; `pad` characters of claims make the token longer. */
async function setup(pad) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256', use: 'sig' };
  const token = signJwt(privateKey, 'ES256', 'k', 'user-1', pad ? { groups: 'g'.repeat(pad) } : {});
  const verifier = microVerifier(jwk, 'ES256', { cacheMaxEntries: 100_000 });
  const first = await verifier.verify(token);
  const header = Buffer.from(`Bearer ${token}`, 'latin1');
  // a new string per request, as the HTTP parser makes
  const fresh = () => header.latin1Slice(0, header.length);
  const raw = ['Host', 'gatehouse.bench', 'User-Agent', 'wrk', 'Authorization', ''];
  const byWholeToken = new Map([[token, first]]);
  const rows = {
    'extract + cache hit (Gatehouse)': () => {
      raw[5] = fresh();
      const found = extractBearer(raw, '', verifier.accepted);
      return verifier.verify(found.token) === first;
    },
    'reference: b64token regex': () => BEARER.exec(fresh()) !== null,
    'reference: Map.get(whole token)': () => byWholeToken.get(fresh().slice(7)) === first,
  };
  return { length: token.length, rows };
}

// Rows are named "<pad>:<row>"; each runs in a process of its own (bench/micro.mjs), on a collected heap.
const PADS = [0, 850];
const row = isolatedRow();
if (row !== null) {
  const split = row.indexOf(':');
  const { length, rows } = await setup(Number(row.slice(0, split)));
  const fn = rows[row.slice(split + 1)];
  nsPerCall(fn, N); // warm-up
  report({ length, ns: nsPerCall(fn, N) });
} else {
  console.log(`node ${process.version}, ${N} requests per row and round, ${ROUNDS} rounds (a process per row and round), CPU ns per request (median)`);
  const names = Object.keys((await setup(0)).rows);
  const results = inProcesses(
    import.meta.url,
    PADS.flatMap((pad) => names.map((name) => `${pad}:${name}`)),
    ROUNDS,
  );
  for (const pad of PADS) {
    console.log(`\ntoken of ${results[`${pad}:${names[0]}`][0].length} characters`);
    for (const name of names)
      console.log(
        `  ${name.padEnd(34)} ${median(results[`${pad}:${name}`].map((r) => r.ns))
          .toFixed(0)
          .padStart(6)} ns`,
      );
  }
}
