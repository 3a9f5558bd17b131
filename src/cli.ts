#!/usr/bin/env node
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Gateway } from './app.js';
import { isWorker, runPrimary, tellPrimary, workerCount } from './cluster.js';
import { ConfigError, loadConfig, parseConfigText, resolveConfigPath } from './config/load.js';
import { parseDuration } from './config/duration.js';
import type { GatehouseConfig } from './config/schema.js';
import { startEchoUpstream } from './demo/upstream.js';
import { signAccessToken } from './tokens/issue.js';
import { generateSigningJwk } from './tokens/keygen.js';
import { loadKeyFile } from './tokens/keys.js';
import { MAX_PASSWORD_BYTES, hashPassword as hashPasswordArgon2 } from './tokens/passwords.js';
import { readFileSync } from 'node:fs';

const USAGE = `usage:
  gatehouse [start] [-c FILE] [--demo]     run the gateway (config: -c, $GATEHOUSE_CONFIG, config/gatehouse.yaml)
  gatehouse check -c FILE                  validate a config file; exit 1 on problems
  gatehouse keygen [--alg ES256|ES384|EdDSA|RS256|PS256] [--kid ID]
                                           print a new private signing JWK
  gatehouse token [-c FILE] --sub SUB [--roles a,b] [--scope "x y"] [--ttl 15m] [--claim k=v ...]
                                           mint an access token with the issuer's signing key (for testing)
  gatehouse hash-password                  read a password line from stdin, print an argon2id PHC string`;

const out = (s: string) => process.stdout.write(s + '\n');
const err = (s: string) => process.stderr.write(s + '\n');

/** Each command returns the process exit code. */
async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  const command = first === undefined || first.startsWith('-') ? 'start' : first;
  const rest = first === undefined || first.startsWith('-') ? argv : argv.slice(1);
  switch (command) {
    case 'start':
      return start(rest);
    case 'check':
      return check(rest);
    case 'keygen':
      return keygen(rest);
    case 'token':
      return token(rest);
    case 'hash-password':
      return hashPassword(rest);
    case 'help':
    case '--help':
      out(USAGE);
      return 0;
    default:
      err(`gatehouse: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

function configFrom(file: string): GatehouseConfig {
  return loadConfig(file);
}

async function start(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, demo: { type: 'boolean' } } });
  const file = resolveConfigPath(values.config);
  if (values.demo && !isWorker()) await prepareDemo(file);
  const config = configFrom(file);
  const workers = workerCount(config);
  if (workers > 1 && !isWorker()) process.exit(await runPrimary(workers, err));
  let gw: Gateway;
  try {
    gw = await Gateway.start({ config, configPath: file });
  } catch (e) {
    if (isWorker()) {
      tellPrimary({ gatehouse: 'failed', message: (e as Error).message });
      process.exit(1);
    }
    throw e;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gw.logger.info({ signal }, 'draining');
    gw.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Handlers go in before "listening" is announced: a signal sent as soon as that line appears must drain, not kill.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void gw.reload());
  if (isWorker()) {
    tellPrimary({ gatehouse: 'ready' });
    return -1;
  }
  const a = gw.address();
  err(`gatehouse: listening on http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}${gw.adminAddress() ? ` (admin ${gw.adminAddress()!.address}:${gw.adminAddress()!.port})` : ''}`);
  if (values.demo) printDemoHelp(file, `http://127.0.0.1:${a.port}`);
  return -1; // keep running
}

