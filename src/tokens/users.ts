import { readFileSync } from 'node:fs';
import type { ConfigProblem } from '../config/validate/index.js';
import { parseUsersFile as parseWith, type User } from '../config/validate/users-file.js';
import { isSupportedHash } from './passwords.js';

export type { User } from '../config/validate/users-file.js';

/** The users file's problems, each at its path in that file (`users[0].password: ...`), and its users when there are none. */
export function parseUsersFile(text: string): { users: User[]; problems: ConfigProblem[] } {
  return parseWith(text, isSupportedHash);
}

export class UsersFileError extends TypeError {
  override name = 'UsersFileError';
}

/**
 * The users file (SPEC §4). Usernames are matched exactly as written (after
 * Unicode NFC normalisation), so `Alice` and `alice` are different users
 * unless the file says otherwise.
 */
export class UserDirectory {
  /** users by their `email` field, for APIs that sign in with {"email", "password"} */
  private readonly byEmail = new Map<string, User>();

  private constructor(private readonly byName: ReadonlyMap<string, User>) {
    for (const u of byName.values()) {
      const email = u.fields.email;
      if (typeof email === 'string' && !this.byEmail.has(email.normalize('NFC'))) this.byEmail.set(email.normalize('NFC'), u);
    }
  }

  static fromFile(file: string): UserDirectory {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsersFileError(`${file}: cannot read users file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    return UserDirectory.fromText(text, file);
  }

  static fromText(text: string, file = 'users'): UserDirectory {
    const { users, problems } = parseUsersFile(text);
    if (problems.length > 0) throw new UsersFileError(`${file}: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}`);
    return new UserDirectory(new Map(users.map((u) => [u.username, u])));
  }

  get(username: string): User | undefined {
    return this.byName.get(username.normalize('NFC'));
  }

  /** The user a login name means: a username, else a user whose `email` field it is (usernames win). */
  find(login: string): User | undefined {
    const name = login.normalize('NFC');
    return this.byName.get(name) ?? this.byEmail.get(name);
  }

  get size(): number {
    return this.byName.size;
  }
}
