/**
 * Identity header values are an injective encoding of claim values (issue
 * "Security round 2", item 2): decode(encode(x)) gives x back, and two
 * different values or lists never produce the same header. The decoder here
 * is the rule README gives backends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeItem, identityValue } from '../../src/proxy/identity.js';
import type { VerifiedToken } from '../../src/tokens/verifier.js';

/** README's decoding rule: split on ","; `{`/`[` starts JSON; a JSON number/true/false/null is that; anything else is percent-decoded UTF-8 text (WTF-8 for lone surrogates). */
function decodeItem(item: string): unknown {
  if (item.startsWith('{') || item.startsWith('[')) return JSON.parse(percentDecode(item)) as unknown;
  if (/^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/.test(item)) return JSON.parse(item) as unknown;
  return percentDecode(item);
}

function percentDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i));
  }
  // WTF-8: like UTF-8, but a 3-byte sequence may carry a lone surrogate
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i += 1;
    } else if (b < 0xe0) {
      out += String.fromCharCode(((b & 31) << 6) | ((bytes[i + 1] as number) & 63));
      i += 2;
    } else if (b < 0xf0) {
      out += String.fromCharCode(((b & 15) << 12) | (((bytes[i + 1] as number) & 63) << 6) | ((bytes[i + 2] as number) & 63));
      i += 3;
    } else {
      out += String.fromCodePoint(
        ((b & 7) << 18) | (((bytes[i + 1] as number) & 63) << 12) | (((bytes[i + 2] as number) & 63) << 6) | ((bytes[i + 3] as number) & 63),
      );
      i += 4;
    }
  }
  return out;
}

const token = (claims: Record<string, unknown>, roles: string[] = [], scopes: string[] = []): VerifiedToken =>
  ({ claims, iss: 'i', sub: 's', jti: undefined, iat: undefined, exp: 0, sid: undefined, roles, scopes, selfIssued: false }) as VerifiedToken;

const HEADER_SAFE = /^[\x21-\x7e]*$/;
const claimValue = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())),
);
/** what JSON would give a verifier: -0 becomes 0 */
const normal = (v: unknown): unknown => JSON.parse(JSON.stringify(v) ?? 'null') as unknown;

describe('identity header encoding', () => {
  it.each([
    ['alice@example.com', 'alice@example.com'],
    [' alice', '%20alice'],
    ['alice ', 'alice%20'],
    ['%61lice', '%2561lice'],
    ['a,b', 'a%2Cb'],
    ['Zoë', 'Zo%C3%AB'],
    ['42', '%342'],
    ['true', '%74rue'],
    ['-1', '%2D1'],
    ['42abc', '42abc'],
    ['{"a":1}', '%7B%22a%22:1%7D'],
    ['', ''],
    ['line\r\nX-Injected: 1', 'line%0D%0AX-Injected:%201'],
    ['\ud800', '%ED%A0%80'],
    ['\ufffd', '%EF%BF%BD'],
  ])('the string %j is sent as %s', (value, header) => {
    expect(encodeItem(value)).toBe(header);
    expect(decodeItem(header)).toBe(value);
  });

  it.each([
    [42, '42'],
    [true, 'true'],
    [null, 'null'],
    [{ tenant: 'a b,c' }, '{"tenant":"a%20b%2Cc"}'],
  ])('the value %j is sent as %s', (value, header) => {
    expect(encodeItem(value)).toBe(header);
    expect(decodeItem(header)).toEqual(value);
  });

  it('lists: each item on its own, joined with ","; an empty list sends no header', () => {
    expect(identityValue(token({}, ['admin', 'guest,admin', ' x']), 'roles')).toBe('admin,guest%2Cadmin,%20x');
    expect(identityValue(token({}, []), 'roles')).toBeNull();
    expect(identityValue(token({}, [], []), 'scope')).toBeNull();
    expect(identityValue(token({ groups: [] }), 'groups')).toBeNull();
    expect(identityValue(token({}), 'missing')).toBeNull();
  });

  it('round trip: decode(encode(x)) is x for every claim value (property)', () => {
    fc.assert(
      fc.property(claimValue, (v) => {
        const header = encodeItem(v);
        expect(header).toMatch(HEADER_SAFE);
        expect(decodeItem(header)).toEqual(normal(v));
      }),
      { seed: 0x1d7, numRuns: 3000 },
    );
  });

  it('injective: two different values never give the same header, nor two different lists (property)', () => {
    fc.assert(
      fc.property(claimValue, claimValue, (a, b) => {
        if (JSON.stringify(normal(a)) !== JSON.stringify(normal(b))) expect(encodeItem(a)).not.toBe(encodeItem(b));
      }),
      { seed: 0x1d8, numRuns: 3000 },
    );
    const list = fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(list, list, (a, b) => {
        const ha = identityValue(token({}, a), 'roles');
        const hb = identityValue(token({}, b), 'roles');
        if (JSON.stringify(a) !== JSON.stringify(b)) expect(ha).not.toBe(hb);
        expect((ha as string).split(',').map(decodeItem)).toEqual(a);
      }),
      { seed: 0x1d9, numRuns: 3000 },
    );
  });

  it('the classic collisions are gone: whitespace, percent, separators, types', () => {
    const pairs: Array<[unknown, unknown]> = [
      ['alice', ' alice'],
      ['alice', 'alice '],
      ['alice', '%61lice'],
      ['1', 1],
      ['true', true],
      ['null', null],
      ['{"a":1}', { a: 1 }],
      ['\ud800', '\ufffd'],
    ];
    for (const [a, b] of pairs) expect(encodeItem(a), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).not.toBe(encodeItem(b));
    expect(identityValue(token({}, ['a,b']), 'roles')).not.toBe(identityValue(token({}, ['a', 'b']), 'roles'));
    expect(identityValue(token({}, ['a', ' b']), 'roles')).not.toBe(identityValue(token({}, ['a', 'b']), 'roles'));
  });
});
