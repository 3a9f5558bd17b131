import { invalidRequest } from '../errors.js';
import type { Stage } from './context.js';

export interface NormalisedTarget {
  /** normalised path: what is matched and what is forwarded */
  path: string;
  /** segments used for route matching: ";params" removed, no trailing empty segment */
  segments: string[];
  /** "?..." exactly as received, or "" */
  query: string;
}

// A path made only of safe pchars, without "." / ".." segments, "%", ";" or "//": nothing to normalise.
const PLAIN = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@]+)*\/?$/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const PCHAR = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;
const HEX = '0123456789ABCDEF';

const reject = (why: string) => invalidRequest(`The request path is not acceptable: ${why}`, 'bad_path');

/**
 * SPEC §5.1. Route rules are only as strong as this function: the normalised
 * path is both what the route table sees and what the upstream receives, so a
 * backend can never resolve a path differently from the rule that let it in.
 * - percent-encoded unreserved characters are decoded (`%61` -> `a`, `%2e` -> `.`)
 * - encoded "/" or "\", any NUL/control character (raw or encoded), a raw "\"
 *   and non-origin-form targets (`http://host/x`, `*`) are refused with 400
 * - `.` and `..` are resolved; `..` above the root is refused; `//` is collapsed
 * - other escapes stay encoded with upper-case hex (`%c0%af` -> `%C0%AF`)
 * - `..;x` / `.;x` / `;x` segments (Tomcat's path-parameter trick) are refused, and
 *   `;params` are ignored for matching, so `/admin;x=1` is matched as `/admin`;
 *   an encoded `%3B` counts as `;` for both (escapes are upper-cased first)
 */
export function normaliseTarget(target: string): NormalisedTarget {
  if (target.charCodeAt(0) !== 47 /* / */) throw reject('only origin-form targets ("/path") are accepted');
  const q = target.indexOf('?');
  const raw = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (/[\u0000-\u001f\u007f]/.test(query) || query.includes('#')) throw reject('control characters or "#" in the query');
  if (PLAIN.test(raw)) {
    const segments = raw === '/' ? [] : raw.slice(1).split('/');
    if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
    return { path: raw, segments, query };
  }
  const decoded = decodeUnreserved(raw);
  const input = decoded.split('/');
  const out: string[] = [];
  for (let i = 1; i < input.length; i++) {
    const seg = input[i] as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) throw reject('it climbs above the root');
      out.pop();
      continue;
    }
    const semi = paramStart(seg);
    if (semi !== -1) {
      const name = seg.slice(0, semi);
      // "/;x/admin" is "//admin" -> "/admin" to Tomcat and Spring, which strip params before merging slashes
      if (name === '' || name === '.' || name === '..') throw reject('empty or dot segments with path parameters');
    }
    out.push(seg);
  }
  const last = input[input.length - 1];
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  const path = '/' + out.join('/') + (trailing ? '/' : '');
  const segments = out.map((s) => {
    const semi = paramStart(s);
    return semi === -1 ? s : s.slice(0, semi);
  });
  return { path, segments, query };
}

/**
 * Where a segment's path parameters start: at ";" or at an encoded "%3B",
 * since a backend that decodes before it strips parameters reads
 * `..%3B` as `..;` (and `admin%3Bx` as `admin`) just like the raw form.
 */
function paramStart(seg: string): number {
  const raw = seg.indexOf(';');
  const enc = seg.indexOf('%3B');
  if (enc === -1) return raw;
  return raw === -1 ? enc : Math.min(raw, enc);
}

