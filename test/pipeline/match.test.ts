import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, expectFetchError } from '../helpers/expect.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { raw, seenDuring } from '../helpers/http.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

/** SPEC §5.2 route matching end to end (the pattern and matchRoute tables: test/unit/match.test.ts; P18: test/security/proxy.test.ts). */

describe('matching through a running gateway', () => {
  let up: TestUpstream;
  let g: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    g = await startGateway({
      routes: [
        { name: 'one', match: { path: '/one/*' }, upstream: up.url, auth: 'public' },
        { name: 'files', match: { path: '/files/**', methods: ['GET'] }, upstream: up.url, auth: 'public' },
        { name: 'hosted', match: { path: '/hosted/**', host: 'api.example' }, upstream: up.url, auth: 'public' },
      ],
    });
  });
  afterAll(async () => {
    await g.stop();
    await up.close();
  });

  it.each(['/one/x', '/one/x/', '/files', '/files/a/b'])('%s is forwarded', async (path) => {
    const { result, seen } = await seenDuring(up, () => fetch(`${g.url}${path}`));
    expect(result.status).toBe(200);
    await result.arrayBuffer();
    expect(seen.map((s) => s.url)).toEqual([path]);
  });

  it.each([
    ['GET', '/one'],
    ['GET', '/one/x/y'],
    ['GET', '/One/x'],
    ['GET', '/'],
    ['DELETE', '/files/a'],
    ['POST', '/files/a'],
    ['GET', '/hosted/x'],
  ])('%s %s -> 404 not_found, upstream not called', async (method, path) => {
    const { result, seen } = await seenDuring(up, () => fetch(`${g.url}${path}`, { method }));
    await expectFetchError(result, 404, 'not_found');
    expect(seen).toEqual([]);
  });

  it('HEAD is allowed where GET is', async () => {
    const { result, seen } = await seenDuring(up, () => fetch(`${g.url}/files/a`, { method: 'HEAD' }));
    expect(result.status).toBe(200);
    expect(seen.map((s) => [s.method, s.url])).toEqual([['HEAD', '/files/a']]);
  });

  it('host routes are chosen by the Host header only', async () => {
    const ok = await seenDuring(up, () => raw(g, '/hosted/x', [], { host: 'API.example:8080' }));
    expect(ok.result.status).toBe(200);
    expect(ok.seen.map((s) => s.url)).toEqual(['/hosted/x']);
    const other = await seenDuring(up, () =>
      raw(
        g,
        '/hosted/x',
        [
          ['X-Forwarded-Host', 'api.example'],
          ['Forwarded', 'host=api.example'],
        ],
        { host: 'www.example' },
      ),
    );
    expectError(other.result, 404, 'not_found');
    expect(other.seen).toEqual([]);
  });
});
