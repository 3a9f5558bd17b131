import { parseDuration } from '../duration.js';
import { isLoopbackHost, parseListen } from '../net.js';
import type { KeyFileRef, ListenAddress } from '../schema.js';

/** One thing wrong with a config (or users) file, at its YAML path; `gatehouse check` prints `path: message`. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export type Obj = Record<string, unknown>;

export interface StrListOptions {
  /** a lone string is a one-item list */
  single?: boolean;
  nonEmpty?: boolean;
  /** checks every string item with its own YAML path */
  each?: (item: string, itemPath: string) => void;
}

/**
 * Readers for raw YAML values, all reporting into one problem list. Each
 * returns a usable value even when it reports (a fallback or null), so one
 * pass over the document finds every problem, not just the first.
 */
export interface Reader {
  readonly problems: ConfigProblem[];
  fail(path: string, message: string): null;
  /** `a` + `b` -> `a.b`, `a` + 2 -> `a[2]`, '' + `b` -> `b` */
  join(path: string, key: string | number): string;
  /** a mapping with only `allowed` keys; missing/null is an empty mapping */
  obj(v: unknown, path: string, allowed: readonly string[]): Obj | null;
  str(v: unknown, path: string, fallback?: string): string | null;
  bool(v: unknown, path: string, fallback: boolean): boolean;
  /** one of a fixed set of words */
  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], fallback: T): T;
  int(v: unknown, path: string, fallback: number, min: number, max?: number): number;
  /** milliseconds */
  duration(v: unknown, path: string, fallback: string | number | null): number;
  /** invalid items are dropped from the result, so result indices can differ from the YAML's */
  strList(v: unknown, path: string, fallback: readonly string[], opts?: StrListOptions): string[];
  listen(v: unknown, path: string, fallback: string): ListenAddress;
  httpUrl(v: unknown, path: string, opts?: { httpsOutsideLoopback?: boolean }): string | null;
  /** a list of `{ file: PATH }`, and `kid` where `withKid` allows it */
  keyRefs(v: unknown, path: string, withKid?: boolean): KeyFileRef[];
}

/** Told of every mapping the validator reads and the keys it allows there (the documentation test lists the schema with it). */
export type KeyListener = (path: string, allowed: readonly string[]) => void;

export function createReader(problems: ConfigProblem[] = [], onKeys?: KeyListener): Reader {
  const fail = (path: string, message: string): null => {
    problems.push({ path, message });
    return null;
  };
  const join = (path: string, key: string | number) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

  function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], fallback: T): T {
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    fail(path, `must be one of: ${allowed.join(', ')}`);
    return fallback;
  }
  function obj(v: unknown, path: string, allowed: readonly string[]): Obj | null {
    onKeys?.(path, allowed);
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) return fail(path || '(root)', 'must be a mapping');
    for (const key of Object.keys(v)) {
      if (!allowed.includes(key)) fail(join(path, key), `unknown key (allowed: ${allowed.join(', ')})`);
    }
    return v as Obj;
  }
  function str(v: unknown, path: string, fallback?: string): string | null {
    if (v === undefined || v === null) return fallback ?? fail(path, 'is required');
    if (typeof v !== 'string' || v.length === 0) return fail(path, 'must be a non-empty string');
    return v;
  }
  // `${VAR}` always yields a string, so "true"/"false" and digit strings are read as what they spell.
  function bool(v: unknown, path: string, fallback: boolean): boolean {
    if (v === undefined || v === null) return fallback;
    if (v === 'true' || v === 'false') return v === 'true';
    if (typeof v !== 'boolean') {
      fail(path, 'must be true or false');
      return fallback;
    }
    return v;
  }
  function int(v: unknown, path: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && /^\d{1,15}$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(path, `must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return v;
  }
  function duration(v: unknown, path: string, fallback: string | number | null): number {
    const ms = parseDuration(v ?? fallback);
    if (ms === null) {
      fail(path, 'must be a duration: seconds as a number, or a string like "900ms", "30s", "15m", "14d"');
      return 0;
    }
    return ms;
  }
  function strList(v: unknown, path: string, fallback: readonly string[], opts: StrListOptions = {}): string[] {
    const checked = (list: readonly string[]) => {
      list.forEach((item, i) => opts.each?.(item, join(path, i)));
      return [...list];
    };
    if (v === undefined || v === null) return checked(fallback);
    if (opts.single && typeof v === 'string') return [v];
    if (!Array.isArray(v)) {
      fail(path, opts.single ? 'must be a string or a list of strings' : 'must be a list of strings');
      return [...fallback];
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string' || item.length === 0) fail(join(path, i), 'must be a non-empty string');
      else {
        out.push(item);
        opts.each?.(item, join(path, i));
      }
    });
    if (opts.nonEmpty && out.length === 0 && v.length === 0) fail(path, 'must not be empty');
    return out;
  }
  function listen(v: unknown, path: string, fallback: string): ListenAddress {
    const text = typeof v === 'number' ? `127.0.0.1:${v}` : (v ?? fallback);
    const parsed = typeof text === 'string' ? parseListen(text) : null;
    if (!parsed) {
      fail(path, 'must be "host:port" (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)');
      return { host: '127.0.0.1', port: 0 };
    }
    return parsed;
  }
  function httpUrl(v: unknown, path: string, opts: { httpsOutsideLoopback?: boolean } = {}): string | null {
    const s = str(v, path);
    if (s === null) return null;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return fail(path, 'must be an http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail(path, 'must be an http(s) URL');
    if (url.username || url.password) return fail(path, 'must not contain credentials');
    if (opts.httpsOutsideLoopback && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
      return fail(path, 'must be an https URL (plain http is only allowed for loopback addresses)');
    }
    return s;
  }
  function keyRefs(v: unknown, path: string, withKid = false): KeyFileRef[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      fail(path, 'must be a list of { file: PATH }');
      return [];
    }
    const out: KeyFileRef[] = [];
    v.forEach((item, i) => {
      const p = join(path, i);
      const o = obj(item, p, withKid ? ['file', 'kid'] : ['file']);
      const file = o && str(o.file, join(p, 'file'));
      const kid = withKid && o && o.kid !== undefined ? str(o.kid, join(p, 'kid')) : null;
      if (file) out.push(kid ? { file, kid } : { file });
    });
    return out;
  }

  return { problems, fail, join, obj, str, bool, oneOf, int, duration, strList, listen, httpUrl, keyRefs };
}
