import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseUsersFile, UserDirectory, UsersFileError } from '../../src/tokens/users.js';

const ARGON = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA';
const BCRYPT = `$2b$10$${'a'.repeat(53)}`;

const lines = (text: string) => parseUsersFile(text).problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));

describe('users file validation (config/validate/users-file.ts)', () => {
  it('accepts SPEC §4 users, NFC-normalises names and keeps extra fields for issuer.claims', () => {
    const { users, problems } = parseUsersFile(
      stringify({
        users: [
          { username: 'A\u0301lice', password: ARGON, roles: ['admin'], scope: 'orders:read', email: 'a@example.com', groups: ['x'] },
          { username: 'bob', password: BCRYPT },
        ],
      }),
    );
    expect(problems).toEqual([]);
    expect(users.map((u) => u.username)).toEqual(['\u00c1lice', 'bob']);
    expect(users[0]).toMatchObject({ roles: ['admin'], scope: 'orders:read', fields: { email: 'a@example.com', groups: ['x'] } });
    expect(users[1]).toMatchObject({ roles: [], scope: '', fields: {} });
    expect(Object.isFrozen(users[0])).toBe(true);
  });

  it('a login name finds a user by username, else by the email field (usernames win); two users with one email are refused', () => {
    const dir = UserDirectory.fromText(
      stringify({
        users: [
          { username: 'john', password: ARGON, email: 'john@mail.com' },
          { username: 'ann@mail.com', password: ARGON, email: 'ann@work.example' },
          { username: 'eve', password: ARGON, email: 'ann@mail.com' },
        ],
      }),
    );
    expect(dir.find('john@mail.com')?.username).toBe('john');
    expect(dir.find('john')?.username).toBe('john');
    expect(dir.find('ann@mail.com')?.username).toBe('ann@mail.com');
    expect(dir.find('ann@work.example')?.username).toBe('ann@mail.com');
    expect(dir.find('nobody@mail.com')).toBeUndefined();
    expect(dir.get('john@mail.com')).toBeUndefined(); // tokens name users by username only
    expect(
      lines(
        stringify({
          users: [
            { username: 'a', password: ARGON, email: 'x@y' },
            { username: 'b', password: ARGON, email: 'x@y' },
          ],
        }),
      ),
    ).toEqual(['users[1].email: "x@y" is also the email of users[0]']);
  });

  it('reports every problem at once, each at its path in the users file', () => {
    const text = stringify({
      users: [
        { username: 'alice', password: 'plain-text', roles: 'admin', scope: 3 },
        'not a user',
        { password: ARGON, nested: { a: 1 } },
        { username: 'alice', password: ARGON },
      ],
      admins: [],
    });
    expect(lines(text)).toEqual([
      'admins: unknown key (allowed: users)',
      'users[0].password: must be an argon2 PHC string ($argon2id$...) or a bcrypt hash ($2b$...); create one with "gatehouse hash-password"',
      'users[0].roles: must be a list of strings',
      'users[0].scope: must be a space-separated string',
      'users[1]: must be a mapping',
      'users[2].username: is required',
      'users[2].nested: must be a string, number, boolean or list of strings',
      'users[3].username: "alice" is listed twice',
    ]);
  });

  it.each([
    ['', 'users: must be a list'],
    ['users: 3', 'users: must be a list'],
    ['users: [\n', /^YAML: /],
    ['users: []\nusers: []', /^YAML: .*unique/i],
  ])('%j: %s', (text, want) => {
    const got = lines(text);
    expect(got).toHaveLength(1);
    if (typeof want === 'string') expect(got[0]).toBe(want);
    else expect(got[0]).toMatch(want);
  });

  it('UserDirectory throws one UsersFileError naming the file and listing the same problems', () => {
    const text = stringify({
      users: [
        { username: 'a', password: 'x' },
        { username: '', password: ARGON },
      ],
    });
    expect(() => UserDirectory.fromText(text, 'config/users.yaml')).toThrow(UsersFileError);
    expect(() => UserDirectory.fromText(text, 'config/users.yaml')).toThrow(`config/users.yaml: ${lines(text).join('; ')}`);
    expect(UserDirectory.fromText(stringify({ users: [{ username: 'A\u0301', password: ARGON }] })).get('\u00c1')?.username).toBe('\u00c1');
  });
});
