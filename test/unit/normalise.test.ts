import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { normaliseTarget } from '../../src/pipeline/normalise.js';

/**
 * SPEC §5.1 and SECURITY.md P07-P15. The normalised path is both what the
 * route table matches and what the upstream receives, so every row here is a
 * statement about what a backend can be made to see.
 * Pairs in the spirit of Envoy's test/common/http/path_utility_test.cc, with
 * Gatehouse's stricter choices: encoded "/" and "\" are refused rather than
 * kept, and ".." above the root is refused rather than clamped to "/".
 */

interface Ok {
  target: string;
  path: string;
  segments: string[];
  query?: string;
  why: string;
}

const OK: Ok[] = [
  // already normal
  { target: '/', path: '/', segments: [], why: 'root' },
  { target: '/xyz', path: '/xyz', segments: ['xyz'], why: 'one segment' },
  { target: '/x/y/z', path: '/x/y/z', segments: ['x', 'y', 'z'], why: 'three segments' },
  { target: '/A/B/C', path: '/A/B/C', segments: ['A', 'B', 'C'], why: 'case is never folded' },
  { target: "/a-b_c.d~e!$&'()*+,=:@", path: "/a-b_c.d~e!$&'()*+,=:@", segments: ["a-b_c.d~e!$&'()*+,=:@"], why: 'every pchar that needs no encoding' },
  { target: '/a/.b/..c/...', path: '/a/.b/..c/...', segments: ['a', '.b', '..c', '...'], why: 'dots that are not dot segments' },
  // trailing slashes: kept in the path, not a segment
  { target: '/admin/', path: '/admin/', segments: ['admin'], why: 'trailing slash' },
  { target: '/a/b//', path: '/a/b/', segments: ['a', 'b'], why: 'double trailing slash collapses' },
  // "." segments
  { target: '/./a/b', path: '/a/b', segments: ['a', 'b'], why: 'leading "."' },
  { target: '/a/./b', path: '/a/b', segments: ['a', 'b'], why: 'inner "."' },
  { target: '/a/.', path: '/a/', segments: ['a'], why: 'final "." leaves a directory' },
  { target: '/.', path: '/', segments: [], why: '"." at the root' },
  { target: '/a/%2e/b', path: '/a/b', segments: ['a', 'b'], why: 'encoded "."' },
  { target: '/a/%2E/b', path: '/a/b', segments: ['a', 'b'], why: 'encoded "." (upper hex)' },
  // ".." segments, raw and encoded (P07-P09)
  { target: '/public/../admin', path: '/admin', segments: ['admin'], why: 'P07 ".." out of a public prefix' },
  { target: '/public/%2e%2e/admin', path: '/admin', segments: ['admin'], why: 'P08 %2e%2e' },
  { target: '/public/%2E%2E/admin', path: '/admin', segments: ['admin'], why: 'P08 %2E%2E' },
  { target: '/public/.%2e/admin', path: '/admin', segments: ['admin'], why: 'P08 .%2e' },
  { target: '/public/%2e./admin', path: '/admin', segments: ['admin'], why: 'P08 %2e.' },
  { target: '/public/%2E./admin', path: '/admin', segments: ['admin'], why: 'P08 %2E.' },
  { target: '/a/b/../c', path: '/a/c', segments: ['a', 'c'], why: 'parent dir' },
  { target: '/a/b/../../c', path: '/c', segments: ['c'], why: 'back to the root exactly' },
  { target: '/a/b/..', path: '/a/', segments: ['a'], why: 'final ".." leaves a directory' },
  { target: '/a/b/../', path: '/a/', segments: ['a'], why: 'final "../"' },
  { target: '/a/..', path: '/', segments: [], why: 'back to the root' },
  { target: '/a/.//b/../c', path: '/a/c', segments: ['a', 'c'], why: 'mixed "." "//" ".."' },
  // empty segments (P11)
  { target: '//admin', path: '/admin', segments: ['admin'], why: 'P11 "//" at the start is not an authority' },
  { target: '///admin', path: '/admin', segments: ['admin'], why: 'P11 "///"' },
  { target: '/public//admin', path: '/public/admin', segments: ['public', 'admin'], why: '"//" inside' },
  { target: '/a////b/c', path: '/a/b/c', segments: ['a', 'b', 'c'], why: 'many slashes' },
  { target: '//a/?b', path: '/a/', segments: ['a'], query: '?b', why: '"//" with a trailing slash and query' },
  // path parameters (P12): ignored for matching, forwarded verbatim
  { target: '/admin;x=1', path: '/admin;x=1', segments: ['admin'], why: 'P12 ";params" are not part of the segment' },
  { target: '/admin;x=1/users', path: '/admin;x=1/users', segments: ['admin', 'users'], why: 'P12 params mid-path' },
  { target: '/admin;', path: '/admin;', segments: ['admin'], why: 'P12 empty params' },
  { target: '/public;x/../admin', path: '/admin', segments: ['admin'], why: '".." removes a segment with params' },
  // unreserved characters decoded (P13)
  { target: '/%61dmin', path: '/admin', segments: ['admin'], why: 'P13 %61 = a' },
  { target: '/%61%64%6D%69%6E', path: '/admin', segments: ['admin'], why: 'P13 fully encoded' },
  { target: '/%41dmin', path: '/Admin', segments: ['Admin'], why: '%41 = A, still case-sensitive' },
  { target: '/%7euser/%2D%5F%30', path: '/~user/-_0', segments: ['~user', '-_0'], why: 'tilde, hyphen, underscore, digit' },
  // reserved and non-ASCII bytes stay encoded, hex upper-cased (P15)
  { target: '/caf%C3%A9', path: '/caf%C3%A9', segments: ['caf%C3%A9'], why: 'UTF-8 stays encoded' },
  { target: '/a%20b', path: '/a%20b', segments: ['a%20b'], why: 'space stays encoded' },
  { target: '/a%3bb', path: '/a%3Bb', segments: ['a'], why: 'an encoded ";" starts parameters too (backends that decode before stripping read it so)' },
  { target: '/admin%3Bx=1', path: '/admin%3Bx=1', segments: ['admin'], why: 'so /admin%3Bx=1 is matched as /admin' },
  { target: '/a%3Fb%23c', path: '/a%3Fb%23c', segments: ['a%3Fb%23c'], why: 'encoded "?" and "#" stay encoded' },
  { target: '/%25', path: '/%25', segments: ['%25'], why: '"%" itself' },
  // query kept verbatim, never normalised
  { target: '/a?b=%2F..%2f&c=..//x', path: '/a', segments: ['a'], query: '?b=%2F..%2f&c=..//x', why: 'query untouched' },
  { target: '/a//b?a=///c', path: '/a/b', segments: ['a', 'b'], query: '?a=///c', why: 'slashes in the query are not merged' },
  { target: '/x/../y?z=/../admin', path: '/y', segments: ['y'], query: '?z=/../admin', why: 'dots in the query are not resolved' },
  { target: '/%61?%61', path: '/a', segments: ['a'], query: '?%61', why: 'escapes in the query are not decoded' },
  { target: '/a?', path: '/a', segments: ['a'], query: '?', why: 'empty query' },
  { target: '/a??b', path: '/a', segments: ['a'], query: '??b', why: 'second "?" belongs to the query' },
];

