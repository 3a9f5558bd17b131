/**
 * Security round 2, item 1 (docs/security-catalogue.md H01-H04): a route with
 * `match.host` cannot be dodged, nor reached, by spelling its host another
 * way; hosts are compared and forwarded in one canonical form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../helpers/expect.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { headerValues, raw, seenDuring } from '../helpers/http.js';
import { makeKey, writeJwkFile } from '../helpers/keys.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

let up: TestUpstream;
let admin: TestUpstream;
let g: TestGateway;

beforeAll(async () => {
  [up, admin] = await Promise.all([startUpstream(), startUpstream()]);
  const key = await makeKey('ES256');
  g = await startGateway({
    issuer: { iss: 'https://gatehouse.test', audience: 'api', signingKeys: [{ file: writeJwkFile(key.privateJwk) }] },
    routes: [
      // the internal host is protected; everything else is public
      { name: 'internal', match: { path: '/**', host: 'internal.example' }, upstream: admin.url, auth: { roles: ['admin'] } },
      { name: 'tenant', match: { path: '/**', host: '*.tenants.example' }, upstream: admin.url, auth: { roles: ['admin'] } },
      { name: 'public', match: { path: '/**' }, upstream: up.url, auth: 'public' },
    ],
  });
});
afterAll(async () => {
  await g?.stop();
  await Promise.all([up?.close(), admin?.close()]);
});

/** the answer and what each upstream saw */
async function send(host: string) {
  const before = admin.seen.length;
  const { result, seen } = await seenDuring(up, () => raw(g, '/x', [], { host }));
  return { result, publicSeen: seen, adminReached: admin.seen.length > before };
}

describe('Host canonicalisation', () => {
  it('H01 the protected host in another spelling is still the protected host: case, trailing dot, default port (401, not the public route)', async () => {
    for (const host of [
      'internal.example',
      'INTERNAL.Example',
      'internal.example.',
      'Internal.Example.:80',
      'internal.example:80',
      'a.tenants.example.',
      'A.TENANTS.EXAMPLE',
    ]) {
      const r = await send(host);
      expect(r.result.status, host).toBe(401);
      expect(r.publicSeen, host).toEqual([]);
      expect(r.adminReached, host).toBe(false);
    }
  });

  it('H02 ambiguous spellings are refused with 400 and the connection closed: leading zeros or out-of-range ports, odd IPv4 forms, invalid punycode, percent-encoding, empty labels', async () => {
    for (const host of [
      'internal.example:080',
      'internal.example:0',
      'internal.example:65536',
      '127.1',
      '0x7f.0.0.1',
      '0177.0.0.1',
      '2130706433',
      'xn--zz.example',
      'internal%2Eexample',
      'internal..example',
      '.internal.example',
    ]) {
      const r = await send(host);
      expect(r.result.status, host).toBe(400);
      expect(JSON.parse(r.result.body), host).toMatchObject({ error: 'invalid_request' });
      expect(r.result.closed, host).toBe(true);
      expect(r.publicSeen, host).toEqual([]);
      expect(r.adminReached, host).toBe(false);
    }
  });

  it("H03 the upstream receives the canonical Host and X-Forwarded-Host, never the client's spelling", async () => {
    const { result, seen } = await seenDuring(up, () => raw(g, '/x', [], { host: 'WWW.Example.:80' }));
    expect(result.status).toBe(200);
    expect(headerValues(seen[0]!, 'host')).toEqual(['www.example']);
    expect(headerValues(seen[0]!, 'x-forwarded-host')).toEqual(['www.example']);
    const v6 = await seenDuring(up, () => raw(g, '/x', [], { host: '[0:0::2]:8080' }));
    expect(headerValues(v6.seen[0]!, 'host')).toEqual(['[::2]:8080']);
  });

  it('H04 punycode is one name: XN-- and xn-- are the same host, a raw Unicode host is refused', async () => {
    const a = await seenDuring(up, () => raw(g, '/x', [], { host: 'XN--BCHER-KVA.example' }));
    expect(headerValues(a.seen[0]!, 'host')).toEqual(['xn--bcher-kva.example']);
    const r = await raw(g, '/x', [], { host: 'b\u00fccher.example' });
    expectError({ status: r.status, headers: new Headers(r.headers), text: r.body }, 400, 'invalid_request');
  });
});