function decodeUnreserved(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 /* % */) {
      const h = parseHexByte(raw, i + 1);
      // "%u002e" (IIS's %u form) lands here too: "u0" is not a hex byte
      if (h < 0) throw reject('malformed percent-encoding');
      if (h === 0x2f || h === 0x5c) throw reject('encoded "/" or "\\"');
      if (h < 0x20 || h === 0x7f) throw reject('encoded control character');
      if (h === 0x25) checkDoubleEncoding(raw, i + 3);
      if (h >= 0x80) {
        // a whole UTF-8 sequence of escapes, checked and kept encoded
        const end = utf8Sequence(raw, i, h);
        out += raw.slice(i, end).toUpperCase();
        i = end - 1;
        continue;
      }
      i += 2;
      const ch = String.fromCharCode(h);
      out += UNRESERVED.test(ch) ? ch : '%' + HEX[h >> 4] + HEX[h & 15];
      continue;
    }
    if (c === 92 /* \ */) throw reject('"\\" is not allowed');
    if (c <= 0x20 || c >= 0x7f) throw reject('raw control, space or non-ASCII character');
    if (c === 35 /* # */) throw reject('"#" is not allowed');
    // RFC 3986 pchar only: `"<>^`{|}` are not path characters and backends disagree on what they mean.
    if (!PCHAR.test(raw[i] as string)) throw reject(`"${raw[i] as string}" must be percent-encoded`);
    out += raw[i];
  }
  return out;
}

/**
 * "%25" followed by the hex of ".", "/", "\\" or "%" again (`%252e`,
 * `%252F`, `%255c`, `%2525`), or by "u" (`%25u002e`): one decoding gives an
 * escape that a backend decoding a second time (or a proxy behind it) reads
 * as a dot or a separator the route rules never saw. Refused (400).
 */
function checkDoubleEncoding(raw: string, at: number): void {
  if (raw[at] === 'u' || raw[at] === 'U') throw reject('double-encoded "%u" escape');
  const h = parseHexByte(raw, at);
  if (h === 0x2e || h === 0x2f || h === 0x5c || h === 0x25) throw reject('double-encoded ".", "/", "\\" or "%"');
}

/**
 * The end (exclusive) of the valid UTF-8 sequence of escapes that starts at
 * `at` with lead byte `lead`; anything else is refused: a lone continuation
 * byte, a truncated sequence, an overlong form (`%C0%AE` is a "." to a
 * lenient decoder, `%C0%AF` a "/"), a surrogate, or a code point past
 * U+10FFFF (RFC 3629 §3-4).
 */
function utf8Sequence(raw: string, at: number, lead: number): number {
  let need: number;
  let min: number;
  if (lead >= 0xc2 && lead <= 0xdf) [need, min] = [1, 0x80];
  else if (lead >= 0xe0 && lead <= 0xef) [need, min] = [2, 0x800];
  else if (lead >= 0xf0 && lead <= 0xf4) [need, min] = [3, 0x10000];
  else throw reject(lead < 0xc0 ? 'a lone UTF-8 continuation byte' : 'an overlong or invalid UTF-8 sequence');
  let cp = lead & (need === 1 ? 0x1f : need === 2 ? 0x0f : 0x07);
  let pos = at + 3;
  for (let k = 0; k < need; k++) {
    if (raw.charCodeAt(pos) !== 37) throw reject('a truncated UTF-8 sequence');
    const b = parseHexByte(raw, pos + 1);
    if (b < 0x80 || b > 0xbf) throw reject('a truncated or invalid UTF-8 sequence');
    cp = (cp << 6) | (b & 0x3f);
    pos += 3;
  }
  if (cp < min) throw reject('an overlong UTF-8 sequence');
  if (cp >= 0xd800 && cp <= 0xdfff) throw reject('a UTF-16 surrogate in UTF-8');
  if (cp > 0x10ffff) throw reject('a code point past U+10FFFF');
  return pos;
}

function parseHexByte(s: string, at: number): number {
  if (at + 1 >= s.length) return -1;
  const hi = hexValue(s.charCodeAt(at));
  const lo = hexValue(s.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

export const normalise: Stage = (ctx) => {
  const t = normaliseTarget(ctx.req.url ?? '/');
  ctx.path = t.path;
  ctx.segments = t.segments;
  ctx.query = t.query;
};
