import { KeyObject, verify as nodeVerify, type webcrypto } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { rawRequest, type RawResponse } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { signSegments, trailingBitSibling } from '../helpers/forge.js';
import { budget, report } from './settings.js';

/**
 * SPEC §5.3-§5.6 and SECURITY.md §1 as a property, through a real gateway and
 * a real upstream: start from a valid ES256 token with role admin, mutate it
 * at random (characters, segments, encodings, JSON claims and headers, with or
 * without a fresh signature from the right, the wrong or an attacker's key) and
 * send it to a route that requires role admin. Whatever the mutation, the
 * answer is 400/401/403 with a JSON error body and the upstream is not called,
 * unless the mutated token is still a canonical, validly signed, unexpired
 * token with role admin for its issuer (an oracle written here, independent of
 * the verifier, decides). Never a 5xx.
 */

const ISS_SELF = 'https://gatehouse.fuzz';
const ISS_EXT = 'https://idp.fuzz/realms/main';
const TOLERANCE_S = 30;

let selfKey: TestKey;
let extKey: TestKey;
let attacker: TestKey;
let up: TestUpstream;
let g: TestGateway;
let port: number;
const base: string[] = [];

interface Trusted {
  key: KeyObject;
  kid: string;
  selfIssued: boolean;
}
const trusted = new Map<string, Trusted>();

beforeAll(async () => {
  [selfKey, extKey, attacker] = await Promise.all([makeKey('ES256', 'fuzz-self'), makeKey('ES256', 'fuzz-ext'), makeKey('ES256', 'fuzz-attacker')]);
  up = await startUpstream();
  const dir = () => mkdtempSync(join(tmpdir(), 'gatehouse-fuzz-'));
  g = await startGateway({
    log: { level: 'warn' },
    issuer: { iss: ISS_SELF, audience: 'api', signingKeys: [{ file: writeJwkFile(selfKey.privateJwk, dir()) }] },
    trustedIssuers: [{ iss: ISS_EXT, keys: [{ file: writeJwkFile(extKey.publicJwk, dir()) }], audience: 'api', algorithms: ['ES256'] }],
    verify: { clockTolerance: `${TOLERANCE_S}s` },
    routes: [{ name: 'admin', match: { path: '/admin/**' }, upstream: up.url, auth: { roles: ['admin'] } }],
  });
  port = Number(new URL(g.url).port);
  const pub = (k: TestKey) => KeyObject.from(k.publicKey as unknown as webcrypto.CryptoKey);
  trusted.set(ISS_SELF, { key: pub(selfKey), kid: selfKey.kid, selfIssued: true });
  trusted.set(ISS_EXT, { key: pub(extKey), kid: extKey.kid, selfIssued: false });
  base.push(await signToken(selfKey, { roles: ['admin'] }, { iss: ISS_SELF, ttl: 3600 }));
  base.push(await signToken(extKey, { roles: ['admin'] }, { iss: ISS_EXT, ttl: 3600, typ: 'JWT' }));
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

// ---------------------------------------------------------------- the request

interface Sent {
  res: RawResponse;
  reached: boolean;
}

/** GET /admin/fuzz with `Authorization: Bearer <token>`, the token's characters sent as UTF-8 bytes. */
async function send(token: string): Promise<Sent> {
  const before = up.seen.length;
  const head = `GET /admin/fuzz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer `;
  const res = await rawRequest(
    port,
    Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(token, 'utf8'), Buffer.from('\r\nConnection: close\r\n\r\n', 'latin1')]),
  );
  return { res, reached: up.seen.length > before };
}

// ---------------------------------------------------------------- the oracle

const SEGMENT = /^[A-Za-z0-9_-]+$/;

