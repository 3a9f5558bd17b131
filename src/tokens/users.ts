import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { isSupportedHash } from './passwords.js';

export interface User {
  username: string;
  /** PHC string (argon2) or bcrypt hash */
  password: string;
  roles: readonly string[];
  scope: string;
  /** every other field, for issuer.claims */
  fields: Readonly<Record<string, string | number | boolean | readonly string[]>>;
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
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length > 0) throw new UsersFileError(`${file}: YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const raw = doc.toJS() as { users?: unknown } | null;
    const problems: string[] = [];
    const byName = new Map<string, User>();
    if (!raw || typeof raw !== 'object' || !Array.isArray(raw.users)) throw new UsersFileError(`${file}: users: must be a list`);
    for (const key of Object.keys(raw)) if (key !== 'users') problems.push(`${key}: unknown key (allowed: users)`);
    raw.users.forEach((entry: unknown, i: number) => {
      const p = `users[${i}]`;
      if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return problems.push(`${p}: must be a mapping`);
      const u = entry as Record<string, unknown>;
      const username = typeof u.username === 'string' ? u.username.normalize('NFC') : '';
      if (!username) problems.push(`${p}.username: is required`);
      if (typeof u.password !== 'string' || !isSupportedHash(u.password)) problems.push(`${p}.password: must be an argon2 PHC string ($argon2id$...) or a bcrypt hash ($2b$...); create one with "gatehouse hash-password"`);
      const roles = u.roles ?? [];
      if (!Array.isArray(roles) || !roles.every((r) => typeof r === 'string')) problems.push(`${p}.roles: must be a list of strings`);
      if (u.scope !== undefined && typeof u.scope !== 'string') problems.push(`${p}.scope: must be a space-separated string`);
      if (byName.has(username)) problems.push(`${p}.username: "${username}" is listed twice`);
      const fields: Record<string, string | number | boolean | readonly string[]> = {};
      for (const [k, v] of Object.entries(u)) {
        if (['username', 'password', 'roles', 'scope'].includes(k)) continue;
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) fields[k] = Object.freeze([...v] as string[]);
        else problems.push(`${p}.${k}: must be a string, number, boolean or list of strings`);
      }
      if (username) byName.set(username, Object.freeze({ username, password: String(u.password), roles: Object.freeze(Array.isArray(roles) ? [...(roles as string[])] : []), scope: typeof u.scope === 'string' ? u.scope : '', fields: Object.freeze(fields) }));
      return undefined;
    });
    if (problems.length > 0) throw new UsersFileError(`${file}: ${problems.join('; ')}`);
    return new UserDirectory(byName);
  }

  get(username: string): User | undefined {
    return this.byName.get(username.normalize('NFC'));
  }

  get size(): number {
    return this.byName.size;
  }
}
