import { claimAt } from '../tokens/claims.js';
import { canonicalName } from './header-sets.js';
import type { VerifiedToken } from '../tokens/verifier.js';

export interface IdentityHeader {
  name: string;
  claim: string;
}

export interface IdentityPlan {
  headers: readonly IdentityHeader[];
  /** canonical names (lower case, "_" as "-") stripped from every client request */
  strip: ReadonlySet<string>;
  forwardToken: boolean;
}

export function identityPlan(headers: Readonly<Record<string, string>>, forwardToken: boolean): IdentityPlan {
  const list = Object.entries(headers).map(([name, claim]) => ({ name, claim }));
  return { headers: list, strip: new Set(list.map((h) => canonicalName(h.name))), forwardToken };
}

/**
 * Header value for one claim (README "Identity headers" gives the decoding
 * rule). The encoding is injective: two different claim values never reach
 * the backend as the same header.
 * - A string is sent as its UTF-8 bytes, every byte outside
 *   `A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + / : ; = ? @` percent-encoded with
 *   upper-case hex — so `%`, `,`, spaces (which HTTP would trim at the ends),
 *   quotes, braces and anything non-ASCII never appear raw. A string that
 *   would read as a JSON number, `true`, `false` or `null` also has its first
 *   character encoded (`"42"` is sent `%342`), so raw `42` always means the
 *   number.
 * - A number, boolean or null is sent as its JSON text (`42`, `true`).
 * - An object (or a list inside a list) is sent as JSON, with `%`, `,`,
 *   spaces, control and non-ASCII bytes percent-encoded; it starts with a raw
 *   `{` or `[`, which no string can.
 * - A list is its items, each encoded as above, joined with `,`; an empty
 *   list sends no header at all, nor does a missing claim.
 */
export function identityValue(token: VerifiedToken, claim: string): string | null {
  let v: unknown;
  if (claim === 'roles') v = token.roles;
  else if (claim === 'scope') v = token.scopes;
  else v = claimAt(token.claims, claim);
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.length === 0 ? null : v.map(encodeItem).join(',');
  return encodeItem(v);
}

/** One value or list item. */
export function encodeItem(v: unknown): string {
  if (typeof v === 'string') return encodeString(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v) ?? 'null';
  return percentEncode(JSON.stringify(v) ?? 'null', JSON_KEEP);
}

const STRING_SAFE = /[A-Za-z0-9\-._~!$&'()*+/:;=?@]/;
/** inside JSON: keep its punctuation readable, encode only what breaks a header or a list */
const JSON_SAFE = /[\x21-\x24\x26-\x2b\x2d-\x7e]/;
const JSON_LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

/** Per ASCII code, whether `safe` keeps it as it is: a table lookup per character instead of a regex test. */
function safeTable(safe: RegExp): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) table[c] = safe.test(String.fromCharCode(c)) ? 1 : 0;
  return table;
}
const STRING_KEEP = safeTable(STRING_SAFE);
const JSON_KEEP = safeTable(JSON_SAFE);

function encodeString(text: string): string {
  const out = percentEncode(text, STRING_KEEP);
  return JSON_LITERAL.test(out) ? `%${out.charCodeAt(0).toString(16).toUpperCase()}${out.slice(1)}` : out;
}

const HEX = '0123456789ABCDEF';
const byte = (b: number) => `%${HEX[b >> 4] as string}${HEX[b & 15] as string}`;

/**
 * UTF-8 percent-encoding of every character `keep` (a safeTable) does not keep. A lone surrogate
 * (JSON can carry one) is encoded as its WTF-8 bytes rather than replaced by
 * U+FFFD, which would make two different strings look the same.
 */
function percentEncode(text: string, keep: Uint8Array): string {
  // most claim values (ids, e-mail addresses, role names) need no encoding: returned as they are
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || keep[c] === 0) break;
    i++;
  }
  if (i === text.length) return text;
  let out = text.slice(0, i);
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      out += keep[c] === 1 ? (text[i] as string) : byte(c);
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x800) out += byte(0xc0 | (cp >> 6)) + byte(0x80 | (cp & 63));
    else if (cp < 0x10000) out += byte(0xe0 | (cp >> 12)) + byte(0x80 | ((cp >> 6) & 63)) + byte(0x80 | (cp & 63));
    else out += byte(0xf0 | (cp >> 18)) + byte(0x80 | ((cp >> 12) & 63)) + byte(0x80 | ((cp >> 6) & 63)) + byte(0x80 | (cp & 63));
  }
  return out;
}