function jsonObject(segment: string): Record<string, unknown> | null {
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment || !isUtf8(bytes)) return null;
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const typOf = (v: unknown) => (typeof v === 'string' ? v.toLowerCase().replace(/^application\//, '') : null);

/**
 * null when `token` is one Gatehouse may let through to an admin-only route:
 * canonical compact ES256 JWS, signed by the key of the issuer it names, no
 * embedded keys, not nested, not a refresh token, unexpired (with the
 * configured tolerance), audience "api", role "admin". Otherwise why not.
 * Deliberately lenient where the verifier may be stricter (sub/jti types, kid
 * absent): only "forwarded => admissible" is asserted.
 */
function whyInadmissible(token: string, nowS: number): string | null {
  if (Buffer.byteLength(token) > 8192) return 'too large';
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) return 'not compact base64url';
  const [h, p, s] = parts as [string, string, string];
  const header = jsonObject(h);
  const claims = jsonObject(p);
  if (!header || !claims) return 'header or payload is not a canonical JSON object';
  const sig = Buffer.from(s, 'base64url');
  if (sig.toString('base64url') !== s) return 'signature not canonical';
  if (header.alg !== 'ES256') return 'alg';
  for (const name of ['jwk', 'jku', 'x5u', 'x5c']) if (name in header) return `embedded ${name}`;
  if (typeof header.cty === 'string' && header.cty.toUpperCase() === 'JWT') return 'nested';
  // RFC 7515 §4.1.11: only "b64" is an extension a JWS library may understand, and then it must be present
  if (header.crit !== undefined) {
    const crit = header.crit;
    if (!Array.isArray(crit) || crit.length === 0 || !crit.every((c) => c === 'b64') || header.b64 !== true) return 'crit';
  }
  if (typOf(header.typ) === 'refresh+jwt') return 'refresh token';
  const issuer = typeof claims.iss === 'string' ? trusted.get(claims.iss) : undefined;
  if (!issuer) return 'issuer';
  if (issuer.selfIssued && typOf(header.typ) !== 'at+jwt') return 'typ of a self-issued token';
  if (typeof header.kid === 'string' && header.kid !== issuer.kid) return 'kid';
  if (!nodeVerify('sha256', Buffer.from(`${h}.${p}`), { key: issuer.key, dsaEncoding: 'ieee-p1363' }, sig)) return 'signature';
  if (!finite(claims.exp) || claims.exp <= nowS - TOLERANCE_S - 1) return 'exp';
  if (claims.nbf !== undefined && (!finite(claims.nbf) || claims.nbf > nowS + TOLERANCE_S + 1)) return 'nbf';
  if (claims.iat !== undefined && (!finite(claims.iat) || claims.iat > nowS + TOLERANCE_S + 1)) return 'iat';
  const aud = claims.aud;
  if (!(aud === 'api' || (Array.isArray(aud) && aud.includes('api')))) return 'aud';
  if (!Array.isArray(claims.roles) || !claims.roles.includes('admin')) return 'roles';
  return null;
}

// ---------------------------------------------------------------- mutations

type Part = 0 | 1 | 2;
type Signer = 'none' | 'own' | 'other' | 'attacker';
type Value = { del: true } | { set: fc.JsonValue };
type Mutation =
  | { op: 'flip'; part: Part; at: number; ch: string }
  | { op: 'insert'; part: Part; at: number; text: string }
  | { op: 'delete'; part: Part; at: number; count: number }
  | { op: 'swap'; a: Part; b: Part }
  | { op: 'case'; part: Part; mode: 'upper' | 'lower' | 'invert' }
  | { op: 'pad'; part: Part; text: string }
  | { op: 'truncate'; at: number }
  | { op: 'dots'; mode: 'double-first' | 'double-second' | 'leading' | 'trailing' | 'four-parts' | 'two-parts' | 'only-dots' }
  | { op: 'bytes'; part: Part; bytes: Uint8Array }
  | { op: 'std-base64'; part: Part }
  | { op: 'trailing-bits'; part: Part }
  | { op: 'oversize'; part: Part; n: number }
  | { op: 'json'; part: 0 | 1; field: string; value: Value; signer: Signer }
  | { op: 'raw-json'; part: 0 | 1; edit: RawEdit; signer: Signer };
type RawEdit =
  { kind: 'dup-first' | 'dup-last'; field: string; literal: string } | { kind: 'bom' | 'whitespace' | 'array' | 'invalid-utf8' | 'trailing-garbage' | 'nul' };

const NOW = Math.floor(Date.now() / 1000);
/** characters a header value can carry without ending the header line (CR and LF would be a different request) */
const CHARS = [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  '.',
  '=',
  '+',
  '/',
  ' ',
  '\t',
  '%',
  '"',
  ',',
  '~',
  '\\',
  '\u0000',
  '\u0001',
  '\u007f',
  'é',
  'ÿ',
  '€',
  '\u{1F600}',
];
const part = fc.constantFrom<Part>(0, 1, 2);
const signer = fc.constantFrom<Signer>('none', 'own', 'own', 'own', 'other', 'attacker');
const weirdString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('\ud800', 'a\udfff', '\u0000', 'x\r\ny: 1', '\u00e9', 'guest,admin', '"', ''),
);
const json = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2, stringUnit: 'binary' }) },
  { weight: 1, arbitrary: weirdString },
);

