import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { extractBearer, type Extracted } from '../../src/pipeline/extract.js';

/** extractBearer as a table: SPEC §5.3, RFC 6750 §2.1 (one space, scheme case-insensitive), §2 (one method only), SECURITY.md P26-P28, J34. */

const T = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';

function extract(values: string[], query = ''): Extracted {
  return extractBearer(
    values.flatMap((v) => ['Authorization', v]),
    query,
  );
}

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error('expected a 400 invalid_request');
}

describe('extractBearer', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('scheme %s is accepted', (scheme) => {
    expect(extract([`${scheme} ${T}`])).toEqual({ kind: 'bearer', token: T });
  });

  it('accepts every b64token character, with trailing "=" padding', () => {
    const token = 'AZaz09-._~+/abc==';
    expect(extract([`Bearer ${token}`])).toEqual({ kind: 'bearer', token });
  });

  it('no Authorization header is no token', () => {
    expect(extractBearer(['Host', 'x', 'Cookie', 'access_token=abc'], '')).toEqual({ kind: 'none' });
  });

  it.each([
    ['Basic dXNlcjpwYXNz', 'Basic'],
    ['Token abc', 'Token'],
    ['Digest username="a", realm="b"', 'Digest'],
    ['DPoP abc', 'DPoP'],
    ['Negotiate', 'scheme alone'],
  ])('%s is another scheme, not a bearer token (%s)', (value) => {
    expect(extract([value])).toEqual({ kind: 'other-scheme' });
  });

  it.each([
    [`Bearer\t${T}`, 'TAB instead of a space'],
    [`Bearer${T}`, 'no space: "BearerT"'],
    ['BearerToken', 'no space, short'],
    [`Bearer ${T} x`, 'trailing word'],
    [`Bearer  ${T}`, 'two spaces'],
    [`Bearer ${T} `, 'trailing space'],
    [` Bearer ${T}`, 'leading space'],
    ['Bearer', 'scheme without token'],
    ['Bearer ', 'scheme and a space'],
    ['', 'empty value'],
    [`Bearer ${T}, Bearer ${T}`, 'J34 a list of two bearer credentials in one header'],
    [`Bearer ${T},Bearer ${T}`, 'J34 a list without a space'],
    [`Bearer "${T}"`, 'quoted token'],
    [`Bearer ${T}=x`, '"=" only as trailing padding'],
    ['Bearer a:b', 'character outside b64token'],
    ['Bearer tok\u00e9n', 'non-ASCII'],
  ])('%j -> 400 invalid_request (%s)', (value) => {
    const e = refusal(() => extract([value]));
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_request');
    expect(e.reason).toBe('malformed_authorization');
  });

  it.each([
    [[`Bearer ${T}`, `Bearer ${T}`], 'the same token twice'],
    [[`Bearer ${T}`, 'Basic dXNlcjpwYXNz'], 'bearer then basic'],
    [['Basic dXNlcjpwYXNz', `Bearer ${T}`], 'basic then bearer'],
    [[`Bearer ${T}`, ''], 'a second, empty header'],
  ])('two Authorization headers -> 400 (%s)', (values) => {
    const e = refusal(() => extract(values));
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_request');
    expect(e.reason).toBe('duplicate_authorization');
  });

  it('header names are matched case-insensitively when counting', () => {
    const e = refusal(() => extractBearer(['authorization', `Bearer ${T}`, 'AUTHORIZATION', `Bearer ${T}`], ''));
    expect(e.reason).toBe('duplicate_authorization');
    expect(extractBearer(['X-Authorization', `Bearer ${T}`, 'Authorization2', 'x'], '')).toEqual({ kind: 'none' });
  });

  it.each(['?access_token=abc', '?a=1&access_token=abc', '?access_token=', '?x=1&access_token=abc&y=2'])(
    'access_token in the query %s -> 400, with or without a header (P28)',
    (query) => {
      for (const values of [[], [`Bearer ${T}`]]) {
        const e = refusal(() => extract(values, query));
        expect(e.status).toBe(400);
        expect(e.code).toBe('invalid_request');
        expect(e.reason).toBe('token_in_query');
      }
    },
  );

  it.each(['?my_access_token=abc', '?access_tokens=abc', '?q=access_token', '?a=access_token=x'])('%s is not a token parameter', (query) => {
    expect(extract([`Bearer ${T}`], query)).toEqual({ kind: 'bearer', token: T });
  });

  describe('with a verifier that has accepted the token before (the scan skipped)', () => {
    const asked: string[] = [];
    const accepted = (t: string) => (asked.push(t), t === T);
    const withAccepted = (value: string, query = '') => extractBearer(['Authorization', value], query, accepted);

    it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('scheme %s: the token, as without it', (scheme) => {
      asked.length = 0;
      expect(withAccepted(`${scheme} ${T}`)).toEqual({ kind: 'bearer', token: T });
      expect(asked).toEqual([T]);
    });

    it.each([`Bearer  ${T}`, `Bearer\t${T}`, `Bearer${T}`, `Bearer ${T} x`, `Bearer ${T},${T}`, `Bearer ${T}=x`])(
      '%j is what it is without the verifier: 400 malformed_authorization',
      (value) => {
        const e = refusal(() => withAccepted(value));
        expect(e.status).toBe(400);
        expect(e.reason).toBe('malformed_authorization');
      },
    );

    it('other schemes, a missing header and a token in the query are unchanged; the verifier is only asked after "Bearer "', () => {
      asked.length = 0;
      expect(withAccepted(`Basic ${T}`)).toEqual({ kind: 'other-scheme' });
      expect(extractBearer(['Host', 'x'], '', accepted)).toEqual({ kind: 'none' });
      expect(refusal(() => withAccepted(`Bearer ${T}`, '?access_token=x')).reason).toBe('token_in_query');
      expect(refusal(() => extractBearer(['Authorization', `Bearer ${T}`, 'authorization', `Bearer ${T}`], '', accepted)).reason).toBe(
        'duplicate_authorization',
      );
      expect(asked).toEqual([]);
    });

    it('a token it has not accepted is checked as before', () => {
      expect(withAccepted('Bearer abc.def.ghi=')).toEqual({ kind: 'bearer', token: 'abc.def.ghi=' });
      expect(refusal(() => withAccepted('Bearer abc def')).reason).toBe('malformed_authorization');
    });
  });
});
