/**
 * The manual lives in the repository (issue 13 item 2): every config key the
 * validator accepts is shown in docs/configuration.md, and README.md and
 * docs/ link only to files that exist in the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateConfig } from '../../src/config/validate/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');
const generic = (path: string) => path.replace(/\[\d+\]/g, '[]');

/** A config that reaches every mapping the validator reads (validity does not matter: keys are reported as each mapping is read). */
const EVERY_SECTION = {
  server: { tls: { cert: 'c.pem', key: 'k.pem' }, publicUrl: 'https://app.example' },
  admin: { listen: '127.0.0.1:9090' },
  issuer: {
    iss: 'https://app.example',
    signingKeys: [{ file: 'k.jwk.json' }],
    users: { file: 'users.yaml' },
    throttle: {},
    endpoints: {},
    tokenResponse: {},
    clients: [{ id: 'c' }],
  },
  trustedIssuers: [
    { iss: 'https://idp.example', jwksUri: 'https://idp.example/certs', audience: 'api' },
    { iss: 'https://partner.example', keys: [{ file: 'p.pem', kid: 'a' }], audience: 'api' },
  ],
  verify: { cache: {} },
  revocation: { store: 'redis', redis: {} },
  identity: { headers: {} },
  sessions: {},
  log: { level: 'info' },
  routes: [{ match: { path: '/**' }, upstream: 'http://127.0.0.1:3001', auth: { roles: ['admin'] } }],
};

/** Every key path the validator accepts, arrays written `[]` (routes[].match.path). */
function schemaKeys(): Set<string> {
  const keys = new Set<string>();
  validateConfig(EVERY_SECTION, (path, allowed) => {
    for (const k of allowed) keys.add(generic(path ? `${path}.${k}` : k));
  });
  return keys;
}

/** Every key path shown in the YAML blocks of a markdown file. */
function documentedKeys(markdown: string): Set<string> {
  const keys = new Set<string>();
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) for (const item of v) walk(item, `${path}[]`);
    else if (v !== null && typeof v === 'object')
      for (const [k, child] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        keys.add(p);
        walk(child, p);
      }
  };
  for (const m of markdown.matchAll(/```yaml\n([\s\S]*?)```/g)) for (const doc of parseAllDocuments(m[1] as string)) walk(doc.toJS(), '');
  return keys;
}

describe('docs/configuration.md', () => {
  it('shows every config key the validator accepts', () => {
    const schema = schemaKeys();
    // the walk reached every section (a guard against this test passing by seeing nothing)
    for (const k of [
      'server.tls.cert',
      'issuer.endpoints.login',
      'issuer.clients[].redirectUris',
      'trustedIssuers[].keys[].kid',
      'revocation.redis.sentinels',
      'routes[].auth.roles',
      'sessions.idleTtl',
    ])
      expect(schema).toContain(k);
    const documented = documentedKeys(read('docs/configuration.md'));
    const missing = [...schema].filter((k) => !documented.has(k)).sort();
    expect(missing, 'keys accepted by the config validator but not shown in docs/configuration.md').toEqual([]);
  });

  it('shows no key the validator would refuse', () => {
    const schema = schemaKeys();
    const open = ['identity.headers.', 'routes[].auth.claims.'];
    const unknown = [...documentedKeys(read('docs/configuration.md'))].filter((k) => !schema.has(k) && !open.some((o) => k.startsWith(o)));
    expect(unknown).toEqual([]);
  });
});

describe('README.md and docs/ stand alone', () => {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];

  it.each(files)('%s names no document outside the repository', (file) => {
    const text = read(file);
    expect(text).not.toMatch(/\.\.\/shared|SPEC\.md|SPEC §|SECURITY\.md/);
  });

  it.each(files)('%s links only to files that exist', (file) => {
    const text = read(file);
    for (const m of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/i.test(target)) continue; // a URL
      expect(existsSync(join(ROOT, dirname(file), target)), `${file} links to ${target}`).toBe(true);
    }
  });
});
