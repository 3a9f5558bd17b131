/**
 * The users file is watched (issue 13 item 3): an edit applies to the next
 * refresh and profile without SIGHUP, a bad edit keeps the last good version
 * and says so (log, /readyz warnings, gatehouse_config_stale), and a refused
 * SIGHUP reload is visible the same way.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFrom } from '../helpers/gateway.js';
import { claimsOf, expectTokens, hashed, login, refresh, request, startIssuer, writeUsers, type IssuerEnv, type UserEntry } from './support.js';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
let env: IssuerEnv;
let users: (roles: string[], withBob?: boolean) => Promise<UserEntry[]>;

beforeAll(async () => {
  users = async (roles, withBob = true) => [
    { username: ALICE, password: await hashed('alice-pw'), roles, email: ALICE, name: 'Alice' },
    ...(withBob ? [{ username: BOB, password: await hashed('bob-pw'), roles: ['user'], email: BOB, name: 'Bob' }] : []),
  ];
  env = await startIssuer({ users: await users(['admin', 'user']) });
});
afterAll(() => env?.stop());

const until = async <T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const readyz = async () => (await (await fetch(`${env.g.adminUrl}/readyz`)).json()) as { status: string; warnings?: string[] };
const stale = async (source: string) =>
  Number(new RegExp(`^gatehouse_config_stale\\{source="${source}"\\} (\\d)$`, 'm').exec(await (await fetch(`${env.g.adminUrl}/metrics`)).text())?.[1] ?? -1);

describe('the users file is watched', () => {
  it('a demoted user loses the role at the next refresh and in the profile, without SIGHUP (file replaced by rename, as editors do)', async () => {
    let tokens = await login(env.g.url, ALICE, 'alice-pw');
    expect(claimsOf(tokens.access_token).roles).toEqual(['admin', 'user']);
    const next = join(env.dir, 'users.yaml.new');
    writeFileSync(next, stringify({ users: await users(['user']) }));
    renameSync(next, env.usersFile);
    tokens = await until(
      async () => expectTokens(await refresh(env.g.url, tokens.refresh_token)),
      (t) => {
        tokens = t;
        return !(claimsOf(t.access_token).roles as string[]).includes('admin');
      },
      'a refresh without admin',
    );
    expect(claimsOf(tokens.access_token).roles).toEqual(['user']);
    const profile = await request(env.g.url, '/auth/profile', { token: tokens.access_token });
    expect(JSON.parse(profile.text)).toMatchObject({ sub: ALICE, roles: ['user'], email: ALICE, name: 'Alice' });
    expect(env.g.logs.lines.some((l) => l.msg === 'users file reloaded')).toBe(true);
  });

  it("an edit in place works too, and a deleted user's refresh and profile are refused", async () => {
    const tokens = await login(env.g.url, BOB, 'bob-pw');
    writeUsers(env.usersFile, await users(['user'], false));
    await until(
      () => refresh(env.g.url, tokens.refresh_token),
      (r) => r.status === 401,
      'bob refused',
    );
    const profile = await request(env.g.url, '/auth/profile', { token: tokens.access_token });
    expect(profile.status).toBe(401);
    expect(JSON.parse(profile.text)).toMatchObject({ error: 'invalid_token' });
    writeUsers(env.usersFile, await users(['user']));
  });

  it('a bad edit keeps the last good version: logged once, /readyz stays 200 with a warning, gatehouse_config_stale{source="users"} is 1 until fixed', async () => {
    await until(
      () =>
        login(env.g.url, BOB, 'bob-pw').then(
          () => true,
          () => false,
        ),
      (ok) => ok,
      'bob back',
    );
    writeFileSync(env.usersFile, 'users:\n  - username: alice@example.com\n    password: not-a-hash\n');
    await until(readyz, (r) => (r.warnings ?? []).length > 0, 'a readyz warning');
    const r = await readyz();
    expect(r.status).toBe('ready');
    expect(r.warnings!.join('\n')).toMatch(/users file .*users\.yaml: the last good version is in use; the file on disk was refused: .*password/);
    expect(await stale('users')).toBe(1);
    expect(env.g.logs.lines.filter((l) => l.msg === 'users file: the new version is invalid; the last good one stays in use')).toHaveLength(1);
    // the last good version still signs people in
    expect((await login(env.g.url, BOB, 'bob-pw')).access_token).toBeTruthy();
    writeUsers(env.usersFile, await users(['user']));
    await until(readyz, (x) => x.warnings === undefined, 'the warning to clear');
    expect(await stale('users')).toBe(0);
  });

  it('a refused SIGHUP reload shows in /readyz (still 200) and gatehouse_config_stale{source="config"} until a good reload', async () => {
    expect(await stale('config')).toBe(0);
    const bad = { ...env.raw, routes: [{ match: { path: 'no-slash' }, upstream: 'http://127.0.0.1:9' }] };
    await expect(Promise.resolve().then(() => configFrom(bad))).rejects.toThrow();
    // a reload from a config file that is now invalid
    const file = join(env.dir, 'gatehouse.yaml');
    writeFileSync(file, stringify(bad));
    const gw = env.g.gw as unknown as { configPath: string | null };
    const saved = gw.configPath;
    gw.configPath = file;
    expect(await env.g.gw.reload()).toBe(false);
    const r = await readyz();
    expect(r.status).toBe('ready');
    expect(r.warnings!.join('\n')).toContain(`${file}: the running config is not the file on disk, whose new version was refused`);
    expect(await stale('config')).toBe(1);
    expect(await env.g.gw.reload(configFrom(env.raw))).toBe(true);
    gw.configPath = saved;
    expect((await readyz()).warnings).toBeUndefined();
    expect(await stale('config')).toBe(0);
  });
});
