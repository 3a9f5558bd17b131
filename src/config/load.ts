import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { StartupError } from '../errors.js';
import type { GatehouseConfig } from './schema.js';
import { validateConfig, type ConfigProblem } from './validate/index.js';

/** A config file `gatehouse start` refuses: every problem, each with its YAML path. */
export class ConfigError extends StartupError {
  override name = 'ConfigError';
  constructor(
    readonly file: string,
    problems: readonly ConfigProblem[],
  ) {
    super(`invalid config ${file}: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}`, problems);
  }
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces ${VAR} and ${VAR:-default} in every string of the parsed document.
 * Done after YAML parsing so a variable's value can never change the document's
 * structure. A variable that is unset and has no default is a problem: a
 * missing secret must stop start-up, not become an empty string.
 */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (_all, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      problems.push({ path: path || '(root)', message: `environment variable ${name} is not set (use \${${name}:-default} for a default)` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}[${i}]`, problems));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, path ? `${path}.${k}` : k, problems);
    return out;
  }
  return value;
}

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env): { config: GatehouseConfig | null; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return { config: null, problems: doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` })) };
  }
  const problems: ConfigProblem[] = [];
  let parsed: unknown;
  try {
    parsed = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // yaml throws (instead of reporting) when aliases expand too far: a billion-laughs document is a problem, not a crash.
    return { config: null, problems: [{ path: '', message: `YAML: ${(err as Error).message}` }] };
  }
  const raw = interpolate(parsed, env, '', problems);
  if (problems.length > 0) return { config: null, problems };
  return validateConfig(raw);
}

/** Reads, interpolates, validates and deep-freezes a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})` }]);
  }
  const { config, problems } = parseConfigText(text, env);
  if (!config) throw new ConfigError(file, problems);
  return deepFreeze({ ...config, sourcePath: file });
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function resolveConfigPath(cliPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return cliPath ?? env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml';
}
