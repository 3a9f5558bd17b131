import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig, resolveConfigPath } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { signAccessToken } from '../tokens/issue.js';
import { loadKeyFile } from '../tokens/keys.js';
import { err, out } from './io.js';

/** `gatehouse token`: mint an access token with the issuer's first signing key (for testing and scripts). */
export async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      sub: { type: 'string' },
      roles: { type: 'string' },
      scope: { type: 'string' },
      ttl: { type: 'string' },
      claim: { type: 'string', multiple: true },
    },
  });
  if (!values.sub) {
    err('gatehouse token: --sub is required');
    return 2;
  }
  const config = loadConfig(resolveConfigPath(values.config));
  if (!config.issuer) {
    err('gatehouse token: the config has no issuer section, so there is no signing key');
    return 1;
  }
  const keyFile = config.issuer.signingKeys[0]!.file;
  if (!existsSync(keyFile)) {
    err(`gatehouse token: ${keyFile}: no such file; create one with: gatehouse keygen > ${keyFile} (npm start --demo creates it too)`);
    return 1;
  }
  const key = await loadKeyFile(keyFile, { requirePrivate: true });
  const ttlMs = values.ttl ? parseDuration(values.ttl) : config.issuer.accessTokenTtlMs;
  if (ttlMs === null) {
    err('gatehouse token: --ttl must be a duration like 15m');
    return 2;
  }
  const extra: Record<string, unknown> = {};
  for (const kv of values.claim ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) {
      err(`gatehouse token: --claim ${kv}: expected name=value`);
      return 2;
    }
    extra[kv.slice(0, i)] = claimValue(kv.slice(i + 1));
  }
  const { token: t } = await signAccessToken(key, {
    iss: config.issuer.iss,
    sub: values.sub,
    audience: config.issuer.audience,
    ttlSeconds: Math.max(1, Math.round(ttlMs / 1000)),
    roles: values.roles ? values.roles.split(',').filter(Boolean) : [],
    scope: values.scope ?? '',
    extra,
  });
  out(t);
  return 0;
}

/**
 * `--claim` values keep their JSON type: `n=5` is the number 5, `admin=true`
 * a boolean, `groups=["a","b"]` a list, `n="5"` the string "5"; anything
 * that is not JSON is a plain string (`email=carol@example.com`).
 */
export function claimValue(text: string): unknown {
  if (!/^(?:-?\d|true$|false$|null$|\[|\{|")/.test(text)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
