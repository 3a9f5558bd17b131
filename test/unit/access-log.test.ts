import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { accessFields, type AccessEntry } from '../../src/gateway/finish.js';
import { batchedInfoLines, createLogger } from '../../src/observe/log.js';
import { Metrics } from '../../src/observe/metrics.js';

/** A pino destination that keeps every line. */
function sink(): { write(line: string): boolean; lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (line: string) => (lines.push(line), true) };
}

const BASE: AccessEntry = {
  reqId: '3f1c8a4e-5b6d-4e2f-9a1b-123456789abc',
  method: 'GET',
  path: '/api/orders/42',
  route: 'api',
  status: 200,
  ms: 1.3,
  auth: 'authenticated',
  reason: 'ok',
  client: '127.0.0.1',
  sub: 'user-1',
  upstream: 'http://127.0.0.1:8080',
  websocket: undefined,
};

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');

/** Entries whose strings pino and the hand-written line must both carry intact. */
const ENTRIES: AccessEntry[] = [
  BASE,
  { ...BASE, sub: undefined, upstream: null, status: 401, auth: 'denied', reason: 'no_token' },
  { ...BASE, websocket: true },
  { ...BASE, method: undefined, path: '(unparsed)', route: '(none)', status: 400 },
  { ...BASE, path: '/a"b\\c', sub: 'quote " backslash \\ tab \t newline \n nul \u0000 bell \u0007' },
  { ...BASE, path: '/caf\u00e9/\u65e5\u672c/\u{1f600}', sub: 'line\u2028separator\u2029end' },
  { ...BASE, sub: 'x'.repeat(150) + '"' + '\u0001' },
  { ...BASE, ms: 0 },
  { ...BASE, ms: 12345.6, status: 599 },
  { ...BASE, client: '::1', reqId: 'client-sent-id_1.2' },
  // every printable ASCII character (written as it is, but " and \\) and DEL, in the plain fields and in the few-valued ones
  {
    ...BASE,
    path: PRINTABLE,
    sub: `${PRINTABLE}\u007f`,
    reqId: ' !#[]~',
    route: `route "${PRINTABLE}"`,
    reason: 'reason\\x',
    auth: 'a"b',
    method: 'M\u007f',
    upstream: 'http://[::1]:80/"x"',
  },
  { ...BASE, path: '', sub: '', client: '' },
];

/** A line without its timestamp, which the two writers take at different instants. */
const untimed = (line: string) => line.replace(/"time":"[^"]+"/, '"time":"T"');

describe('access log line (batchedInfoLines + accessFields) against pino', () => {
  it('writes, for every entry, the same bytes as logger.info(entry, "request") apart from the time', () => {
    const viaPino = sink();
    const viaLine = sink();
    const a = createLogger('info', viaPino);
    const b = createLogger('info', viaLine);
    const write = batchedInfoLines(b, accessFields, 'request');
    expect(write).not.toBeNull();
    for (const e of ENTRIES) {
      a.info(e, 'request');
      write!(e);
    }
    expect(viaLine.lines).toHaveLength(ENTRIES.length);
    for (let i = 0; i < ENTRIES.length; i++) {
      const mine = viaLine.lines[i]!;
      const theirs = viaPino.lines[i]!;
      // the same JSON, field for field and in the same order
      expect(Object.entries(JSON.parse(untimed(mine)))).toEqual(Object.entries(JSON.parse(untimed(theirs))));
      expect(mine.endsWith('}\n')).toBe(true);
      // where pino writes plain JSON (no control character, no lone surrogate), byte for byte the same line
      if (!/[\u0000-\u001f]/.test(JSON.stringify(ENTRIES[i]).slice(1, -1).replace(/\\./g, ''))) expect(untimed(mine)).toBe(untimed(theirs));
    }
  });

  it('keeps the time pino would write (ISO 8601, within the same second)', () => {
    const out = sink();
    const logger = createLogger('info', out);
    const before = Date.now();
    batchedInfoLines(logger, accessFields, 'request')!(BASE);
    const t = Date.parse((JSON.parse(out.lines[0]!) as { time: string }).time);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });

  it('is refused for a logger that createLogger did not make (its options are unknown), which then logs through pino', () => {
    const out = sink();
    const other = createLogger('info', out).child({ component: 'x' });
    expect(batchedInfoLines(other, accessFields, 'request')).toBeNull();
  });

  it('carries a lone surrogate as an escape, where pino would write invalid UTF-8', () => {
    const out = sink();
    batchedInfoLines(createLogger('info', out), accessFields, 'request')!({ ...BASE, sub: 'a\ud800b' });
    expect(out.lines[0]).toContain('"sub":"a\\ud800b"');
    expect((JSON.parse(out.lines[0]!) as { sub: string }).sub).toBe('a\ud800b');
  });
});