/** plausible and hostile values per claim or header parameter, then anything JSON */
const FIELD_VALUES: Record<string, fc.JsonValue[]> = {
  alg: ['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'HS256', 'EdDSA', 'none', 'None', 'es256', ''],
  typ: ['at+jwt', 'AT+JWT', 'application/at+jwt', 'JWT', 'jwt', 'refresh+jwt', 'application/refresh+jwt', 'Refresh+JWT', ''],
  kid: ['fuzz-self', 'fuzz-ext', 'fuzz-attacker', '', '../../../dev/null', 'fuzz-self ', 'FUZZ-SELF'],
  crit: [['exp'], ['b64'], [], ['kid'], 'b64', [1]],
  b64: [true, false],
  cty: ['JWT', 'jwt', 'application/jwt', 'json'],
  jwk: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }],
  jku: ['http://127.0.0.1:1/jwks'],
  x5u: ['http://127.0.0.1:1/cert'],
  x5c: [[], ['AA==']],
  zip: ['DEF'],
  iss: [ISS_SELF, ISS_EXT, `${ISS_SELF}/`, 'HTTPS://gatehouse.fuzz', '', 'https://evil.test'],
  aud: ['api', ['api'], ['other', 'api'], 'API', [], 'other', ['api ', 'x']],
  exp: [NOW + 300, NOW - 100, NOW - TOLERANCE_S + 5, NOW - TOLERANCE_S - 5, 0, -1, 1e308, Number.MAX_SAFE_INTEGER, 1.5, -0, '9999999999', null],
  nbf: [NOW + 1000, NOW - 10, NOW + TOLERANCE_S - 5, '0', null],
  iat: [NOW + 1000, NOW, NOW - 10, NOW + TOLERANCE_S - 5, 'now', null],
  roles: [
    ['admin'],
    'admin',
    ['Admin'],
    ['user'],
    [],
    ['user', 'admin'],
    [['admin']],
    { admin: true },
    'user admin',
    ['admin', '\ud800'],
    ['admin', 'x\r\ny'],
    ['admin', 'é'],
    ['admin', 'a,b'],
    ['admin', 7],
  ],
  sub: ['alice', '', 123, 'bob\r\nX-Injected: 1', '\ud800', 'é', { id: 1 }],
  jti: ['x', 1, '', null],
  sid: ['s', 1, null],
  scope: ['admin', ['admin'], 7],
  realm_access: [{ roles: ['admin'] }],
  ['__proto__']: [{ roles: ['admin'] }],
};
const HEADER_FIELDS = ['alg', 'typ', 'kid', 'crit', 'b64', 'cty', 'jwk', 'jku', 'x5u', 'x5c', 'zip'];
const CLAIM_FIELDS = ['iss', 'aud', 'exp', 'nbf', 'iat', 'roles', 'sub', 'jti', 'sid', 'scope', 'realm_access', '__proto__'];

