import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, resolveConfigPath } from '../config/load.js';
import { isWorker, runPrimary, tellPrimary, workerCount } from '../gateway/cluster.js';
import { Gateway } from '../gateway/gateway.js';
import { preflight } from '../gateway/preflight.js';
import { prepareDemo, printDemoHelp } from './demo.js';
import { err } from './io.js';

/**
 * `gatehouse [start]`: load the config, then either fork workers (the
 * primary only supervises) or run one Gateway. SIGTERM/SIGINT drain,
 * SIGHUP re-reads the config. Returns -1: the process keeps running.
 */
export async function start(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, demo: { type: 'boolean' } } });
  const file = resolveConfigPath(values.config);
  if (values.demo && !isWorker()) await prepareDemo(file);
  const config = loadConfig(file);
  // The files the config names, checked as `gatehouse check` checks them, before anything binds or forks
  // (workers skip it: their primary already did). --demo has generated missing dev keys by now.
  if (!isWorker()) {
    const problems = await preflight(config);
    if (problems.length > 0) throw new ConfigError(file, problems);
  }
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
  const admin = gw.adminAddress();
  err(
    `gatehouse: listening on http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}${admin ? ` (admin ${admin.address}:${admin.port})` : ''}`,
  );
  if (values.demo) printDemoHelp(file, `http://127.0.0.1:${a.port}`);
  return -1;
}
