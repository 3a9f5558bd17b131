/**
 * Security round 2, item 4 (docs/security-catalogue.md E01-E04): percent
 * encodings a lenient backend could decode into ".", "/" or "\\" a second
 * time or another way are refused (400); valid UTF-8 stays allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { raw, seenDuring } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

let up: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  g = await startGateway({ routes: [{ name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' }] });
});
afterAll(async () => {
  await g?.stop();
  await up?.close();
});

async function refused(target: string): Promise<void> {
  const { result, seen } = await seenDuring(up, () => raw(g, target));
  expect(result.status, target).toBe(400);
  expect(JSON.parse(result.body), target).toMatchObject({ error: 'invalid_request' });
  expect(seen, target).toEqual([]);
}

describe('path encodings', () => {
  it('E01 double encoding of ".", "/", "\\\\" and "%" (any case) is refused', async () => {
    for (const t of [
      '/public/%252e%252e/admin',
      '/public/%252E%252E/admin',
      '/public/..%252fadmin',
      '/public/%252F',
      '/public/%255c..%255cadmin',
      '/public/%255C',
      '/public/%2525',
      '/public/%25252e',
      '/public/%25u002e',
    ])
      await refused(t);
  });

  it('E02 overlong and otherwise invalid UTF-8 is refused: overlong dot/slash/backslash, lone continuation bytes, truncated sequences, surrogates, past U+10FFFF, bytes that never start UTF-8', async () => {
    for (const t of [
      '/public/%c0%ae%c0%ae/admin',
      '/public/%c0%af',
      '/public/%e0%80%ae',
      '/public/%f0%80%80%af',
      '/public/%c1%9c',
      '/public/%80',
      '/public/%bf',
      '/public/%c3',
      '/public/%e2%82',
      '/public/%c3%28',
      '/public/%ed%a0%80',
      '/public/%f4%90%80%80',
      '/public/%f5%80%80%80',
      '/public/%ff',
      '/public/%fe',
    ])
      await refused(t);
  });

  it('E03 %u escapes (IIS) are refused', async () => {
    for (const t of ['/public/%u002e%u002e/admin', '/public/%u2215admin', '/public/%U002F']) await refused(t);
  });

  it('E04 valid UTF-8 is still allowed and forwarded in one canonical form', async () => {
    for (const [t, path] of [
      ['/public/caf%c3%a9', '/public/caf%C3%A9'],
      ['/public/%E2%82%AC', '/public/%E2%82%AC'],
      ['/public/%f0%9f%98%80', '/public/%F0%9F%98%80'],
      ['/public/%ef%bf%bd', '/public/%EF%BF%BD'],
      ['/public/100%25', '/public/100%25'],
    ] as const) {
      const { result, seen } = await seenDuring(up, () => raw(g, t));
      expect(result.status, t).toBe(200);
      expect(seen[0]?.url, t).toBe(path);
    }
  });
});
