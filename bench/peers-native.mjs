// The programs of bench/peers.mjs that are not Node.js: which of them this
// machine has (and their versions), and the nginx and HAProxy configs the run
// writes into its temporary directory. They are started by bench/servers.mjs
// `native` (supervised like redis-server) under `taskset`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What to install when a tool is missing (Debian package names; the bench says so and skips the rows). */
export const INSTALL = { wrk: 'wrk', taskset: 'util-linux', nginx: 'nginx', haproxy: 'haproxy', 'redis-server': 'redis-server' };

/**
 * The version line of each tool, or null when it is not on PATH (nginx -v prints it on stderr; wrk -v prints its
 * banner and exits 1: only "not found" counts as missing).
 */
export function findTools() {
  const version = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) return null;
    return (
      `${r.stdout ?? ''}\n${r.stderr ?? ''}`
        .split('\n')
        .find((l) => l.trim())
        ?.trim() ?? 'unknown version'
    );
  };
  return {
    wrk: version('wrk', ['-v']),
    taskset: version('taskset', ['--version']),
    nginx: version('nginx', ['-v']),
    haproxy: version('haproxy', ['-v']),
    'redis-server': version('redis-server', ['--version']),
  };
}

/**
 * nginx.conf for one nginx (master + 1 worker, foreground), its files under `dir`. `server` is the body of the one
 * `server` block; `http` goes before it (an upstream block). Access log off, no temp files outside `dir`; keep-alive
 * for as many requests as the run sends on one connection (nginx's default closes after 1,000).
 */
function nginxConf(dir, { listen, http = '', server }) {
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  return `# written by bench/peers.mjs for one run
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  keepalive_requests 100000000;
  keepalive_timeout 75s;
${http}
  server {
    listen 127.0.0.1:${listen};
${server}
  }
}
`;
}

/** The nginx the proxies forward to: a small fixed 200 (the 39-byte body of bench/servers.mjs `upstream`), nothing else. */
export function nginxBackendConf(dir, port) {
  return nginxConf(dir, {
    listen: port,
    server: `    location / {
      default_type application/json;
      return 200 '{"ok":true,"service":"bench-upstream"}\\n';
    }`,
  });
}

/** nginx as a plain reverse proxy, no auth: HTTP/1.1 keep-alive connections to the backend, reused. */
export function nginxProxyConf(dir, port, backendPort) {
  return nginxConf(dir, {
    listen: port,
    http: `  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 256;
    keepalive_requests 100000000;
  }`,
    server: `    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }`,
  });
}

/**
 * HAProxy 2.6 verifying a bearer JWT with jwt_verify (configuration manual 7.3.1) before forwarding: one thread, the
 * token's alg must be the one expected, iss, aud and exp are checked from the payload (jwt_verify itself checks only
 * the signature), then the signature with the run's public key (SPKI PEM, loaded at start-up). Any failure: 403.
 * Keep-alive on both sides, server connections reused.
 */
export function haproxyConf({ port, backendPort, alg, pubkeyFile, iss, aud }) {
  return `# written by bench/peers.mjs for one run
global
  nbthread 1
  maxconn 4096

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  http-reuse always

frontend jwt
  bind 127.0.0.1:${port}
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny unless { var(txn.alg) -m str ${alg} }
  http-request deny unless { var(txn.bearer),jwt_payload_query('$.iss') -m str ${iss} }
  http-request deny unless { var(txn.bearer),jwt_payload_query('$.aud') -m str ${aud} }
  http-request set-var(txn.now) date
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request deny unless { var(txn.exp),sub(txn.now) -m int gt 0 }
  http-request deny unless { var(txn.bearer),jwt_verify(txn.alg,"${pubkeyFile}") -m int 1 }
  default_backend upstream

backend upstream
  server backend 127.0.0.1:${backendPort}
`;
}

/** Writes `text` to `dir/name` (dir created) and returns the path. */
export function writeConf(dir, name, text) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
