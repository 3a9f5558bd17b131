/**
 * A gateway with its own issuer (SPEC §3-§4): a real users file with real
 * argon2 hashes, a real upstream behind a few protected routes, and the
 * login / refresh / rotation helpers that assert the SPEC's token responses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/tokens/passwords.js';
import { expectError, type ErrorBody } from './expect.js';
import { configFrom, startGateway, type TestGateway } from './gateway.js';
import { postForm, postJson, request, sleep, type Reply } from './http.js';
import { makeKey, writeJwkFile, type TestKey } from './keys.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const ISS = 'https://gatehouse.test';

/** One users-file entry (SPEC §4); `password` is the PHC string. */
export interface UserEntry {
  username: string;
  password: string;
  roles?: string[];
  scope?: string;
  [field: string]: unknown;
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  scope?: string;
}

export interface IssuerEnv {
  g: TestGateway;
  up: TestUpstream;
  key: TestKey;
  dir: string;
  usersFile: string;
  /** the raw config the gateway started with (listen addresses included), for reloads */
  raw: Record<string, unknown>;
  /** rewrites the users file and reloads the gateway with the same config */
  setUsers(users: UserEntry[]): Promise<void>;
  stop(): Promise<void>;
}

export interface IssuerOptions {
  users: UserEntry[];
  /** merged into the `issuer` section */
  issuer?: Record<string, unknown>;
  server?: Record<string, unknown>;
  verify?: Record<string, unknown>;
  key?: TestKey;
  iss?: string;
}

const hashes = new Map<string, Promise<string>>();
/** argon2id hash of `password`, computed once per test file. */
export function hashed(password: string): Promise<string> {
  let h = hashes.get(password);
  if (!h) {
    h = hashPassword(password);
    hashes.set(password, h);
  }
  return h;
}

export function ownDir(): string {
  return mkdtempSync(join(tmpdir(), 'gatehouse-issuer-'));
}

export function writeUsers(file: string, users: UserEntry[]): void {
  writeFileSync(file, stringify({ users }));
}

/** A users file in a fresh directory; returns its path. */
export function usersFile(users: UserEntry[], dir = ownDir()): string {
  const file = join(dir, 'users.yaml');
  writeUsers(file, users);
  return file;
}

/** Routes every issuer test shares: /api/** needs any token, /admin-area/** role admin, /orders-write/** scope orders:write. */
export const ROUTES = (upstream: string) => [
  { name: 'api', match: { path: '/api/**' }, upstream, auth: 'required' },
  { name: 'admin-area', match: { path: '/admin-area/**' }, upstream, auth: { roles: ['admin'] } },
  { name: 'orders-write', match: { path: '/orders-write/**' }, upstream, auth: { scopes: ['orders:write'] } },
];