describe('batched access lines (the default for stdout)', () => {
  const batched = () => {
    const out = sink();
    const logger = createLogger('info', out, { batch: true });
    return { out, logger, access: batchedInfoLines(logger, accessFields, 'request')! };
  };
  const reqIds = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { reqId?: string; msg: string }).reqId ?? (JSON.parse(l) as { msg: string }).msg);

  it('writes nothing until 64 entries are queued, then all of them in order, each line as pino would write it', () => {
    const { out, access } = batched();
    for (let i = 0; i < 63; i++) access({ ...BASE, reqId: `r${i}` });
    expect(out.lines).toHaveLength(0);
    access({ ...BASE, reqId: 'r63' });
    expect(reqIds(out.lines)).toEqual(Array.from({ length: 64 }, (_, i) => `r${i}`));
    const viaPino = sink();
    createLogger('info', viaPino).info({ ...BASE, reqId: 'r63' }, 'request');
    expect(untimed(out.lines[63]!)).toBe(untimed(viaPino.lines[0]!));
  });

  it("keeps the order of the calls: queued lines go out before any of pino's own lines, and at flush", () => {
    const { out, logger, access } = batched();
    access({ ...BASE, reqId: 'first' });
    access({ ...BASE, reqId: 'second' });
    logger.warn({ upstream: 'x' }, 'upstream failed');
    access({ ...BASE, reqId: 'third' });
    expect(reqIds(out.lines)).toEqual(['first', 'second', 'upstream failed']);
    logger.flush();
    expect(reqIds(out.lines)).toEqual(['first', 'second', 'upstream failed', 'third']);
  });

  it('stamps each line with the time of its call, not of the write', async () => {
    const { out, logger, access } = batched();
    const before = Date.now();
    access(BASE);
    const afterCall = Date.now();
    await new Promise((r) => setTimeout(r, 30));
    logger.flush();
    const t = Date.parse((JSON.parse(out.lines[0]!) as { time: string }).time);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(afterCall);
  });

  it('writes a lone queued line by itself shortly after (a quiet gateway still logs its requests)', async () => {
    const { out, access } = batched();
    access({ ...BASE, reqId: 'alone' });
    const deadline = Date.now() + 5000;
    while (out.lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(reqIds(out.lines)).toEqual(['alone']);
  });
});

describe('gatehouse_upstream_duration_seconds against a prom-client Histogram', () => {
  const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const NAME = 'gatehouse_upstream_duration_seconds';

  /** Observations on every bucket edge, between them, past the last one, on two routes. */
  function observations(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const b of BUCKETS) out.push(['api', b], ['api', b * 0.99], ['web', b * 1.01]);
    out.push(['api', 0], ['web', 31], ['web', 1000], ['api', 0.0004]);
    return out;
  }

  function both(obs: Array<[string, number]>) {
    const metrics = new Metrics(false);
    const reference = new Registry();
    const h = new Histogram({
      name: NAME,
      help: 'Time from forwarding to the end of the upstream response',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers: [reference],
    });
    for (const [route, v] of obs) {
      metrics.recordRequest(route, 200, 'public', 'ok', v);
      h.labels(route).observe(v);
    }
    return { metrics, reference };
  }

  it('exposes the same text as prom-client for the same observations', async () => {
    const { metrics, reference } = both(observations());
    const mine = await metrics.registry.getSingleMetricAsString(NAME);
    expect(mine).toBe(await reference.getSingleMetricAsString(NAME));
    expect(mine).toMatch(/^gatehouse_upstream_duration_seconds_bucket\{le="\+Inf",route="web"\} 16$/m);
  });

  it('sums across cluster workers (AggregatorRegistry) as prom-client does', async () => {
    const a = both(observations());
    const b = both(observations().slice(5));
    const mine = AggregatorRegistry.aggregate([await a.metrics.registry.getMetricsAsJSON(), await b.metrics.registry.getMetricsAsJSON()]);
    const theirs = AggregatorRegistry.aggregate([await a.reference.getMetricsAsJSON(), await b.reference.getMetricsAsJSON()]);
    const pick = async (r: { getSingleMetricAsString(name: string): Promise<string> }) => (await r.getSingleMetricAsString(NAME)).split('\n').sort();
    expect(await pick(mine)).toEqual(await pick(theirs));
  });

  it('counts nothing for a request that was not forwarded, and starts again after a reset', async () => {
    const metrics = new Metrics(false);
    metrics.recordRequest('api', 401, 'denied', 'no_token', null);
    expect(await metrics.registry.getSingleMetricAsString(NAME)).not.toMatch(/_count/);
    metrics.recordRequest('api', 200, 'authenticated', 'ok', 0.002);
    expect(await metrics.registry.getSingleMetricAsString(NAME)).toMatch(/^gatehouse_upstream_duration_seconds_count\{route="api"\} 1$/m);
    metrics.registry.resetMetrics();
    expect(await metrics.registry.getSingleMetricAsString(NAME)).not.toMatch(/_count/);
  });
});
