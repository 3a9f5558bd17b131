import { randomBytes } from 'node:crypto';
import { parseRecord, type RecordStore } from './records.js';

/** A sign-in in progress: where to go afterwards, and the token its form must carry. */
export interface FlowRecord {
  /** a path and query on this origin, taken from the request that needed a sign-in (never from the client) */
  returnTo: string;
  csrf: string;
  /** epoch ms */
  createdAt: number;
  /** extra state a flow carries (an OAuth authorization request, later) */
  data?: Record<string, unknown>;
}

const isFlow = (v: unknown): v is FlowRecord => {
  const f = v as Partial<FlowRecord> | null;
  return !!f && typeof f.returnTo === 'string' && typeof f.csrf === 'string' && typeof f.createdAt === 'number';
};

const KIND = 'flow';
const FLOW_ID = /^[A-Za-z0-9_-]{22}$/;
/** how long a sign-in page may stay open */
export const FLOW_TTL_SECONDS = 15 * 60;

/**
 * A return target is only ever a local path: it starts with exactly one "/"
 * (so never `//evil.example` or `/\evil.example`, which browsers read as
 * another host) and carries no scheme, backslash or control character.
 * Anything else becomes "/".
 */
export function safeReturnTo(target: string): string {
  if (!target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return '/';
  if (/[\\\u0000-\u001f\u007f]/.test(target)) return '/';
  return target;
}

/**
 * Sign-in flows (SPEC §7): the original URL is stored server-side under a
 * random id and only the id travels through the browser, so the return
 * target can never be chosen by whoever crafts a link (no open redirect).
 * Each tab gets its own flow, so two tabs signing in at once each land on
 * their own page.
 */
export class Flows {
  constructor(private readonly records: RecordStore) {}

  async start(returnTo: string, data?: Record<string, unknown>): Promise<{ id: string; flow: FlowRecord }> {
    const id = randomBytes(16).toString('base64url');
    const flow: FlowRecord = {
      returnTo: safeReturnTo(returnTo),
      csrf: randomBytes(24).toString('base64url'),
      createdAt: Date.now(),
      ...(data ? { data } : {}),
    };
    await this.records.putRecord(KIND, id, JSON.stringify(flow), FLOW_TTL_SECONDS);
    return { id, flow };
  }

  async get(id: string | undefined): Promise<FlowRecord | null> {
    if (id === undefined || !FLOW_ID.test(id)) return null;
    return parseRecord(await this.records.getRecord(KIND, id), isFlow);
  }

  /** The flow, removed: a flow completes once. */
  async finish(id: string): Promise<FlowRecord | null> {
    if (!FLOW_ID.test(id)) return null;
    return parseRecord(await this.records.takeRecord(KIND, id), isFlow);
  }
}
