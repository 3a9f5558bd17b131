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
  private constructor(private readonly byName: ReadonlyMap<string, User>) {}

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

  get size(): number {
    return this.byName.size;
  }
}
