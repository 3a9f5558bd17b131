import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import type { RequestContext } from '../../src/pipeline/context.js';
import { compileRoutes, matchRoute } from '../../src/pipeline/match.js';
import type { CompiledRoute } from '../../src/pipeline/context.js';
import { normaliseTarget, type NormalisedTarget } from '../../src/pipeline/normalise.js';
import { configFrom } from '../helpers/gateway.js';
import { budget, report } from './settings.js';

/**
 * SPEC §5.1 and §2, SECURITY.md P07-P15 as properties: request targets built
 * from the pieces path-confusion attacks are made of. normaliseTarget either
 * refuses a target with a 400 GatewayError or returns a canonical path that
 * (a) normalises to itself, (b) selects the same route as the raw target and
 * (c) no common way of reading a path (a simple percent-decoding resolver,
 * Tomcat's ";params first", IIS's "\" as "/") puts under /admin unless
 * Gatehouse also matched it to the admin rule.
 */

// ---------------------------------------------------------------- generators

const RISKY = [
  '/',
  '//',
  '.',
  '..',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  ';',
  ';x=1',
  '%00',
  '%61',
  '%c0%af',
  '%ff',
  'admin',
  'public',
  'a',
  '?',
  '#',
  '%25',
  '%3b',
  '%3B',
  '%2e%2e',
  '.%2e',
  '%2E.',
  '%20',
  ' ',
  '%',
  '%4',
  '%zz',
  '*',
  '~',
  'Admin',
  '%41dmin',
  '..;',
  '.;x',
  '%09',
  '%7f',
  '\t',
  '\u0000',
  '&',
  '=',
  '@',
  ':',
];

const hexCase = fc.boolean();
/** one byte, percent-encoded in random hex case */
const pctByte = fc.tuple(fc.integer({ min: 0, max: 255 }), hexCase).map(([b, upper]) => {
  const h = b.toString(16).padStart(2, '0');
  return '%' + (upper ? h.toUpperCase() : h);
});
/** one character of "admin/.\\;?#", percent-encoded */
const pctSpecial = fc.tuple(fc.constantFrom(...'admin/.\\;?#%'.split('')), hexCase).map(([c, upper]) => {
  const h = c.charCodeAt(0).toString(16).padStart(2, '0');
  return '%' + (upper ? h.toUpperCase() : h);
});
const rawBytes = fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => Buffer.from(b).toString('latin1'));
const unicode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 2 });

const riskyPiece = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...RISKY) },
  { weight: 2, arbitrary: pctByte },
  { weight: 2, arbitrary: pctSpecial },
  { weight: 1, arbitrary: rawBytes },
  { weight: 1, arbitrary: unicode },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 3 }) },
);

/** anything, mostly origin-form */
const riskyTarget = fc.oneof(
  { weight: 9, arbitrary: fc.array(riskyPiece, { maxLength: 16 }).map((ps) => '/' + ps.join('')) },
  { weight: 1, arbitrary: fc.array(riskyPiece, { maxLength: 8 }).map((ps) => ps.join('')) },
);

/** segments that survive normalisation more often than not, several of them meaning "admin" or "up" */
const SEGMENTS = [
  'admin',
  'public',
  'a',
  'users',
  'static',
  'x',
  '*',
  '**',
  '.',
  '..',
  '..;',
  '..;x=1',
  '.;',
  ';x',
  '%2e%2e;',
  '%2e',
  '%2E',
  '%2e%2e',
  '.%2e',
  '%2E.',
  '%61dmin',
  'adm%69n',
  '%41dmin',
  'Admin',
  'admin;x=1',
  'admin;',
  'public;x',
  'a;b=c',
  'admin%3Bx',
  '%c0%af',
  '%ff',
  'caf%C3%A9',
  '%252e%252e',
  '...',
  '.a',
  'a.',
  'admin.',
  '~admin',
  "!$&'()*+,=:@",
];
const SEPARATORS = ['/', '/', '/', '/', '//', '/./', '/%2e/', '///'];
const segment = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 1, arbitrary: pctSpecial },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9._~-]{1,4}$/) },
);
const query = fc.constantFrom('', '', '', '?', '?a=b', '?x=../admin', '?p=%2f%2e%2e', '?a=/admin;x');
const pathyTarget = fc
  .tuple(fc.array(fc.tuple(fc.constantFrom(...SEPARATORS), segment), { maxLength: 8 }), fc.constantFrom('', '', '/', '//', '/.', '/..'), query)
  .map(([parts, tail, q]) => {
    const path = parts.map(([sep, seg]) => sep + seg).join('') + tail;
    return (path.startsWith('/') ? path : '/' + path) + q;
  });

