import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname } from 'node:path';
import { parseConfigText } from '../config/load.js';
import { generateSigningJwk } from '../tokens/keygen.js';
import { err } from './io.js';

/**
 * A tiny echo service for trying Gatehouse: it answers every request with what
 * it received, so you can see the identity headers Gatehouse adds and the
 * spoofed ones it removes.
 */
export function startEchoUpstream(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify(
        { upstream: `${host}:${port}`, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') || undefined },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** --demo: create missing dev signing keys and start an echo service on every loopback upstream of the config. */
export async function prepareDemo(file: string): Promise<void> {
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

export function printDemoHelp(file: string, base: string): void {
  // Another config (config/examples/*.yaml): its own opening comment says what to try; the banner below is the shipped demo's.
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    /* printed below */
  }
  if (!/^\s*- name: app\b/m.test(text) || !text.includes('alice@example.com')) {
    const intro = /^(?:#[^\n]*\n)+/.exec(text)?.[0];
    if (intro) err(`\n${intro.replace(/^# ?/gm, '  ').replaceAll('http://127.0.0.1:8080', base)}`);
    return;
  }
  err(`
Open ${base}/app/ in a browser: you are sent to the sign-in page, then back to the app
(the echo shows the X-User-* headers Gatehouse added). Demo users: alice@example.com / alice-password
with role admin, bob@example.com / bob-password.

Or from a terminal:
  curl ${base}/public/hello                        # public route, no token needed
  curl -i ${base}/api/orders                       # 401: needs a token
  TOKEN=$(curl -s ${base}/auth/login -H 'content-type: application/json' \\
    -d '{"username":"alice@example.com","password":"alice-password"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
  curl -H "Authorization: Bearer $TOKEN" ${base}/api/orders      # the echo shows the X-User-* headers
  curl -H "Authorization: Bearer $TOKEN" ${base}/admin/stats     # needs role admin
  # or mint one without a users file: node dist/cli.js token -c ${file} --sub carol --roles admin

Gatehouse as an OpenID provider: in another terminal run  ${base === 'http://127.0.0.1:8080' ? '' : `ISSUER=${base} `}node examples/oidc-web-app.mjs
and open http://127.0.0.1:3000 (an app signing in with Gatehouse; ${base}/.well-known/openid-configuration).
`);
}
