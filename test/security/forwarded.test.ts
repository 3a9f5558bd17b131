/**
 * Security round 2, item 3 (docs/security-catalogue.md X01-X04): a client
 * cannot pass the backend an address, a forwarding chain or a URL override of
 * its own; Gatehouse sets the headers it owns, and believes a trusted proxy
 * only for X-Forwarded-For, -Proto and -Host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { headerValues, raw, seenDuring } from '../helpers/http.js';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';

let up: TestUpstream;
let g: TestGateway;
let trusting: TestGateway;

beforeAll(async () => {
  up = await startUpstream();
  const routes = [{ name: 'public', match: { path: '/public/**' }, upstream: up.url, auth: 'public' }];
  g = await startGateway({ routes });
  trusting = await startGateway({ routes, server: { trustedProxies: ['127.0.0.1/32'] } });
});
afterAll(async () => {
  await Promise.all([g?.stop(), trusting?.stop()]);
  await up?.close();
});

async function through(gw: TestGateway, headers: Array<[string, string]>): Promise<SeenRequest> {
  const { result, seen } = await seenDuring(up, () => raw(gw, '/public/x', headers));
  expect(result.status, result.body).toBe(200);
  expect(seen).toHaveLength(1);
  return seen[0]!;
}

const names = (s: SeenRequest) => Object.keys(s.headers);

describe('forwarded and client-address headers', () => {
  it('X01 every X-Forwarded-* header a client sends is removed, whatever the name after the prefix, its case or "_" for "-"', async () => {
    const forged: Array<[string, string]> = [
      ['X-Forwarded-Server', 'evil'],
      ['X-Forwarded-Uri', '/admin'],
      ['X-Forwarded-Path', '/admin'],
      ['X-Forwarded-Ssl', 'on'],
      ['X-Forwarded-Client-Cert', 'Hash=abc;Subject="CN=admin"'],
      ['X-Forwarded-User', 'admin'],
      ['X-FORWARDED-EMAIL', 'admin@example.com'],
      ['x_forwarded_for', '10.0.0.1'],
      ['X_Forwarded_Host', 'admin.internal'],
      ['X-Forwarded-Port', '443'],
      ['X-Forwarded-Prefix', '/admin'],
    ];
    const s = await through(g, forged);
    const leaked = names(s).filter(
      (n) => n.replaceAll('_', '-').startsWith('x-forwarded-') && !['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'].includes(n),
    );
    expect(leaked).toEqual([]);
    expect(headerValues(s, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(headerValues(s, 'x-forwarded-proto')).toEqual(['http']);
    expect(headerValues(s, 'x-forwarded-host').join()).not.toContain('admin.internal');
  });

  it("X02 client-address headers are removed (Forwarded, True-Client-IP, X-Client-IP, CF-Connecting-IP, ...); X-Real-IP is Gatehouse's own", async () => {
    const forged: Array<[string, string]> = [
      ['Forwarded', 'for=10.0.0.1;proto=https'],
      ['True-Client-IP', '10.0.0.1'],
      ['X-True-Client-IP', '10.0.0.1'],
      ['X-Client-IP', '10.0.0.1'],
      ['Client-IP', '10.0.0.1'],
      ['X-Cluster-Client-IP', '10.0.0.1'],
      ['CF-Connecting-IP', '10.0.0.1'],
      ['Fastly-Client-IP', '10.0.0.1'],
      ['X-Originating-IP', '10.0.0.1'],
      ['X-Remote-IP', '10.0.0.1'],
      ['X-Remote-Addr', '10.0.0.1'],
      ['X-ProxyUser-Ip', '10.0.0.1'],
      ['X_Client_IP', '10.0.0.1'],
      ['X-Real-IP', '10.0.0.1'],
    ];
    const s = await through(g, forged);
    for (const [name] of forged) {
      if (name === 'X-Real-IP') continue;
      expect(headerValues(s, name), name).toEqual([]);
    }
    expect(JSON.stringify(s.headers)).not.toContain('10.0.0.1');
    expect(headerValues(s, 'x-real-ip')).toEqual(['127.0.0.1']);
  });

  it('X03 URL-override headers are removed (X-Original-URL, X-Rewrite-URL, X-Original-URI, X-Override-URL, X-Envoy-Original-Path, X-HTTP-DestinationURL)', async () => {
    const forged: Array<[string, string]> = [
      ['X-Original-URL', '/admin/x'],
      ['X-Rewrite-URL', '/admin/x'],
      ['X-Original-URI', '/admin/x'],
      ['X-Override-URL', '/admin/x'],
      ['X-Envoy-Original-Path', '/admin/x'],
      ['X-HTTP-DestinationURL', '/admin/x'],
      ['X_Original_URL', '/admin/x'],
    ];
    const s = await through(g, forged);
    expect(s.url).toBe('/public/x');
    expect(JSON.stringify(s.headers)).not.toContain('/admin/x');
  });

  it('X04 a trusted proxy is believed for X-Forwarded-For, -Proto and -Host only; its other forwarding and client-address headers are removed too', async () => {
    const s = await through(trusting, [
      ['X-Forwarded-For', '203.0.113.7'],
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'app.example'],
      ['X-Forwarded-Port', '8443'],
      ['X-Forwarded-Prefix', '/admin'],
      ['X-Forwarded-Server', 'lb-1'],
      ['True-Client-IP', '198.51.100.1'],
      ['Forwarded', 'for=198.51.100.1'],
    ]);
    expect(headerValues(s, 'x-forwarded-for')).toEqual(['203.0.113.7, 127.0.0.1']);
    expect(headerValues(s, 'x-forwarded-proto')).toEqual(['https']);
    expect(headerValues(s, 'x-forwarded-host')).toEqual(['app.example']);
    expect(headerValues(s, 'x-real-ip')).toEqual(['203.0.113.7']);
    for (const name of ['x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server', 'true-client-ip', 'forwarded'])
      expect(headerValues(s, name), name).toEqual([]);
  });
});