/** run first on every seed: the classic shapes (SECURITY.md P07-P15) */
const CLASSICS: Array<[string]> = [
  '/public/../admin',
  '/public/%2e%2e/admin',
  '/public/..%2fadmin',
  '/public/..\\admin',
  '/public/..;/admin',
  '/;x/admin',
  '//admin',
  '/%61dmin',
  '/admin;x=1',
  '/public/%c0%af../admin',
  '/public/%252e%252e/admin',
  '/a/%2e/b/../../admin?x=..//',
].map((t) => [t]);

// ---------------------------------------------------------------- route tables

const UP = 'http://127.0.0.1:9';
const table = (list: Array<[name: string, path: string]>): CompiledRoute[] =>
  compileRoutes(configFrom({ routes: list.map(([name, path]) => ({ name, match: { path }, upstream: UP, auth: 'public' })) }).routes);

/** with literal, `*` and `**` rules and gaps (404) */
const TABLE = table([
  ['admin-exact', '/admin'],
  ['admin', '/admin/**'],
  ['public', '/public/**'],
  ['user-admin', '/users/*/admin/**'],
  ['one', '/a/*'],
  ['static', '/static/*/**'],
  ['top', '/*'],
]);
/** the bypass layout: an admin prefix between a public prefix and a public catch-all */
const BYPASS = table([
  ['public', '/public/**'],
  ['admin', '/admin/**'],
  ['rest', '/**'],
]);

const req = new IncomingMessage(new Socket());
req.method = 'GET';
req.headers = { host: 'gw.test' };

/** name of the route the pipeline picks for these segments, or 404 */
function routeFor(routes: readonly CompiledRoute[], t: NormalisedTarget): string | 404 {
  const ctx: RequestContext = {
    req,
    requestId: 'fuzz',
    startedAt: 0,
    clientIp: '127.0.0.1',
    host: 'gw.test',
    path: t.path,
    segments: t.segments,
    query: t.query,
    route: null,
    token: null,
    credential: 'none',
    sessionId: null,
    identity: null,
    outcome: 'error',
    reason: 'ok',
  };
  try {
    ctx.route = matchRoute(routes, ctx);
  } catch (err) {
    if (err instanceof GatewayError && err.status === 404) return 404;
    throw err;
  }
  return ctx.route!.name;
}

// ---------------------------------------------------------------- oracles

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** normaliseTarget, with anything but a 400 GatewayError failing the property; null when refused */
function normalise(target: string): NormalisedTarget | null {
  try {
    return normaliseTarget(target);
  } catch (err) {
    if (!(err instanceof GatewayError)) throw new Error(`${JSON.stringify(target)} threw a non-GatewayError: ${String(err)}`);
    if (err.status !== 400 || err.code !== 'invalid_request')
      throw new Error(`${JSON.stringify(target)} was refused with ${err.status} ${err.code}, not 400 invalid_request`);
    return null;
  }
}

/** segments as SPEC §2 defines them from a normalised path: split on "/", ";params" (";" or its escape "%3B") removed, no trailing empty one */
function segmentsOf(path: string): string[] {
  const parts = path.split('/').slice(1);
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.map((s) => s.split(/;|%3B/)[0] as string);
}

