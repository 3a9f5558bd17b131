import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/**
 * Request framing the gateway must refuse before anything reaches an
 * upstream (SECURITY.md P19-P24): status 4xx, connection closed ("400c").
 * Every payload smuggles a second request, so "the upstream receives nothing"
 * also proves that nothing was desynchronised.
 */

let up: TestUpstream;
let g: TestGateway;
let port: number;
/** requests that reached the upstream at all (counted on arrival, not on body end) */
let arrived = 0;
const MAX_HEADER_BYTES = 4096;

beforeAll(async () => {
  up = await startUpstream();
  up.server.on('request', () => arrived++);
  g = await startGateway({
    server: { maxHeaderBytes: MAX_HEADER_BYTES },
    routes: [{ name: 'public', match: { path: '/**' }, upstream: up.url, auth: 'public' }],
  });
  port = Number(new URL(g.url).port);
});

afterAll(async () => {
  await g?.stop();
  await up?.close();
});

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

const cases: Array<[string, string, number?]> = [
  ['Content-Length with Transfer-Encoding (CL.TE)', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding with Content-Length (TE.CL)', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['two different Content-Length headers', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello${SMUGGLED}`],
  ['a Content-Length list', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 40\r\n\r\nhello${SMUGGLED}`],
  ['a non-numeric Content-Length', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello${SMUGGLED}`],
  ['a disguised Transfer-Encoding (chunked, identity)', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['Transfer-Encoding with a space before the colon', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['a bad chunk size', `POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
  ['bare LF line endings', `GET /a HTTP/1.1\nHost: x\n\n${SMUGGLED}`],
  ['a bare LF inside the header block', `GET /a HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n${SMUGGLED}`],
  ['a bare CR inside a header', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\rX-B: c\r\n\r\n${SMUGGLED}`],
  ['obs-fold (a header continued on the next line)', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  two\r\n\r\n${SMUGGLED}`],
  ['obs-fold of Transfer-Encoding', `POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\nhello${SMUGGLED}`],
  ['no Host header', `GET /a HTTP/1.1\r\n\r\n`],
  ['two Host headers', `GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n`],
  ['a Host with userinfo', `GET /a HTTP/1.1\r\nHost: user@x\r\n\r\n`],
  ['headers over server.maxHeaderBytes', `GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MAX_HEADER_BYTES + 100)}\r\n\r\n`, 431],
  ['many headers over server.maxHeaderBytes together', `GET /a HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${'b'.repeat(30)}\r\n`).join('')}\r\n`, 431],
];

describe('request framing (SECURITY.md P19-P24)', () => {
  it.each(cases)('%s -> 4xx, connection closed, upstream receives nothing', async (_name, payload, status) => {
    const before = arrived;
    const r = await rawRequest(port, payload, 200);
    if (status !== undefined) expect(r.status).toBe(status);
    else expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.closed).toBe(true);
    // exactly one response: the smuggled request got no answer of its own
    expect(r.raw.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
    expect(arrived).toBe(before);
    expect(up.seen.some((s) => s.url === '/smuggled')).toBe(false);
  });

  it('the error is a JSON body with error / error_description / request_id', async () => {
    const r = await rawRequest(port, `GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MAX_HEADER_BYTES + 100)}\r\n\r\n`, 200);
    expect(r.status).toBe(431);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(r.body) as Record<string, string>;
    expect(body.error).toBe('request_header_fields_too_large');
    expect(body.error_description).toMatch(/.+/);
    expect(body.request_id).toBe(r.headers['x-request-id']);
  });

  it('a well-formed request on the same listener still works (control)', async () => {
    const before = arrived;
    const r = await rawRequest(port, 'GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 200);
    expect(r.status).toBe(200);
    expect(arrived).toBe(before + 1);
    expect(up.seen.at(-1)?.url).toBe('/fine');
  });
});
