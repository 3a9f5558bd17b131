/**
 * What an operator reads when an IdP's JWKS misbehaves: errors name the URL
 * and the cause, "cached keys stay in use" only when there are some, and a
 * JWKS that also publishes encryption keys (every Keycloak realm does) is not
 * a warning at every refresh.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchFailure } from '../../src/tokens/jwks.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeKey } from '../helpers/keys.js';
import { deadPort } from '../helpers/upstream.js';

const running: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function jwksServer(body: () => unknown): Promise<{ url: string; server: Server; fetches: number }> {
  const s = { url: '', server: createServer(), fetches: 0 };
  s.server.on('request', (_req, res) => {
    s.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body()));
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}/certs`;
  running.push({ stop: () => new Promise<void>((r) => s.server.close(() => r())) });
  return s;
}

async function gateway(jwksUri: string, refresh = '1s'): Promise<TestGateway> {
  const g = await startGateway({
    trustedIssuers: [{ iss: 'https://idp.test', jwksUri, audience: 'api', jwksRefresh: refresh, jwksCooldown: '100ms' }],
    routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:9', auth: 'public' }],
  });
  running.push(g);
  return g;
}

const waitFor = async (cond: () => boolean, what: string, ms = 5000) => {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('JWKS messages for operators', () => {
  it('an unreachable JWKS: the log and /readyz name the URL and the cause, and say no keys are loaded (not "cached keys stay in use")', async () => {
    const url = `http://127.0.0.1:${await deadPort()}/realms/main/certs`;
    const g = await gateway(url);
    await waitFor(() => g.logs.lines.some((l) => l.jwksUri === url), 'a JWKS log line');
    const line = g.logs.lines.find((l) => l.jwksUri === url)!;
    expect(line.msg).toBe("JWKS could not be loaded; this issuer's tokens are refused until it loads");
    expect(String(line.err)).toContain(url);
    expect(String(line.err)).toMatch(/ECONNREFUSED/);
    expect(String(line.err)).not.toMatch(/fetch failed \(fetch failed\)/);
    expect(g.logs.text()).not.toContain('cached key');
    const ready = (await (await fetch(`${g.adminUrl}/readyz`)).json()) as { reasons: string[] };
    expect(ready.reasons.join('\n')).toContain(`issuer https://idp.test: JWKS ${url}: connect ECONNREFUSED`);
  });

  it('a JWKS that went away after loading: "the 1 cached key stays in use"', async () => {
    const key = await makeKey('RS256', 'sig-1');
    let up = true;
    const s = await jwksServer(() => ({ keys: [key.publicJwk] }));
    s.server.removeAllListeners('request');
    s.server.on('request', (req, res) => {
      if (!up) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [key.publicJwk] }));
    });
    const g = await gateway(s.url);
    await waitFor(() => g.gw.runtime.keySources[0]!.source.ready(), 'keys loaded');
    up = false;
    await waitFor(() => g.logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('JWKS refresh failed')), 'a failed refresh', 5000);
    const line = g.logs.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('JWKS refresh failed'))!;
    expect(line.msg).toBe('JWKS refresh failed; the 1 cached key stays in use');
    expect(line.level).toBe(40);
    expect(String(line.err)).toContain(s.url);
  });

  it('encryption keys in the JWKS (Keycloak publishes RSA-OAEP keys with use "enc") are skipped without a warning at each refresh; a bad signing key is warned about once', async () => {
    const sig = await makeKey('RS256', 'sig-1');
    const enc = { ...(await makeKey('RS256', 'enc-1')).publicJwk, use: 'enc', alg: 'RSA-OAEP' };
    const weak = { kty: 'RSA', kid: 'weak', n: Buffer.alloc(128, 1).toString('base64url'), e: 'AQAB', use: 'sig' };
    const s = await jwksServer(() => ({ keys: [sig.publicJwk, enc, weak] }));
    const g = await gateway(s.url, '1s');
    await waitFor(() => s.fetches >= 3, 'three refreshes', 8000);
    const warnings = g.logs.lines.filter((l) => l.level === 40);
    expect(warnings.filter((l) => String(l.msg).includes('"enc-1"'))).toEqual([]);
    expect(warnings.filter((l) => String(l.msg).includes('"weak"'))).toHaveLength(1);
  });

  it('fetchFailure: the cause of undici\'s "fetch failed"', () => {
    expect(
      fetchFailure(
        Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) }),
      ),
    ).toBe('connect ECONNREFUSED 127.0.0.1:9');
    expect(
      fetchFailure(Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND idp'), { code: 'ENOTFOUND' }) })),
    ).toBe('getaddrinfo ENOTFOUND idp');
    expect(fetchFailure(Object.assign(new TypeError('fetch failed'), { cause: { code: 'UND_ERR_CONNECT_TIMEOUT', message: 'Connect Timeout Error' } }))).toBe(
      'UND_ERR_CONNECT_TIMEOUT: Connect Timeout Error',
    );
    expect(fetchFailure(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe('timed out');
  });
});
