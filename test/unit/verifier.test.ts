/**
 * The token pre-flight and the jose error mapping, without a gateway: the
 * checks that run before any crypto, and the promise that every error becomes
 * invalid_token. The same refusals end to end: test/security/jwt.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { mapJoseError, preflight } from '../../src/tokens/verifier.js';
import { seg, trailingBitSibling, withHeader } from '../helpers/forge.js';
import { makeKey, parts, signToken } from '../helpers/keys.js';

/** The reason of the invalid_token GatewayError that `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('invalid_token');
    return (err as GatewayError).reason;
  }
  throw new Error('expected preflight to throw');
}

describe('preflight', () => {
  it('decodes a header segment once for every token that shares it, and still checks it on every token', async () => {
    const key = await makeKey('ES256', 'ec-1');
    const a = await signToken(key, { sub: 'a' }, { iss: 'https://idp-ec.test' });
    const b = await signToken(key, { sub: 'b' }, { iss: 'https://idp-ec.test' });
    expect(parts(a)[0]).toBe(parts(b)[0]);
    const first = preflight(a, 8192);
    const second = preflight(b, 8192);
    expect(second.header).toBe(first.header); // one decoded object, shared
    expect(Object.isFrozen(second.header)).toBe(true);
    expect(second.payload.sub).toBe('b');
    // a cached header keeps being refused where it must: a refresh token's header, every time it comes
    const refresh = withHeader(a, (h) => (h.typ = 'refresh+jwt'));
    expect(refusal(() => preflight(refresh, 8192))).toBe('refresh_token_as_access');
    expect(refusal(() => preflight(refresh, 8192))).toBe('refresh_token_as_access');
    // a header holding an object or a list is decoded afresh each time (never shared, never frozen)
    const crit = withHeader(a, (h) => (h.crit = ['exp']));
    const c1 = preflight(crit, 8192);
    const c2 = preflight(crit, 8192);
    expect(c2.header).not.toBe(c1.header);
    expect(c2.header.crit).toEqual(['exp']);
    // more distinct headers than the cache holds: each still decodes to its own values
    for (let i = 0; i < 300; i++)
      expect(
        preflight(
          withHeader(a, (h) => (h.kid = `k${i}`)),
          8192,
        ).header.kid,
      ).toBe(`k${i}`);
    expect(preflight(a, 8192).header.kid).toBe(key.kid);
  });

  it('takes a segment exactly when re-encoding its bytes gives it back (every last character, every length mod 4)', async () => {
    const key = await makeKey('ES256', 'ec-1');
    const [h, p] = parts(await signToken(key, {}, { iss: 'https://idp-ec.test' }));
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let refused = 0;
    for (let len = 1; len <= 12; len++) {
      for (const last of ALPHABET) {
        const body = Array.from({ length: len - 1 }, (_, i) => ALPHABET[(i * 7 + len) % 64]).join('');
        const sig = body + last;
        const reencodes = Buffer.from(sig, 'base64url').toString('base64url') === sig;
        const attempt = () => preflight(`${h}.${p}.${sig}`, 8192);
        if (reencodes) expect(attempt().signature.toString('base64url')).toBe(sig);
        else {
          expect(refusal(attempt)).toBe('bad_signature_encoding');
          refused++;
        }
      }
    }
    // lengths 4n+1 (all 64), 4n+2 (all but 4 of 64), 4n+3 (all but 16 of 64), three of each
    expect(refused).toBe(3 * 64 + 3 * 60 + 3 * 48);
  });

  it('refuses shapes, non-canonical segments, embedded keys, nested and refresh tokens before any crypto', async () => {
    const [key, attacker] = await Promise.all([makeKey('ES256', 'ec-1'), makeKey('ES256', 'attacker-1')]);
    const token = await signToken(key, {}, { iss: 'https://idp-ec.test' });
    const [h, p, s] = parts(token);
    expect(preflight(token, 8192).header.kid).toBe(key.kid);
    const cases: Array<[string, () => unknown, string]> = [
      ['empty', () => preflight('', 8192), 'malformed'],
      ['two segments', () => preflight(`${h}.${p}`, 8192), 'malformed'],
      ['padded signature', () => preflight(`${h}.${p}.${s}=`, 8192), 'malformed'],
      ['trailing-bit sibling', () => preflight(`${h}.${p}.${trailingBitSibling(s) as string}`, 8192), 'bad_signature_encoding'],
      ['one byte over the limit', () => preflight(token, token.length - 1), 'token_too_large'],
      [
        'embedded jwk',
        () =>
          preflight(
            withHeader(token, (x) => (x.jwk = attacker.publicJwk)),
            8192,
          ),
        'embedded_key_header',
      ],
      [
        'cty JWT',
        () =>
          preflight(
            withHeader(token, (x) => (x.cty = 'JWT')),
            8192,
          ),
        'nested_jwt',
      ],
      [
        'refresh typ',
        () =>
          preflight(
            withHeader(token, (x) => (x.typ = 'refresh+jwt')),
            8192,
          ),
        'refresh_token_as_access',
      ],
      ['array payload', () => preflight(`${h}.${seg('[]')}.${s}`, 8192), 'bad_payload'],
      ['header without alg', () => preflight(`${seg('{"kid":"x"}')}.${p}.${s}`, 8192), 'bad_header'],
    ];
    for (const [name, fn, reason] of cases) expect(refusal(fn), name).toBe(reason);
  });
});

describe('mapJoseError', () => {
  it('maps every error, jose or not, to invalid_token', () => {
    for (const err of [new Error('boom'), new TypeError('x'), 'string', null, undefined]) {
      const mapped = mapJoseError(err);
      expect(mapped.code).toBe('invalid_token');
      expect(mapped.status).toBe(401);
    }
  });
});