/** A real gateway with an issuer, a users file and an upstream, all on loopback. */
export async function startIssuer(opts: IssuerOptions): Promise<IssuerEnv> {
  const dir = ownDir();
  const key = opts.key ?? (await makeKey('ES256', `sig-${Math.random().toString(36).slice(2, 8)}`));
  const file = usersFile(opts.users, dir);
  const up = await startUpstream();
  const raw: Record<string, unknown> = {
    log: { level: 'info' },
    server: { listen: '127.0.0.1:0', ...opts.server },
    admin: { listen: '127.0.0.1:0' },
    issuer: {
      iss: opts.iss ?? ISS,
      audience: 'api',
      accessTokenTtl: '15m',
      refreshTokenTtl: '14d',
      signingKeys: [{ file: writeJwkFile(key.privateJwk, dir) }],
      users: { file },
      claims: ['email', 'name'],
      // the token service as it was before clients: the password grant listed (SPEC §8 leaves it off by default)
      grants: ['password', 'refresh_token'],
      ...opts.issuer,
    },
    verify: { ...opts.verify },
    identity: { headers: { 'X-User-Id': 'sub', 'X-User-Roles': 'roles', 'X-User-Scopes': 'scope', 'X-User-Email': 'email' } },
    routes: ROUTES(up.url),
  };
  let g: TestGateway;
  try {
    g = await startGateway(raw);
  } catch (err) {
    await up.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    g,
    up,
    key,
    dir,
    usersFile: file,
    raw,
    async setUsers(users) {
      writeUsers(file, users);
      expect(await g.gw.reload(configFrom(raw))).toBe(true);
    },
    async stop() {
      await g.stop();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The body with its request_id blanked, for byte-for-byte comparison of error answers (SECURITY.md O10, O13). */
export function withoutRequestId(r: Reply): string {
  const body = JSON.parse(r.text) as ErrorBody;
  return r.text.replace(JSON.stringify(body.request_id), '"-"');
}

/** Header names of a reply, sorted. */
export function headerNames(r: Reply): string[] {
  return [...r.headers.keys()].sort();
}

/** RFC 6749 §5.1 token response with no-store / no-cache (SECURITY.md O08). */
export function expectTokens(r: Reply): TokenResponse {
  expect(r.status, r.text).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^application\/json(;|$)/);
  expect(r.headers.get('cache-control')).toBe('no-store');
  expect(r.headers.get('pragma')).toBe('no-cache');
  const t = JSON.parse(r.text) as TokenResponse;
  expect(typeof t.access_token).toBe('string');
  expect(t.token_type).toBe('Bearer');
  expect(Number.isInteger(t.expires_in) && t.expires_in > 0).toBe(true);
  expect(typeof t.refresh_token).toBe('string');
  expect(Number.isInteger(t.refresh_expires_in) && t.refresh_expires_in > 0).toBe(true);
  expect(t.access_token).not.toBe(t.refresh_token);
  return t;
}

export async function login(base: string, username: string, password: string, extra: Record<string, unknown> = {}): Promise<TokenResponse> {
  return expectTokens(await postJson(base, '/auth/login', { username, password, ...extra }));
}

export function refresh(base: string, refreshToken: string, extra: Record<string, unknown> = {}): Promise<Reply> {
  return postJson(base, '/auth/refresh', { refresh_token: refreshToken, ...extra });
}

export function oauthRefresh(base: string, refreshToken: string, extra: Record<string, string> = {}): Promise<Reply> {
  return postForm(base, '/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'cli', ...extra });
}

/** A refresh token that is dead: 401 invalid_grant on /auth/refresh, 400 invalid_grant on /oauth/token. */
export async function expectRefreshRejected(base: string, refreshToken: string): Promise<{ auth: Reply; oauth: Reply }> {
  const auth = await refresh(base, refreshToken);
  expectError(auth, 401, 'invalid_grant');
  const oauth = await oauthRefresh(base, refreshToken);
  expectError(oauth, 400, 'invalid_grant');
  return { auth, oauth };
}

/** A request through the proxy to the real upstream; `reached` says whether the upstream saw it. */
export async function callApi(env: Pick<IssuerEnv, 'g' | 'up'>, token: string | undefined, path = '/api/orders'): Promise<{ reply: Reply; reached: boolean }> {
  const before = env.up.seen.length;
  const reply = await request(env.g.url, path, token === undefined ? {} : { token });
  return { reply, reached: env.up.seen.length > before };
}

export async function expectApiOk(env: Pick<IssuerEnv, 'g' | 'up'>, token: string, path = '/api/orders'): Promise<Record<string, string>> {
  const { reply, reached } = await callApi(env, token, path);
  expect(reply.status, reply.text).toBe(200);
  expect(reached).toBe(true);
  const echoed = JSON.parse(reply.text) as { headers: Record<string, string> };
  return echoed.headers;
}

/** 401 invalid_token (or another error) with the RFC 6750 challenge, and the upstream never called. */
export async function expectApiRejected(
  env: Pick<IssuerEnv, 'g' | 'up'>,
  token: string | undefined,
  status = 401,
  code = 'invalid_token',
  path = '/api/orders',
): Promise<ErrorBody> {
  const { reply, reached } = await callApi(env, token, path);
  const body = expectError(reply, status, code);
  expect(reached).toBe(false);
  if (code === 'invalid_token' || code === 'insufficient_scope') expect(reply.headers.get('www-authenticate')).toContain(`error="${code}"`);
  return body;
}

export function claimsOf(token: string): JWTPayload & Record<string, unknown> {
  return decodeJwt(token) as JWTPayload & Record<string, unknown>;
}

export function headerOf(token: string): Record<string, unknown> {
  return decodeProtectedHeader(token) as Record<string, unknown>;
}

/** A refresh token shaped exactly like Gatehouse's, signed with any key (for unknown-family and other-deployment cases). */
export async function forgeRefresh(
  key: TestKey,
  claims: { iss?: string; sub?: string; sid?: string; jti?: string; ttl?: number; scope?: string } = {},
): Promise<string> {
  const iss = claims.iss ?? ISS;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: claims.sid ?? crypto.randomUUID(), scope: claims.scope ?? '' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'refresh+jwt' })
    .setIssuer(iss)
    .setAudience(iss)
    .setSubject(claims.sub ?? 'alice@example.com')
    .setJti(claims.jti ?? crypto.randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.ttl ?? 600))
    .sign(key.privateKey);
}

/** Waits (real time) until a token's `exp` has passed by `marginMs`. */
export async function untilExpired(token: string, marginMs = 150): Promise<void> {
  const exp = claimsOf(token).exp as number;
  const wait = exp * 1000 + marginMs - Date.now();
  if (wait > 0) await sleep(wait);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
