import { describe, expect, it } from 'vitest';
import { saneJwks } from '../../src/tokens/jwks.js';
import { makeKey } from '../helpers/keys.js';

/** The JWKS filter on its own; hostile key sets through a gateway are SECURITY.md J37 (test/security/jwt.test.ts). */
describe('unit: saneJwks', () => {
  it('keeps usable public signing keys and drops the rest', async () => {
    const good = await makeKey('ES256', 'g');
    const rsa = await makeKey('RS256', 'r');
    const ed = await makeKey('EdDSA', 'e');
    const logged: string[] = [];
    const out = saneJwks(
      {
        keys: [
          good.publicJwk,
          rsa.publicJwk,
          ed.publicJwk,
          good.privateJwk,
          { ...good.publicJwk, kid: 'enc', use: 'enc' },
          { kty: 'oct', k: 'AAAA', kid: 'o' },
          { ...rsa.publicJwk, kid: 'short', n: Buffer.alloc(128, 0xff).toString('base64url') },
          { ...good.publicJwk, kid: 'curve', crv: 'P-192' },
          { ...ed.publicJwk, kid: 'x448', crv: 'Ed448' },
        ],
      },
      (m) => logged.push(m),
    );
    expect(out.keys.map((k) => k.kid)).toEqual(['r', 'e']);
    // the private copy of "g" made its kid ambiguous: both copies are dropped
    expect(logged.some((m) => m.includes('"g"'))).toBe(true);
    expect(logged).toHaveLength(7);
  });
  it('throws on bodies that are not a key set', () => {
    for (const body of [null, {}, [], 'x', { keys: {} }, { keys: 'a' }]) expect(() => saneJwks(body, () => {})).toThrow();
  });
});
