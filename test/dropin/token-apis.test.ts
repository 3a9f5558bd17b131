/**
 * Drop-in for existing token APIs (issue 13 item 1): clients written to the
 * letter of two public token API documents work unchanged against the
 * example configs the project ships. Each gateway runs the shipped file
 * itself (config/examples/*.yaml, through a symlink so its relative paths
 * resolve in a scratch directory where --demo writes the signing key), with
 * the listen addresses and the upstream taken from the environment the way
 * the files allow, and a real counting upstream behind the protected routes.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, request, type Reply } from '../helpers/http.js';
import { deadPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { ROOT, spawnCli, type Cli } from '../cli/support.js';

interface Running {
  cwd: string;
  cli: Cli;
  url: string;
  up: TestUpstream;
}

/** `gatehouse start --demo -c config/examples/<name>.yaml` from a scratch directory whose config/examples is the repository's. */
async function startExample(name: string): Promise<Running> {
  const cwd = mkdtempSync(join(tmpdir(), `gatehouse-${name}-`));
  mkdirSync(join(cwd, 'config', 'keys'), { recursive: true });
  symlinkSync(join(ROOT, 'config', 'examples'), join(cwd, 'config', 'examples'));
  const up = await startUpstream();
  const [port, admin] = [await deadPort(), await deadPort()];
  const cli = spawnCli(['start', '--demo', '-c', `config/examples/${name}.yaml`], {
    cwd,
    env: { GATEHOUSE_LISTEN: `127.0.0.1:${port}`, GATEHOUSE_ADMIN_LISTEN: `127.0.0.1:${admin}`, GATEHOUSE_UPSTREAM: up.url },
  });
  await cli.waitFor('stderr', (t) => t.includes('Sign in as'), 20_000);
  // --demo prints the example's own opening comment, not the shipped demo's alice/bob banner
  expect(cli.stderr()).toContain(`listening on http://127.0.0.1:${port}`);
  expect(cli.stderr()).toContain(`Run it:  npx gatehouse start --demo -c config/examples/${name}.yaml`);
  expect(cli.stderr()).not.toContain('alice@example.com');
  return { cwd, cli, url: `http://127.0.0.1:${port}`, up };
}

async function stop(r: Running | undefined): Promise<void> {
  if (!r) return;
  r.cli.child.kill('SIGTERM');
  await r.cli.exited;
  await r.up.close();
  rmSync(r.cwd, { recursive: true, force: true });
}

const json = (r: Reply) => JSON.parse(r.text) as Record<string, unknown>;
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** the request did not reach the upstream: `fn`'s answer, with the upstream's count unchanged */
async function notForwarded(run: Running, fn: () => Promise<Reply>): Promise<Reply> {
  const before = run.up.seen.length;
  const r = await fn();
  expect(run.up.seen.length, 'the upstream was called').toBe(before);
  return r;
}

