/**
 * Setup file of the `unit` project (vitest.config.ts): a unit test opens no
 * socket and starts no process, so that `npx vitest run --project unit`
 * stays a few seconds and needs nothing but Node. Anything that tries fails
 * at once, saying where such a test belongs.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

const refuse = (what: string) => (): never => {
  throw new Error(`unit tests open no sockets and start no processes (${what}): this test belongs in the e2e project`);
};

net.Server.prototype.listen = refuse('listen');
net.Socket.prototype.connect = refuse('connect');
const cp = childProcess as unknown as Record<string, unknown>;
for (const fn of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) cp[fn] = refuse(fn);
syncBuiltinESMExports();