function check(args: string[]): number {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const file = resolveConfigPath(values.config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`${file}: cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return 1;
  }
  const { problems } = parseConfigText(text);
  if (problems.length === 0) {
    out(`${file}: ok`);
    return 0;
  }
  for (const p of problems) out(p.path ? `${p.path}: ${p.message}` : p.message);
  err(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  return 1;
}

async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { alg: { type: 'string', default: 'ES256' }, kid: { type: 'string' } } });
  out(JSON.stringify(await generateSigningJwk(values.alg as string, values.kid), null, 2));
  return 0;
}

async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, sub: { type: 'string' }, roles: { type: 'string' }, scope: { type: 'string' }, ttl: { type: 'string' }, claim: { type: 'string', multiple: true } },
  });
  if (!values.sub) {
    err('gatehouse token: --sub is required');
    return 2;
  }
  const config = configFrom(resolveConfigPath(values.config));
  if (!config.issuer) {
    err('gatehouse token: the config has no issuer section, so there is no signing key');
    return 1;
  }
  const key = await loadKeyFile(config.issuer.signingKeys[0]!.file, { requirePrivate: true });
  const ttlMs = values.ttl ? parseDuration(values.ttl) : config.issuer.accessTokenTtlMs;
  if (ttlMs === null) {
    err('gatehouse token: --ttl must be a duration like 15m');
    return 2;
  }
  const extra: Record<string, string> = {};
  for (const kv of values.claim ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) {
      err(`gatehouse token: --claim ${kv}: expected name=value`);
      return 2;
    }
    extra[kv.slice(0, i)] = kv.slice(i + 1);
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

/** One line from stdin; only its trailing newline (LF or CRLF) is removed, everything else (spaces, NUL, Unicode) is kept. */
async function hashPassword(_args: string[]): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  const line = (nl === -1 ? text : text.slice(0, nl)).replace(/\r$/, '');
  if (line.length === 0) {
    err('gatehouse hash-password: empty password on stdin');
    return 1;
  }
  if (Buffer.byteLength(line) > MAX_PASSWORD_BYTES) {
    err(`gatehouse hash-password: passwords longer than ${MAX_PASSWORD_BYTES} bytes are refused at login`);
    return 1;
  }
  out(await hashPasswordArgon2(line));
  return 0;
}

/** --demo: create missing dev signing keys and start an echo service on every loopback upstream of the config. */
async function prepareDemo(file: string): Promise<void> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return; // loadConfig reports it
  }
  const { config } = parseConfigText(text);
  if (!config) return;
  for (const ref of config.issuer?.signingKeys ?? []) {
    if (!existsSync(ref.file)) {
      mkdirSync(dirname(ref.file), { recursive: true });
      writeFileSync(ref.file, JSON.stringify(await generateSigningJwk('ES256'), null, 2) + '\n', { mode: 0o600 });
      err(`gatehouse: demo: generated a development signing key in ${ref.file}`);
    }
  }
  const origins = new Set(config.routes.flatMap((r) => r.upstreams));
  for (const origin of origins) {
    const u = new URL(origin);
    if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(u.hostname)) continue;
    try {
      await startEchoUpstream(Number(u.port || 80), '127.0.0.1');
      err(`gatehouse: demo: echo upstream on ${origin}`);
    } catch {
      err(`gatehouse: demo: ${origin} is already in use; assuming your own service runs there`);
    }
  }
}

function printDemoHelp(file: string, base: string): void {
  err(`
Try it (demo users: alice@example.com / alice-password with role admin, bob@example.com / bob-password):
  curl ${base}/public/hello                        # public route, no token needed
  curl -i ${base}/api/orders                       # 401: needs a token
  TOKEN=$(curl -s ${base}/auth/login -H 'content-type: application/json' \\
    -d '{"username":"alice@example.com","password":"alice-password"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
  curl -H "Authorization: Bearer $TOKEN" ${base}/api/orders      # the echo shows the X-User-* headers
  curl -H "Authorization: Bearer $TOKEN" ${base}/admin/stats     # needs role admin
  # or mint one without a users file: node dist/cli.js token -c ${file} --sub carol --roles admin
`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e: unknown) => {
    // Start-up failures: one clear line, exit 1, nothing left running.
    if (e instanceof ConfigError) err(`gatehouse: invalid config ${e.message}`);
    else err(`gatehouse: ${(e as Error).message}`);
    process.exit(1);
  },
);