const fieldEdit = (p: 0 | 1, fields: string[]) =>
  fc.tuple(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...fields) }, { weight: 1, arbitrary: fc.string({ maxLength: 5 }) })).chain(([field]) => {
    const known = Object.hasOwn(FIELD_VALUES, field) ? (FIELD_VALUES[field] as fc.JsonValue[]) : [];
    const set = known.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: json }) : json;
    const value: fc.Arbitrary<Value> = fc.oneof(
      { weight: 5, arbitrary: set.map((v) => ({ set: v })) },
      { weight: 1, arbitrary: fc.constant({ del: true as const }) },
    );
    return fc.record({ op: fc.constant('json' as const), part: fc.constant(p), field: fc.constant(field), value, signer });
  });

const LITERALS = [
  '1e309',
  '-1e309',
  '1e-400',
  '"admin"',
  '["admin"]',
  'null',
  'true',
  '{}',
  '[]',
  `${NOW + 300}`,
  `${NOW - 300}`,
  '9007199254740993',
  '"\\ud800"',
  '["admin","\\ud800"]',
  '{"__proto__":{"roles":["admin"]}}',
  '"https://gatehouse.fuzz"',
  '"at+jwt"',
  '"refresh+jwt"',
  '"ES256"',
  '"none"',
];
const rawEdit: fc.Arbitrary<RawEdit> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('dup-first' as const, 'dup-last' as const),
      field: fc.constantFrom(...HEADER_FIELDS, ...CLAIM_FIELDS),
      literal: fc.constantFrom(...LITERALS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('bom' as const, 'whitespace' as const, 'array' as const, 'invalid-utf8' as const, 'trailing-garbage' as const, 'nul' as const),
    }),
  },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), part, at: fc.nat(), ch: fc.constantFrom(...CHARS) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('insert' as const),
      part,
      at: fc.nat(),
      text: fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: 6 }).map((c) => c.join('')),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), part, at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap' as const), a: part, b: part }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('case' as const), part, mode: fc.constantFrom('upper' as const, 'lower' as const, 'invert' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('pad' as const), part, text: fc.constantFrom('=', '==', '===', '%3D', '.') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('dots' as const),
      mode: fc.constantFrom(
        'double-first' as const,
        'double-second' as const,
        'leading' as const,
        'trailing' as const,
        'four-parts' as const,
        'two-parts' as const,
        'only-dots' as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bytes' as const), part, bytes: fc.uint8Array({ maxLength: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('std-base64' as const), part }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('trailing-bits' as const), part }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('oversize' as const), part, n: fc.integer({ min: 7000, max: 9000 }) }) },
  { weight: 5, arbitrary: fieldEdit(0, HEADER_FIELDS) },
  { weight: 8, arbitrary: fieldEdit(1, CLAIM_FIELDS) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('raw-json' as const), part: fc.constantFrom<0 | 1>(0, 1), edit: rawEdit, signer }) },
);

const KEYS = (): Record<Exclude<Signer, 'none'>, [own: TestKey, other: TestKey]> => ({
  own: [selfKey, extKey],
  other: [extKey, selfKey],
  attacker: [attacker, attacker],
});

function resign(parts: string[], who: Signer, baseIndex: number): string[] {
  if (who === 'none' || parts.length < 2) return parts;
  const key = KEYS()[who][baseIndex === 0 ? 0 : 1];
  const [h, p] = parts as [string, string];
  return signSegments(key, 'ES256', h, p).split('.');
}

function withJson(seg: string, edit: (obj: Record<string, unknown>) => void): string | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const obj = v as Record<string, unknown>;
  edit(obj);
  return Buffer.from(JSON.stringify(obj), 'utf8').toString('base64url');
}

function rawJson(seg: string, e: RawEdit): string {
  const text = Buffer.from(seg, 'base64url');
  const s = text.toString('latin1');
  let out: Buffer;
  switch (e.kind) {
    case 'dup-first':
      out = Buffer.from(`{"${e.field}":${e.literal},${s.slice(1)}`, 'latin1');
      break;
    case 'dup-last':
      out = Buffer.from(`${s.slice(0, -1)},"${e.field}":${e.literal}}`, 'latin1');
      break;
    case 'bom':
      out = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text]);
      break;
    case 'whitespace':
      out = Buffer.from(` \n${s}\t `, 'latin1');
      break;
    case 'array':
      out = Buffer.from(`[${s}]`, 'latin1');
      break;
    case 'invalid-utf8':
      out = Buffer.concat([text.subarray(0, -1), Buffer.from([0x2c, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d])]); // ,"x":"<overlong />"}
      break;
    case 'trailing-garbage':
      out = Buffer.from(`${s}}x`, 'latin1');
      break;
    case 'nul':
      out = Buffer.concat([text, Buffer.from([0])]);
      break;
  }
  return out.toString('base64url');
}

