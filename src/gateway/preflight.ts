import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { GatehouseConfig, IssuerConfig, TrustedIssuerConfig } from '../config/schema.js';
import type { ConfigProblem } from '../config/validate/index.js';
import { KEYGEN_ALGORITHMS } from '../tokens/keygen.js';
import { KeyFileError, loadKeyFile, type LoadedKey } from '../tokens/keys.js';
import { parseUsersFile } from '../tokens/users.js';

/**
 * The checks `gatehouse start` makes beyond the YAML, on the files the config
 * names: signing keys (present, readable, a key, private, an algorithm
 * verify.algorithms allows), trusted issuers' static keys, the users file.
 * `gatehouse check` runs the same function, so the two cannot disagree; start
 * runs it before binding anything. Each problem has the YAML path that names
 * the file and, where there is one, the fix.
 *
 * buildRuntime (runtime.ts) still loads the same files and throws on the same
 * faults: a SIGHUP reload does not go through here.
 */
export async function preflight(config: GatehouseConfig): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  if (config.issuer) {
    problems.push(...(await signingKeyProblems(config.issuer, config.verify.algorithms)));
    if (config.issuer.users) problems.push(...usersFileProblems(config.issuer.users.file));
  }
  for (const [i, t] of config.trustedIssuers.entries()) problems.push(...(await staticKeyProblems(t, `trustedIssuers[${i}]`)));
  return problems;
}

async function signingKeyProblems(issuer: IssuerConfig, allowed: readonly string[]): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const keys: LoadedKey[] = [];
  for (const [i, ref] of issuer.signingKeys.entries()) {
    const path = `issuer.signingKeys[${i}].file`;
    const keygen = keygenCommand(ref.file, allowed);
    const key = await readKey(
      ref.file,
      path,
      problems,
      `create one with: ${keygen}${keygen.includes('--alg') ? '' : ' (for development, "gatehouse start --demo" generates it)'}`,
    );
    if (!key) continue;
    if (!key.privateKey) {
      problems.push({ path, message: `${ref.file}: a signing key must be a private key, and this file holds only a public one; create one with: ${keygen}` });
      continue;
    }
    keys.push(key);
  }
  // Only once every key loaded: an algorithm list missing a key would blame the wrong thing.
  if (problems.length > 0 || keys.length === 0) return problems;
  const algs = [...new Set(keys.map((k) => k.alg))];
  if (!algs.some((a) => allowed.includes(a))) {
    const usable = KEYGEN_ALGORITHMS.find((a) => allowed.includes(a));
    const fix = `add ${algs.join(' or ')} to verify.algorithms${usable ? `, or sign with a key of an allowed algorithm (gatehouse keygen --alg ${usable})` : ''}`;
    problems.push({
      path: 'issuer.signingKeys',
      message: `none of their algorithms (${algs.join(', ')}) is in verify.algorithms (${allowed.join(', ')}); ${fix}`,
    });
  }
  return problems;
}

async function staticKeyProblems(t: TrustedIssuerConfig, path: string): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  for (const [j, ref] of t.keys.entries()) {
    await readKey(
      ref.file,
      `${path}.keys[${j}].file`,
      problems,
      `save the issuer's public signing key there (PEM or JWK, e.g. one key of its JWKS), or use ${path}.jwksUri instead of keys`,
    );
  }
  return problems;
}

/** The key in `file`, or null after recording why not: a missing file gets `ifMissing` as its fix, anything else loadKeyFile's own words. */
async function readKey(file: string, path: string, problems: ConfigProblem[], ifMissing: string): Promise<LoadedKey | null> {
  const read = readText(file);
  if (read.text === null) {
    problems.push({
      path,
      message: read.error === 'ENOENT' ? `${file}: no such file; ${ifMissing}` : `${file}: cannot read key file (${read.error})${READ_HINTS[read.error] ?? ''}`,
    });
    return null;
  }
  try {
    return await loadKeyFile(file);
  } catch (err) {
    if (!(err instanceof KeyFileError)) throw err;
    problems.push({ path, message: err.message });
    return null;
  }
}

function usersFileProblems(file: string): ConfigProblem[] {
  const path = 'issuer.users.file';
  const read = readText(file);
  if (read.text === null) {
    if (read.error === 'ENOENT') {
      return [
        {
          path,
          message: `${file}: no such file; create it with a "users:" list (README "Token service"; hash each password with: gatehouse hash-password), or remove issuer.users`,
        },
      ];
    }
    return [{ path, message: `${file}: cannot read users file (${read.error})${READ_HINTS[read.error] ?? ''}` }];
  }
  return parseUsersFile(read.text).problems.map((p) => ({ path, message: `${file}: ${p.path ? `${p.path}: ` : ''}${p.message}` }));
}

const READ_HINTS: Record<string, string> = {
  EACCES: '; let the user Gatehouse runs as read it',
  EISDIR: '; it is a directory, not a file',
};

/** The file's text, or the error code reading it failed with (ENOENT, EACCES, EISDIR, ...). */
function readText(file: string): { text: string; error: null } | { text: null; error: string } {
  try {
    return { text: readFileSync(file, 'utf8'), error: null };
  } catch (err) {
    return { text: null, error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/** A shell command that writes a private signing key to `file` with an algorithm verify.algorithms allows. */
function keygenCommand(file: string, allowed: readonly string[]): string {
  const alg = KEYGEN_ALGORITHMS.find((a) => allowed.includes(a)) ?? 'ES256';
  const dir = dirname(file);
  const mkdir = existsSync(dir) ? '' : `mkdir -p ${shellWord(dir)} && `;
  return `${mkdir}gatehouse keygen${alg === 'ES256' ? '' : ` --alg ${alg}`} > ${shellWord(file)}`;
}

const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