const UNRESERVED_ESCAPE = /%(?:4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/;

/** What a canonical normalised path and its segments look like (SPEC §5.1). */
function expectCanonical(target: string, t: NormalisedTarget): void {
  const { path, segments } = t;
  const bad = (why: string) => `${JSON.stringify(target)} -> ${JSON.stringify(path)}: ${why}`;
  if (!path.startsWith('/')) throw new Error(bad('does not start with "/"'));
  if (path.includes('//')) throw new Error(bad('contains "//"'));
  if (path.includes('\\')) throw new Error(bad('contains a backslash'));
  if (/%(?:2f|5c)/i.test(path)) throw new Error(bad('contains an encoded "/" or "\\"'));
  if (/[\u0000-\u001f\u007f]/.test(path) || /%(?:[01][0-9a-f]|7f)/i.test(path)) throw new Error(bad('contains a control character'));
  if (!/^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(path)) throw new Error(bad('contains a character that is neither a pchar nor "/"'));
  if (/%(?![0-9A-F]{2})/.test(path)) throw new Error(bad('has a malformed or lower-case escape'));
  if (UNRESERVED_ESCAPE.test(path)) throw new Error(bad('keeps an encoded unreserved character'));
  for (const seg of path.split('/').slice(1)) {
    const name = seg.split(/;|%3B/)[0];
    if (name === '.' || name === '..') throw new Error(bad(`has a "${seg}" segment`));
  }
  if (!same(segments, segmentsOf(path))) throw new Error(bad(`segments ${JSON.stringify(segments)} are not ${JSON.stringify(segmentsOf(path))}`));
  for (const s of segments) if (s === '' || s === '.' || s === '..') throw new Error(bad(`has segment ${JSON.stringify(s)}`));
  const q = target.indexOf('?');
  if (t.query !== (q === -1 ? '' : target.slice(q))) throw new Error(bad(`query ${JSON.stringify(t.query)} is not what was sent`));
}

/** Idempotence: the forwarded target is accepted again and means exactly the same. */
function expectIdempotent(target: string, t: NormalisedTarget): NormalisedTarget {
  const again = normalise(t.path + t.query);
  if (!again) throw new Error(`${JSON.stringify(target)} -> ${JSON.stringify(t.path + t.query)} is refused when normalised again`);
  if (again.path !== t.path || again.query !== t.query || !same(again.segments, t.segments)) {
    throw new Error(`${JSON.stringify(target)} -> ${JSON.stringify(t)} -> ${JSON.stringify(again)}: not idempotent`);
  }
  return again;
}

const pctDecode = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));

/** RFC 3986 §5.2.4-style resolution plus slash merging, clamped at the root as lenient servers do. */
function resolve(path: string): string[] {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out;
}

/**
 * Independent reference readings of a request target by a backend:
 * fully percent-decoded then resolved; Tomcat/Spring (";params" cut from each
 * raw segment, then decoded and resolved); IIS (decoded, "\" taken as "/").
 */
