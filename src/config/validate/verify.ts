import { DEFAULTS, SUPPORTED_ALGORITHMS, type GatehouseConfig } from '../schema.js';
import type { Reader } from './reader.js';

/**
 * A JWS algorithm list: never "none", never HS* (RFC 8725 §3.1-3.2), only
 * what Gatehouse can verify. `also` adds a rule for each otherwise good name.
 */
export function readAlgorithms(r: Reader, v: unknown, path: string, fallback: readonly string[], also?: (alg: string, algPath: string) => void): string[] {
  return r.strList(v, path, fallback, {
    nonEmpty: true,
    each: (alg, p) => {
      if (alg.toLowerCase() === 'none') r.fail(p, '"none" is never allowed: unsigned tokens prove nothing');
      else if (/^HS\d+$/i.test(alg))
        r.fail(p, `${alg} is not supported: shared-secret HMAC tokens let anyone holding the secret mint identities; use ES256, EdDSA, RS256 or PS256`);
      else if (!(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg))
        r.fail(p, `unsupported algorithm (supported: ${SUPPORTED_ALGORITHMS.join(', ')}; names are case-sensitive)`);
      else also?.(alg, p);
    },
  });
}

/** `verify:` — rules every token is held to, whoever issued it. */
export function readVerify(r: Reader, raw: unknown): GatehouseConfig['verify'] {
  const v = r.obj(raw, 'verify', ['algorithms', 'clockTolerance', 'cache', 'maxTokenAge', 'maxTokenBytes']) ?? {};
  const vc = r.obj(v.cache, 'verify.cache', ['maxEntries']) ?? {};
  return {
    algorithms: readAlgorithms(r, v.algorithms, 'verify.algorithms', DEFAULTS.verify.algorithms),
    clockToleranceMs: r.duration(v.clockTolerance, 'verify.clockTolerance', DEFAULTS.verify.clockTolerance),
    maxTokenAgeMs: v.maxTokenAge === undefined || v.maxTokenAge === null ? null : r.duration(v.maxTokenAge, 'verify.maxTokenAge', null),
    maxTokenBytes: r.int(v.maxTokenBytes, 'verify.maxTokenBytes', DEFAULTS.verify.maxTokenBytes, 256, 1 << 20),
    cache: { maxEntries: r.int(vc.maxEntries, 'verify.cache.maxEntries', DEFAULTS.verify.cache.maxEntries, 0, 10_000_000) },
  };
}