const BAD: Array<{ target: string; why: string }> = [
  // security round 2, item 4 (docs/security-catalogue.md E01-E04): what a lenient backend could decode into ".", "/" or "\\"
  { target: '/public/%c0%af', why: 'overlong "/" (E02)' },
  { target: '/public/..%c0%af../admin', why: 'overlong "/" between dots (E02)' },
  { target: '/public/%ff', why: 'not UTF-8 at all (E02)' },
  { target: '/public/%252e%252e/admin', why: 'double-encoded dots (E01)' },
  // encoded separators (P10)
  { target: '/public/..%2fadmin', why: 'P10 ..%2f' },
  { target: '/public/..%2Fadmin', why: 'P10 ..%2F' },
  { target: '/public%2f..%2fadmin', why: 'P10 %2f..%2f' },
  { target: '/a/%2F%2f/c', why: 'encoded slashes alone' },
  { target: '/public/..%5cadmin', why: 'P10 ..%5c' },
  { target: '/public/..%5Cadmin', why: 'P10 ..%5C' },
  { target: '/%5c%25', why: 'encoded backslash' },
  { target: '/public/..\\admin', why: 'P10 raw backslash' },
  { target: '/public\\..\\admin', why: 'raw backslashes only' },
  // NUL and controls (P14)
  { target: '/admin%00', why: 'P14 %00' },
  { target: '/xyz/.%00../abc', why: 'NUL between dots' },
  { target: '/xyz/%00.%00./abc', why: 'NULs around dots' },
  { target: '/a%0a', why: 'encoded LF' },
  { target: '/a%0D%0AX-Injected:%201', why: 'encoded CRLF' },
  { target: '/a%09', why: 'encoded TAB' },
  { target: '/a%1f', why: 'encoded unit separator' },
  { target: '/a%7F', why: 'encoded DEL' },
  { target: '/a\u0001b', why: 'raw control' },
  { target: '/a b', why: 'raw space' },
  { target: '/caf\u00e9', why: 'raw non-ASCII' },
  // malformed escapes
  { target: '/a%', why: 'lone "%"' },
  { target: '/a%2', why: 'truncated escape' },
  { target: '/a%zz', why: 'non-hex escape' },
  { target: '/xyz/AAAAA%%0000/abc', why: 'double "%"' },
  { target: '/public/%u002e%u002e/admin', why: 'IIS %u escapes' },
  // climbing above the root
  { target: '/..', why: '".." at the root' },
  { target: '/../admin', why: '".." first' },
  { target: '/public/../../admin', why: 'one ".." too many' },
  { target: '/a/b/../../../../c', why: 'far above the root (Envoy clamps, Gatehouse refuses)' },
  { target: '/%2e%2e/admin', why: 'encoded ".." at the root' },
  { target: '//../admin', why: '"//" does not hide the climb' },
  // dot segments carrying parameters (Tomcat "..;/", P12)
  { target: '/public/..;/admin', why: 'P12 ..;/' },
  { target: '/public/..%3B/admin', why: 'P12 with the ";" encoded: a decode-then-strip backend reads ".."' },
  { target: '/public/..%3bx/admin', why: 'the same, lower-case escape' },
  { target: '/public/..;x=1/admin', why: 'P12 ..;x=1' },
  { target: '/public/.;/admin', why: '.;/' },
  { target: '/public/%2e%2e;/admin', why: 'encoded ..;' },
  { target: '/public/.%2e;jsessionid=1/admin', why: 'half-encoded ..;' },
  // empty segments carrying parameters: Tomcat and Spring strip ";x" and then merge "//", so "/;x/admin" is "/admin" to them
  { target: '/;x/admin', why: 'empty segment with params at the start' },
  { target: '/public/;/../admin', why: 'empty segment with params before ".."' },
  { target: '/;/admin', why: 'bare ";" segment' },
  // fragments never belong in a request target
  { target: '/a#b', why: '"#" in the path' },
  { target: '/a?b#c', why: '"#" in the query' },
  { target: '/%61?b#c', why: '"#" in the query after an escape' },
  // not origin-form (P16)
  { target: 'http://internal/admin', why: 'P16 absolute-form' },
  { target: 'https://internal/admin', why: 'P16 absolute-form https' },
  { target: '*', why: 'asterisk-form' },
  { target: 'internal:443', why: 'authority-form' },
  { target: 'admin', why: 'relative path' },
  { target: '', why: 'empty target' },
  { target: '?a=1', why: 'query only' },
];