/** The mutated token; never throws (a mutation that does not apply leaves the token as it was). */
function apply(token: string, m: Mutation, baseIndex: number): string {
  let parts = token.split('.');
  const at = (p: number) => Math.min(p, parts.length - 1);
  const edit = (p: Part, f: (s: string) => string) => {
    const i = at(p);
    parts[i] = f(parts[i] ?? '');
  };
  switch (m.op) {
    case 'flip':
      edit(m.part, (s) => (s.length === 0 ? m.ch : s.slice(0, m.at % s.length) + m.ch + s.slice((m.at % s.length) + 1)));
      break;
    case 'insert':
      edit(m.part, (s) => s.slice(0, m.at % (s.length + 1)) + m.text + s.slice(m.at % (s.length + 1)));
      break;
    case 'delete':
      edit(m.part, (s) => (s.length === 0 ? s : s.slice(0, m.at % s.length) + s.slice((m.at % s.length) + m.count)));
      break;
    case 'swap': {
      const a = at(m.a);
      const b = at(m.b);
      [parts[a], parts[b]] = [parts[b] as string, parts[a] as string];
      break;
    }
    case 'case':
      edit(m.part, (s) =>
        m.mode === 'upper'
          ? s.toUpperCase()
          : m.mode === 'lower'
            ? s.toLowerCase()
            : [...s].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(''),
      );
      break;
    case 'pad':
      edit(m.part, (s) => s + m.text);
      break;
    case 'truncate': {
      const whole = parts.join('.');
      return whole.slice(0, m.at % (whole.length + 1));
    }
    case 'dots': {
      const whole = parts.join('.');
      const first = whole.indexOf('.');
      const second = whole.indexOf('.', first + 1);
      if (m.mode === 'double-first' && first >= 0) return `${whole.slice(0, first)}.${whole.slice(first)}`;
      if (m.mode === 'double-second' && second >= 0) return `${whole.slice(0, second)}.${whole.slice(second)}`;
      if (m.mode === 'leading') return `.${whole}`;
      if (m.mode === 'trailing') return `${whole}.`;
      if (m.mode === 'four-parts') return `${whole}.${parts[parts.length - 1] ?? ''}`;
      if (m.mode === 'two-parts') return parts.slice(0, 2).join('.');
      if (m.mode === 'only-dots') return '..';
      return whole;
    }
    case 'bytes':
      edit(m.part, () => Buffer.from(m.bytes).toString('base64url'));
      break;
    case 'std-base64':
      edit(m.part, (s) => Buffer.from(s, 'base64url').toString('base64'));
      break;
    case 'trailing-bits':
      // same bytes to a lenient decoder, a different string: canonical encoding is required (SECURITY.md J25)
      edit(m.part, (s) => trailingBitSibling(s) ?? s);
      break;
    case 'oversize':
      edit(m.part, (s) => s + 'A'.repeat(m.n));
      break;
    case 'json': {
      const next = withJson(parts[at(m.part)] ?? '', (obj) => {
        if ('del' in m.value) delete obj[m.field];
        else Object.defineProperty(obj, m.field, { value: m.value.set, enumerable: true, writable: true, configurable: true });
      });
      if (next === null) break;
      parts[at(m.part)] = next;
      parts = resign(parts, m.signer, baseIndex);
      break;
    }
    case 'raw-json':
      parts[at(m.part)] = rawJson(parts[at(m.part)] ?? '', m.edit);
      parts = resign(parts, m.signer, baseIndex);
      break;
  }
  return parts.join('.');
}

// ---------------------------------------------------------------- the property

