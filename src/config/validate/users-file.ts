import { parseDocument } from 'yaml';
import { createReader, type ConfigProblem } from './reader.js';

export interface User {
  username: string;
  /** PHC string (argon2) or bcrypt hash */
  password: string;
  roles: readonly string[];
  scope: string;
  /** every other field, for issuer.claims */
  fields: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

/** Whether a string is a password hash login can check; passed in so config/ does not depend on the password code. */
export type HashCheck = (hash: string) => boolean;

const OWN_FIELDS = ['username', 'password', 'roles', 'scope'];

/**
 * The users file (SPEC §4), with the config's readers and problem format:
 * every problem at once, each at its path in the users file. Usernames are
 * NFC-normalised; `users` is empty whenever there are problems.
 */
export function parseUsersFile(text: string, isPasswordHash: HashCheck): { users: User[]; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) return { users: [], problems: [{ path: '', message: `YAML: ${doc.errors[0]!.message.split('\n')[0]}` }] };
  return validateUsers(doc.toJS(), isPasswordHash);
}

export function validateUsers(raw: unknown, isPasswordHash: HashCheck): { users: User[]; problems: ConfigProblem[] } {
  const r = createReader();
  if (!raw || typeof raw !== 'object' || !Array.isArray((raw as { users?: unknown }).users))
    return { users: [], problems: [{ path: 'users', message: 'must be a list' }] };
  const root = r.obj(raw, '', ['users']) ?? {};
  const byName = new Map<string, User>();
  const emails = new Map<string, number>();
  (root.users as unknown[]).forEach((entry, i) => {
    const p = r.join('users', i);
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      r.fail(p, 'must be a mapping');
      return;
    }
    const u = entry as Record<string, unknown>;
    const username = typeof u.username === 'string' ? u.username.normalize('NFC') : '';
    if (!username) r.fail(r.join(p, 'username'), 'is required');
    if (typeof u.password !== 'string' || !isPasswordHash(u.password)) {
      r.fail(r.join(p, 'password'), 'must be an argon2 PHC string ($argon2id$...) or a bcrypt hash ($2b$...); create one with "gatehouse hash-password"');
    }
    const roles = u.roles ?? [];
    if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) r.fail(r.join(p, 'roles'), 'must be a list of strings');
    if (u.scope !== undefined && typeof u.scope !== 'string') r.fail(r.join(p, 'scope'), 'must be a space-separated string');
    if (byName.has(username)) r.fail(r.join(p, 'username'), `"${username}" is listed twice`);
    // a login may name a user by email: two users with one email would make it ambiguous
    if (typeof u.email === 'string') {
      const email = u.email.normalize('NFC');
      if (emails.has(email)) r.fail(r.join(p, 'email'), `"${email}" is also the email of users[${emails.get(email)}]`);
      else emails.set(email, i);
    }
    const fields: Record<string, string | number | boolean | readonly string[]> = {};
    for (const [k, v] of Object.entries(u)) {
      if (OWN_FIELDS.includes(k)) continue;
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) fields[k] = Object.freeze([...(v as string[])]);
      else r.fail(r.join(p, k), 'must be a string, number, boolean or list of strings');
    }
    if (username) {
      byName.set(
        username,
        Object.freeze({
          username,
          password: String(u.password),
          roles: Object.freeze(Array.isArray(roles) ? [...(roles as string[])] : []),
          scope: typeof u.scope === 'string' ? u.scope : '',
          fields: Object.freeze(fields),
        }),
      );
    }
  });
  return r.problems.length > 0 ? { users: [], problems: r.problems } : { users: [...byName.values()], problems: [] };
}