function readings(target: string): Array<[name: string, segments: string[]]> {
  const path = target.split(/[?#]/)[0] ?? '';
  const decoded = pctDecode(path);
  return [
    ['decoded', resolve(decoded)],
    [
      'tomcat',
      resolve(
        pctDecode(
          path
            .split('/')
            .map((s) => s.split(';')[0])
            .join('/'),
        ),
      ),
    ],
    // decodes first, then cuts ";params": reads "..%3B" as ".." and "admin%3Bx" as "admin"
    [
      'decode-then-strip',
      resolve(
        pctDecode(path)
          .split('/')
          .map((s) => s.split(';')[0])
          .join('/'),
      ),
    ],
    ['iis', resolve(decoded.replaceAll('\\', '/'))],
  ];
}

// ---------------------------------------------------------------- properties

describe('normaliseTarget under fuzzing (SPEC §5.1)', () => {
  const b1 = budget(5_000, 0.1);
  it(
    'risky targets: only ever a 400 GatewayError; accepted paths are canonical and idempotent',
    () => {
      const counts = { cases: 0, accepted: 0, refused: 0 };
      fc.assert(
        fc.property(riskyTarget, (target) => {
          counts.cases++;
          const t = normalise(target);
          if (!t) return void counts.refused++;
          counts.accepted++;
          expectCanonical(target, t);
          expectIdempotent(target, t);
        }),
        { seed: b1.seed, numRuns: b1.numRuns, examples: CLASSICS },
      );
      report('normalise/risky', b1, counts);
      expect(counts.accepted).toBeGreaterThan(0);
      expect(counts.refused).toBeGreaterThan(0);
    },
    b1.timeoutMs,
  );

  const b2 = budget(5_000, 0.1);
  it(
    'random paths: the raw target selects exactly the route its normalised path selects',
    () => {
      const counts = { cases: 0, accepted: 0, refused: 0, routed: 0, notFound: 0 };
      fc.assert(
        fc.property(pathyTarget, (target) => {
          counts.cases++;
          const t = normalise(target);
          if (!t) return void counts.refused++;
          counts.accepted++;
          expectCanonical(target, t);
          const again = expectIdempotent(target, t);
          const reference: NormalisedTarget = { path: t.path, segments: segmentsOf(t.path), query: t.query };
          for (const routes of [TABLE, BYPASS]) {
            const raw = routeFor(routes, t);
            const normalised = routeFor(routes, again);
            const split = routeFor(routes, reference);
            if (normalised !== raw || split !== raw)
              throw new Error(
                `${JSON.stringify(target)} selects ${raw}, its normalised path ${JSON.stringify(t.path)} selects ${normalised}, the segments split from it select ${split}`,
              );
            if (routes === TABLE) counts[raw === 404 ? 'notFound' : 'routed']++;
          }
        }),
        { seed: b2.seed, numRuns: b2.numRuns, examples: CLASSICS },
      );
      report('normalise/routes', b2, counts);
      expect(counts.accepted).toBeGreaterThan(counts.cases / 4);
      expect(counts.routed).toBeGreaterThan(0);
      expect(counts.notFound).toBeGreaterThan(0);
    },
    b2.timeoutMs,
  );

  const b3 = budget(5_000, 0.1);
  it(
    'no reference reading puts a target Gatehouse routed elsewhere under /admin',
    () => {
      const counts = { cases: 0, accepted: 0, adminRoute: 0, otherRoute: 0 };
      fc.assert(
        fc.property(fc.oneof({ weight: 3, arbitrary: pathyTarget }, { weight: 1, arbitrary: riskyTarget }), (target) => {
          counts.cases++;
          const t = normalise(target);
          if (!t) return;
          counts.accepted++;
          if (routeFor(BYPASS, t) === 'admin') return void counts.adminRoute++;
          counts.otherRoute++;
          // what the client sent, and what the upstream receives (the normalised path, query untouched)
          for (const [what, sent] of [
            ['raw target', target],
            ['forwarded', t.path + t.query],
          ] as const) {
            for (const [reading, segs] of readings(sent)) {
              if (segs[0] === 'admin')
                throw new Error(
                  `${JSON.stringify(target)} was routed to ${String(routeFor(BYPASS, t))} but the ${reading} reading of the ${what} ${JSON.stringify(sent)} is /${segs.join('/')}`,
                );
            }
          }
        }),
        { seed: b3.seed, numRuns: b3.numRuns, examples: CLASSICS },
      );
      report('normalise/reference-decoder', b3, counts);
      expect(counts.adminRoute).toBeGreaterThan(0);
      expect(counts.otherRoute).toBeGreaterThan(0);
    },
    b3.timeoutMs,
  );
});
