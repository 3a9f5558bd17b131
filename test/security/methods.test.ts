/**
 * Security round 2, item 7 (docs/security-catalogue.md M01-M04): a client
 * waiting on `Expect: 100-continue` hears the refusal, not "100 Continue";
 * TRACE and CONNECT are refused unless a route lists them.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { portOf, raw, seenDuring } from '../helpers/http.js';
import { makeKey, signToken, writeJwkFile, type TestKey } from '../helpers/keys.js';
import { rawRequest } from '../helpers/raw.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ISS = 'https://gatehouse.test';
let key: TestKey;
let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  key = await makeKey('ES256');
  up = await startUpstream();
  g = await startGateway({
    issuer: { iss: ISS, audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      { name: 'trace', match: { path: '/debug/**', methods: ['GET', 'TRACE'] }, upstream: up.url, auth: 'public' },
      { name: 'api', match: { path: '/api/**' }, upstream: up.url, auth: 'required' },
      { name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' },
    ],
  });
});
afterAll(async () => {
  await g?.stop();
  await up?.close();
});

/** Sends headers with Expect: 100-continue and waits; sends the body only if told to continue. Returns everything the server said. */
function expectContinue(headers: string[], body: string): Promise<{ text: string; continued: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(portOf(g), '127.0.0.1');
    let text = '';
    let continued = false;
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (!continued && text.startsWith('HTTP/1.1 100')) {
        continued = true;
        socket.write(body);
      }
      if (/\r\n\r\n[\s\S]*$/.test(text) && /HTTP\/1\.1 [2-5]\d\d/.test(text) && text.includes('\r\n\r\n', text.search(/HTTP\/1\.1 [2-5]\d\d/)))
        setTimeout(() => socket.end(), 100);
    });
    socket.on('close', () => resolve({ text, continued }));
    socket.on('error', reject);
    socket.write(
      [
        `POST /api/upload HTTP/1.1`,
        `Host: 127.0.0.1:${portOf(g)}`,
        'Content-Type: text/plain',
        `Content-Length: ${body.length}`,
        'Expect: 100-continue',
        'Connection: close',
        ...headers,
        '',
        '',
      ].join('\r\n'),
    );
    setTimeout(() => socket.destroy(), 3000).unref();
  });
}

describe('methods and expectations', () => {
  it('M01 Expect: 100-continue without a valid token gets the final 401, with no "100 Continue" before it, and the upstream sees nothing', async () => {
    for (const auth of [[], ['Authorization: Bearer not-a-token']]) {
      const { result } = await seenDuring(up, () => expectContinue(auth, 'hello'));
      expect(result.text, auth.join()).toMatch(/^HTTP\/1\.1 401 /);
      expect(result.text).not.toContain('100 Continue');
      expect(result.continued).toBe(false);
    }
    expect(up.seen.filter((s) => s.url === '/api/upload')).toEqual([]);
  });

  it('M02 Expect: 100-continue with a valid token: 100 Continue, then the body reaches the upstream', async () => {
    const token = await signToken(key, {}, { iss: ISS });
    const { result, seen } = await seenDuring(up, () => expectContinue([`Authorization: Bearer ${token}`], 'hello'));
    expect(result.continued).toBe(true);
    expect(result.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body).toBe('hello');
    expect(seen[0]?.headers.expect).toBeUndefined();
  });

  it('M03 any other Expect value: 417 expectation_failed, upstream not called', async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/public/x', [['Expect', 'something-else']]));
    expect(result.status).toBe(417);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'expectation_failed' });
    expect(seen).toEqual([]);
  });

  it('M04 TRACE is 405 unless a route lists it; CONNECT is 405 and the connection closed', async () => {
    for (const path of ['/public/x', '/api/x']) {
      const { result, seen } = await seenDuring(up, () => raw(g, path, [['Cookie', 'session=secret']], { method: 'TRACE' }));
      expect(result.status, path).toBe(405);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'method_not_allowed' });
      expect(result.headers.allow).toBeDefined();
      expect(result.body).not.toContain('secret');
      expect(seen).toEqual([]);
    }
    const listed = await seenDuring(up, () => raw(g, '/debug/x', [], { method: 'TRACE' }));
    expect(listed.result.status).toBe(200);
    expect(listed.seen[0]?.method).toBe('TRACE');
    const c = await rawRequest(portOf(g), `CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n`);
    expect(c.status).toBe(405);
    expect(JSON.parse(c.body)).toMatchObject({ error: 'method_not_allowed' });
    expect(c.closed).toBe(true);
  });
});
