import { Writable } from 'node:stream';
import { expect } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseConfigText, deepFreeze } from '../../src/config/load.js';
import type { GatehouseConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/observe/log.js';
import { stringify } from 'yaml';

/** Log lines a test gateway wrote, parsed. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
    }
    cb();
  }
  text(): string {
    return this.raw.join('\n');
  }
}

/** Parses a config object the same way a YAML file is parsed; throws with every problem listed. */
export function configFrom(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  const { config, problems } = parseConfigText(stringify(raw), env);
  if (!config) throw new Error(`test config invalid: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  return deepFreeze(config);
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  adminUrl: string;
  logs: LogCapture;
  stop(): Promise<void>;
}

/** Starts a real gateway on free loopback ports; main and admin listen on port 0 unless the config says otherwise. */
export async function startGateway(raw: Record<string, unknown>): Promise<TestGateway> {
  const withPorts = {
    ...raw,
    server: { listen: '127.0.0.1:0', ...(raw.server as object | undefined) },
    admin: { listen: '127.0.0.1:0', ...(raw.admin as object | undefined) },
  };
  const config = configFrom(withPorts);
  const logs = new LogCapture();
  const gw = await Gateway.start({ config, logger: createLogger('info', logs) });
  const a = gw.address();
  const adm = gw.adminAddress();
  return {
    gw,
    url: `http://127.0.0.1:${a.port}`,
    adminUrl: adm ? `http://127.0.0.1:${adm.port}` : '',
    logs,
    stop: () => gw.stop(),
  };
}

/** The one "request" log line of a request id (written when the response ends, so polled for up to 2 s). */
export async function requestLog(gw: { logs: LogCapture }, reqId: string | null | undefined): Promise<Record<string, unknown>> {
  const find = () => gw.logs.lines.filter((l) => l.msg === 'request' && l.reqId === reqId);
  const deadline = Date.now() + 2000;
  while (find().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const lines = find();
  expect(lines, `request log line for ${String(reqId)}`).toHaveLength(1);
  return lines[0] as Record<string, unknown>;
}