/** run first on every seed: what earlier fuzzing found (a lone surrogate in a claim once turned a valid token into a 502) */
const EXAMPLES: Array<[number, Mutation[]]> = [
  [0, [{ op: 'json', part: 1, field: 'roles', value: { set: ['admin', '\ud800'] }, signer: 'own' }]],
  [1, [{ op: 'json', part: 1, field: 'sub', value: { set: 'a\udfff' }, signer: 'own' }]],
  [0, [{ op: 'json', part: 1, field: 'roles', value: { set: ['admin', 'x\r\ny: 1'] }, signer: 'own' }]],
  [1, [{ op: 'raw-json', part: 1, edit: { kind: 'dup-last', field: 'exp', literal: '1e309' }, signer: 'own' }]],
  [
    0,
    [
      { op: 'json', part: 0, field: 'alg', value: { set: 'none' }, signer: 'none' },
      { op: 'truncate', at: 100_000 },
    ],
  ],
  [1, [{ op: 'json', part: 1, field: 'roles', value: { set: ['Admin'] }, signer: 'own' }]],
  [0, [{ op: 'json', part: 0, field: 'cty', value: { set: 'JWT' }, signer: 'own' }]],
  [1, [{ op: 'json', part: 1, field: 'iss', value: { set: ISS_SELF }, signer: 'own' }]],
  [0, [{ op: 'trailing-bits', part: 2 }]],
];

const STATUS_CODES: Record<number, string[]> = { 400: ['invalid_request'], 401: ['invalid_token', 'unauthorized'], 403: ['insufficient_scope'] };

describe('token verification under fuzzing (SPEC §5.3-§5.6)', () => {
  it('the unmutated tokens reach the upstream, so the property below is not vacuous', async () => {
    for (const token of base) {
      const { res, reached } = await send(token);
      expect(res.status, res.body).toBe(200);
      expect(reached).toBe(true);
    }
  });

  const b = budget(500, 4);
  it(
    'a mutated token reaches an admin-only upstream only if it is still valid with role admin; otherwise 400/401/403 JSON, never 5xx',
    async () => {
      const counts = { cases: 0, identical: 0, forwarded: 0, admissibleRefused: 0, s400: 0, s401: 0, s403: 0, s431: 0 };
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(0, 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (baseIndex, mutations) => {
          const original = base[baseIndex] as string;
          const token = mutations.reduce((t, m) => apply(t, m, baseIndex), original);
          counts.cases++;
          if (token === original) return void counts.identical++;
          const { res, reached } = await send(token);
          const why = whyInadmissible(token, Math.floor(Date.now() / 1000));
          const show = `token ${JSON.stringify(token)} -> ${res.status} ${res.body.slice(0, 300)}`;
          if (res.status >= 500 || res.status === 0) throw new Error(`server error or no answer: ${show}`);
          if (reached || res.status === 200) {
            if (why !== null) throw new Error(`an inadmissible token (${why}) reached the upstream: ${show}`);
            if (!reached || res.status !== 200) throw new Error(`an admissible token was answered without the upstream: ${show}`);
            counts.forwarded++;
            return;
          }
          if (why === null) counts.admissibleRefused++;
          // only a header past server.maxHeaderBytes (16 KiB) may be answered 431 instead
          const allowed = res.status === 431 && Buffer.byteLength(token) > 16_000 ? ['request_header_fields_too_large'] : STATUS_CODES[res.status];
          if (!allowed) throw new Error(`unexpected status: ${show}`);
          if (!/^application\/json/.test(res.headers['content-type'] ?? '')) throw new Error(`not JSON: ${show}`);
          const body = JSON.parse(res.body) as { error?: unknown; request_id?: unknown };
          if (typeof body.error !== 'string' || !allowed.includes(body.error) || typeof body.request_id !== 'string')
            throw new Error(`bad error body: ${show}`);
          counts[`s${res.status}` as 's400' | 's401' | 's403' | 's431']++;
        }),
        { seed: b.seed, numRuns: b.numRuns, examples: EXAMPLES },
      );
      report('verify/mutated-tokens', b, counts);
      expect(counts.s401).toBeGreaterThan(0);
    },
    b.timeoutMs,
  );
});