describe('config/examples/token-endpoint.yaml: the "POST /token" API', () => {
  let g: Running;
  beforeAll(async () => {
    g = await startExample('token-endpoint');
  });
  afterAll(() => stop(g));

  it('POST /token with {"username","password"} answers token, refresh_token, token_type Bearer, expires_in 3600; the token opens /protected-endpoint', async () => {
    // the document's request body as printed (postJson sends Content-Type: application/json, as its curl does)
    const r = await postJson(g.url, '/token', '{"username": "your-email@example.com", "password": "your-password"}');
    expect(r.status).toBe(200);
    const body = json(r);
    expect(body.token).toMatch(JWT);
    expect(body.refresh_token).toMatch(JWT);
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    expect(body).not.toHaveProperty('access_token');
    expect(r.headers.get('cache-control')).toBe('no-store');

    const api = await request(g.url, '/protected-endpoint', { headers: { Authorization: `Bearer ${body.token as string}` } });
    expect(api.status).toBe(200);
    expect(g.up.seen.at(-1)?.url).toBe('/protected-endpoint');
    expect(g.up.seen.at(-1)?.headers['x-user-id']).toBe('your-email@example.com');
  });

  it('POST /token with {"refresh_token"} rotates: a new pair, and the old refresh token is refused (401) after that', async () => {
    const first = json(await postJson(g.url, '/token', { username: 'your-email@example.com', password: 'your-password' }));
    const next = await postJson(g.url, '/token', { refresh_token: first.refresh_token });
    expect(next.status).toBe(200);
    expect(json(next).token).toMatch(JWT);
    expect(json(next).refresh_token).not.toBe(first.refresh_token);
    const again = await postJson(g.url, '/token', { refresh_token: first.refresh_token });
    expect(again.status).toBe(401);
    expect(json(again)).toMatchObject({ error: 'invalid_grant' });
    expect(json(again)).not.toHaveProperty('token');
  });

  it("no token: 401 with the document's own error text, upstream not called", async () => {
    const r = await notForwarded(g, () => request(g.url, '/protected-endpoint'));
    expect(r.status).toBe(401);
    expect(json(r)).toMatchObject({
      error: 'unauthorized',
      error_description: 'You must specify a Bearer token in the Authorization header to access this resource',
    });
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('a forged or garbage token: 401, upstream not called', async () => {
    for (const token of ['eyJhbGciOiJSUzI1NiIsImtpZCI6...', 'not-a-token']) {
      const r = await notForwarded(g, () => request(g.url, '/protected-endpoint', { headers: { Authorization: `Bearer ${token}` } }));
      expect(r.status).toBe(401);
      expect(json(r)).toMatchObject({ error: 'invalid_token' });
    }
  });

  it('a wrong password: 401 with the generic message, no token', async () => {
    const r = await postJson(g.url, '/token', { username: 'your-email@example.com', password: 'not-your-password' });
    expect(r.status).toBe(401);
    expect(json(r)).toMatchObject({ error: 'invalid_credentials', error_description: 'The username or password is incorrect' });
    expect(json(r)).not.toHaveProperty('token');
  });
});

describe('config/examples/fake-store.yaml: the "/api/v1/auth" API', () => {
  let g: Running;
  beforeAll(async () => {
    g = await startExample('fake-store');
  });
  afterAll(() => stop(g));

  const login = () => postJson(g.url, '/api/v1/auth/login', '{\n"email": "john@mail.com",\n"password": "changeme"\n}');

  it('login with {"email","password"} (matched against the users\' email field) answers access_token and refresh_token', async () => {
    const r = await login();
    expect(r.status).toBe(200);
    expect(json(r).access_token).toMatch(JWT);
    expect(json(r).refresh_token).toMatch(JWT);
  });

  it('profile answers id, email, name, role, avatar from the users file, never a password or hash', async () => {
    const token = json(await login()).access_token as string;
    const r = await notForwarded(g, () => request(g.url, '/api/v1/auth/profile', { headers: { Authorization: `Bearer ${token}` } }));
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({
      id: 1,
      email: 'john@mail.com',
      name: 'Jhon',
      role: 'customer',
      avatar: 'https://api.lorem.space/image/face?w=640&h=480&r=867',
    });
    expect(json(r)).not.toHaveProperty('password');
    expect(r.text).not.toMatch(/argon2|changeme/);
  });

  it('refresh-token with {"refreshToken"} answers a new pair; the old refresh token is then refused', async () => {
    const first = json(await login());
    const r = await postJson(g.url, '/api/v1/auth/refresh-token', `{\n"refreshToken": "${first.refresh_token as string}"\n}`);
    expect(r.status).toBe(200);
    expect(json(r).access_token).toMatch(JWT);
    expect(json(r).refresh_token).not.toBe(first.refresh_token);
    const again = await postJson(g.url, '/api/v1/auth/refresh-token', { refreshToken: first.refresh_token });
    expect(again.status).toBe(401);
    expect(json(again)).not.toHaveProperty('access_token');
  });

  it('401: a wrong password, an unknown email, no token, a bad token; upstream not called', async () => {
    for (const body of [
      { email: 'john@mail.com', password: 'wrong' },
      { email: 'nobody@mail.com', password: 'changeme' },
    ]) {
      const r = await notForwarded(g, () => postJson(g.url, '/api/v1/auth/login', body));
      expect(r.status).toBe(401);
      expect(json(r)).toMatchObject({ error: 'invalid_credentials', error_description: 'The username or password is incorrect' });
    }
    for (const headers of [{}, { Authorization: 'Bearer not-a-token' }]) {
      for (const path of ['/api/v1/auth/profile', '/api/v1/products']) {
        const r = await notForwarded(g, () => request(g.url, path, { headers }));
        expect(r.status).toBe(401);
        expect(json(r)).toHaveProperty('error');
      }
    }
  });

  it('403: john (role customer) on /api/v1/users/**, which needs role admin; upstream not called; other routes let him through', async () => {
    const token = json(await login()).access_token as string;
    const r = await notForwarded(g, () => request(g.url, '/api/v1/users/1', { headers: { Authorization: `Bearer ${token}` } }));
    expect(r.status).toBe(403);
    expect(json(r)).toMatchObject({ error: 'insufficient_scope' });
    const ok = await request(g.url, '/api/v1/products', { headers: { Authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(g.up.seen.at(-1)?.headers['x-user-id']).toBe('john');
    const admin = json(await postJson(g.url, '/api/v1/auth/login', { email: 'admin@mail.com', password: 'admin123' })).access_token as string;
    expect((await request(g.url, '/api/v1/users/1', { headers: { Authorization: `Bearer ${admin}` } })).status).toBe(200);
  });

  it('400: a malformed body or a missing field; nothing issued', async () => {
    for (const body of ['{"email": "john@mail.com"', '["john@mail.com", "changeme"]', '{"email": "john@mail.com"}', '{"password": "changeme"}']) {
      const r = await notForwarded(g, () => postJson(g.url, '/api/v1/auth/login', body));
      expect(r.status).toBe(400);
      expect(json(r)).toMatchObject({ error: 'invalid_request' });
      expect(json(r)).not.toHaveProperty('access_token');
    }
    const r = await postJson(g.url, '/api/v1/auth/refresh-token', '{"refreshToken": 42}');
    expect([400, 401]).toContain(r.status);
    expect(json(r)).not.toHaveProperty('access_token');
  });
});