describe('normaliseTarget: accepted targets', () => {
  it.each(OK)('$target -> $path ($why)', ({ target, path, segments, query }) => {
    const t = normaliseTarget(target);
    expect(t.path).toBe(path);
    expect(t.segments).toEqual(segments);
    expect(t.query).toBe(query ?? '');
  });

  it('is idempotent: normalising a normalised path changes nothing', () => {
    for (const { target } of OK) {
      const once = normaliseTarget(target);
      const twice = normaliseTarget(once.path + once.query);
      expect(twice, target).toEqual(once);
    }
  });

  it('never produces a path with a dot segment, "//", a backslash or a control character', () => {
    for (const { target } of OK) {
      const { path } = normaliseTarget(target);
      expect(path.startsWith('/'), target).toBe(true);
      expect(path, target).not.toMatch(/\/\.{1,2}(?:[/;]|$)|\/\/|\\|[\u0000-\u0020\u007f-\uffff]/);
      expect(path, target).not.toMatch(/%(?:2[eEfF]|5[cC]|[01][0-9a-fA-F]|7[fF])/);
    }
  });
});

describe('normaliseTarget: refused targets', () => {
  it.each(BAD)('$target -> 400 ($why)', ({ target }) => {
    let caught: unknown;
    try {
      normaliseTarget(target);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    const e = caught as GatewayError;
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_request');
    expect(e.description).toMatch(/^The request path is not acceptable: /);
    expect(e.reason).toBe('bad_path');
  });
});
