/**
 * SPEC §8 config: `issuer.grants` and the client registry. Every refusal
 * names its YAML path; the defaults follow RFC 9700 (no password grant unless
 * listed, PKCE-only public clients).
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { configWarnings } from '../../src/config/warnings.js';

const issuer = (extra: Record<string, unknown>) => ({
  iss: 'https://app.example',
  signingKeys: [{ file: 'k.jwk.json' }],
  users: { file: 'users.yaml' },
  ...extra,
});
const withSessions = (extra: Record<string, unknown>) => ({
  server: { listen: '127.0.0.1:8080', publicUrl: 'https://app.example', tls: { cert: 'c.pem', key: 'k.pem' } },
  issuer: issuer(extra),
  sessions: {},
  routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:3001' }],
});
const parse = (raw: unknown) => {
  const { config, problems } = parseConfigText(stringify(raw), { SECRET: 'a-secret-of-24-characters' });
  const lines = problems.map((p) => `${p.path}: ${p.message}`);
  return { config, lines };
};
const spa = { id: 'spa', redirectUris: ['https://app.example/cb'] };

describe('issuer.grants', () => {
  it('defaults to authorization_code, refresh_token, client_credentials with sessions; without sessions the code grant is left out', () => {
    expect(parse(withSessions({})).config?.issuer?.grants).toEqual(['authorization_code', 'refresh_token', 'client_credentials']);
    const noSessions = parse({ issuer: issuer({}), routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:3001' }] });
    expect(noSessions.config?.issuer?.grants).toEqual(['refresh_token', 'client_credentials']);
  });

  it('password only when listed, and then check warns with RFC 9700', () => {
    const { config } = parse(withSessions({ grants: ['authorization_code', 'refresh_token', 'password'] }));
    expect(config?.issuer?.grants).toContain('password');
    const warnings = configWarnings(config!);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.path).toBe('issuer.grants');
    expect(warnings[0]?.message).toMatch(/RFC 9700/);
    expect(configWarnings(parse(withSessions({})).config!)).toEqual([]);
  });

  it.each([
    [{ grants: ['implicit'] }, /^issuer\.grants\[0\]: "implicit" is not a grant Gatehouse serves/],
    [{ grants: 'password' }, /^issuer\.grants: must be a list of strings/],
    [{ authorizationCodeTtl: '5m' }, /^issuer\.authorizationCodeTtl: must be from 1s to 60s/],
  ])('refuses %j', (extra, want) => {
    const { config, lines } = parse(withSessions(extra));
    expect(config).toBeNull();
    expect(
      lines.some((l) => want.test(l)),
      lines.join('\n'),
    ).toBe(true);
  });

  it('authorization_code listed without sessions is refused: the user signs in on the sessions pages', () => {
    const { lines } = parse({ issuer: issuer({ grants: ['authorization_code'] }), routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:3001' }] });
    expect(lines.some((l) => /^issuer\.grants\[0\]: authorization_code needs the sessions section/.test(l))).toBe(true);
  });
});

describe('issuer.clients', () => {
  it('a public client gets the code and refresh grants and the OIDC scopes by default; a confidential one client credentials too', () => {
    const { config, lines } = parse(withSessions({ clients: [spa, { id: 'svc', secret: '${SECRET}', redirectUris: ['https://svc.example/cb'] }] }));
    expect(lines).toEqual([]);
    const [a, b] = config!.issuer!.clients;
    expect(a).toMatchObject({
      id: 'spa',
      name: 'spa',
      consent: true,
      grants: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'profile', 'email'],
      secret: null,
    });
    expect(b).toMatchObject({ grants: ['authorization_code', 'refresh_token', 'client_credentials'], secret: 'a-secret-of-24-characters' });
  });

  it.each([
    [[{ redirectUris: ['https://a.example/cb'] }], /^issuer\.clients\[0\]\.id: is required/],
    [[spa, spa], /^issuer\.clients\[1\]\.id: "spa" is already registered \(issuer\.clients\[0\]\)/],
    [[{ id: 'a b', redirectUris: ['https://a.example/cb'] }], /^issuer\.clients\[0\]\.id: must be 1-128 letters/],
    [[{ id: 'a' }], /^issuer\.clients\[0\]\.redirectUris: the authorization_code grant needs at least one exact redirect URI/],
    [[{ id: 'a', redirectUris: ['http://app.example/cb'] }], /^issuer\.clients\[0\]\.redirectUris\[0\]: "http:\/\/app\.example\/cb" must be https/],
    [[{ id: 'a', redirectUris: ['https://app.example/cb#x'] }], /redirectUris\[0\]: .* must not have a fragment/],
    [[{ id: 'a', redirectUris: ['https://u:p@app.example/cb'] }], /redirectUris\[0\]: .* must not contain userinfo/],
    [[{ id: 'a', redirectUris: ['javascript:alert(1)'] }], /redirectUris\[0\]: .* must be https, loopback http, or a private-use scheme/],
    [[{ ...spa, postLogoutRedirectUris: ['/relative'] }], /postLogoutRedirectUris\[0\]: .* must be an absolute URL/],
    [[{ ...spa, secret: 'short' }], /^issuer\.clients\[0\]\.secret: must be at least 16 characters/],
    [[{ ...spa, secretHash: 'plain' }], /^issuer\.clients\[0\]\.secretHash: must be an argon2 PHC string/],
    [[{ ...spa, secret: 'x'.repeat(20), secretHash: '$argon2id$v=19$m=19456,t=2,p=1$a$b' }], /^issuer\.clients\[0\]: give secret or secretHash, not both/],
    [[{ ...spa, grants: ['client_credentials'] }], /^issuer\.clients\[0\]\.grants\[0\]: client_credentials needs a confidential client/],
    [[{ ...spa, grants: ['password'] }], /^issuer\.clients\[0\]\.grants\[0\]: "password" is not in issuer\.grants/],
    [[{ ...spa, scopes: ['bad scope'] }], /^issuer\.clients\[0\]\.scopes\[0\]: "bad scope" is not a valid scope/],
    [
      [{ id: 'svc', secret: 'x'.repeat(20), grants: ['client_credentials'], scopes: ['openid'] }],
      /^issuer\.clients\[0\]\.scopes: openid, profile and email describe a user/,
    ],
    [[{ ...spa, consent: 'maybe' }], /^issuer\.clients\[0\]\.consent: must be true or false/],
    [[{ ...spa, redirect: ['x'] }], /^issuer\.clients\[0\]\.redirect: unknown key/],
    ['spa', /^issuer\.clients: must be a list of clients/],
  ])('refuses %j with its YAML path', (clients, want) => {
    const { config, lines } = parse(withSessions({ clients }));
    expect(config).toBeNull();
    expect(
      lines.some((l) => want.test(l)),
      lines.join('\n'),
    ).toBe(true);
  });

  it('accepts loopback and private-use redirect URIs for native apps', () => {
    const { lines } = parse(withSessions({ clients: [{ id: 'cli', redirectUris: ['http://127.0.0.1/cb', 'http://[::1]/cb', 'com.example.app:/oauth'] }] }));
    expect(lines).toEqual([]);
  });
});
