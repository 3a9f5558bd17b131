import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';

/**
 * Config values that used to pass validation and then made `gatehouse start`
 * fail (or the Redis store never connect): the validator now reports them,
 * so `gatehouse check` does too.
 */
const BASE = {
  server: { listen: '127.0.0.1:8080' },
  admin: { listen: '127.0.0.1:9090' },
  routes: [{ match: { path: '/public/**' }, upstream: 'http://127.0.0.1:3001', auth: 'public' }],
};

function lines(extra: Record<string, unknown>): string[] {
  const { config, problems } = parseConfigText(stringify({ ...BASE, ...extra }), {});
  const out = problems.map((p) => `${p.path}: ${p.message}`);
  if (out.length > 0) expect(config).toBeNull();
  return out;
}

const redis = (redisSection: Record<string, unknown>) => ({ revocation: { store: 'redis', redis: redisSection } });

describe('validator: Redis addresses the store would refuse', () => {
  const HOST_PORT = 'must be "host:port" (e.g. 10.0.0.1:6379, [fd00::1]:6379)';

  it.each([
    ['redis-1', 'no port'],
    ['10.0.0.1:', 'empty port'],
    ['10.0.0.1:99999', 'port out of range'],
    ['10.0.0.1:0', 'port 0'],
    ['fd00::1:6379', 'unbracketed IPv6'],
    ['[not-v6]:6379', 'brackets around a non-IPv6 host'],
    ['rediss://10.0.0.1:6379', 'a scheme other than redis://'],
    ['user:pw@10.0.0.1:6379', 'credentials'],
    ['10.0.0.1:6379/0', 'a path'],
    ['10.0.0.1 :6379', 'a space'],
  ])('cluster / sentinels item %j (%s) is a problem at its index', (bad) => {
    expect(lines(redis({ cluster: ['10.0.0.2:6379', bad] }))).toEqual([`revocation.redis.cluster[1]: ${HOST_PORT}`]);
    expect(lines(redis({ sentinels: [bad], name: 'mymaster' }))).toEqual([`revocation.redis.sentinels[0]: ${HOST_PORT}`]);
  });

  it('accepts host:port, [v6]:port and the redis:// prefix the store takes', () => {
    expect(lines(redis({ cluster: ['10.0.0.1:6379', 'redis-2.internal:7000', '[fd00::1]:6379', 'redis://10.0.0.3:6379'] }))).toEqual([]);
    expect(lines(redis({ sentinels: ['s1:26379', '[::1]:26379'], name: 'mymaster' }))).toEqual([]);
  });

  it('checks them with the memory store too: switching stores must not uncover an old typo', () => {
    expect(lines({ revocation: { store: 'memory', redis: { cluster: ['redis-1'] } } })).toEqual([`revocation.redis.cluster[0]: ${HOST_PORT}`]);
  });

  it.each([
    ['redis://host:notaport', /^revocation\.redis\.url: must be a valid redis:\/\/ or rediss:\/\/ URL/],
    ['redis://[bad', /^revocation\.redis\.url: must be a valid redis:\/\/ or rediss:\/\/ URL/],
    ['redis://h:99999', /^revocation\.redis\.url: must be a valid/],
    ['redis://user:50%zz@h:6379', /^revocation\.redis\.url: has a malformed %-escape in its user name or password/],
  ])('url %j is refused the way ioredis would refuse it', (url, want) => {
    const got = lines(redis({ url }));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(want);
    expect(got[0], 'the URL may hold a password: never echo it').not.toContain(url);
  });

  it('keeps the old message for a URL of another scheme, and accepts rediss:// with credentials and a database', () => {
    expect(lines(redis({ url: 'http://127.0.0.1:6379' }))).toEqual(['revocation.redis.url: must be a redis:// or rediss:// URL']);
    expect(lines(redis({ url: 'rediss://user:p%40ss@h.example:6380/2' }))).toEqual([]);
  });
});

describe('validator: listener settings node:http or the OS refuse', () => {
  it('server.headersTimeout longer than server.requestTimeout (node:http throws ERR_OUT_OF_RANGE)', () => {
    expect(lines({ server: { listen: '127.0.0.1:8080', headersTimeout: '70s', requestTimeout: '60s' } })).toEqual([
      'server.headersTimeout: must not be longer than server.requestTimeout (the whole request, headers included)',
    ]);
    expect(lines({ server: { listen: '127.0.0.1:8080', headersTimeout: '70s', requestTimeout: 0 } }), 'requestTimeout 0 = off').toEqual([]);
    expect(lines({ server: { listen: '127.0.0.1:8080', headersTimeout: '60s', requestTimeout: '60s' } })).toEqual([]);
  });

  it.each([
    ['127.0.0.1:8080', '127.0.0.1:8080'],
    ['0.0.0.0:8080', '127.0.0.1:8080'],
    ['127.0.0.1:8080', '0.0.0.0:8080'],
    ['[::]:8080', '127.0.0.1:8080'],
    ['[::1]:8080', '[::1]:8080'],
    [':8080', '0.0.0.0:8080'],
  ])('server.listen %s with admin.listen %s: the second bind would fail with EADDRINUSE', (server, admin) => {
    const got = lines({ server: { listen: server }, admin: { listen: admin } });
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(
      /^admin\.listen: uses port 8080, which server\.listen \((\[[0-9a-f:]+\]|[0-9.]+):8080\) already takes; give the admin listener a port of its own$/,
    );
  });

  it.each([
    ['127.0.0.1:8080', '127.0.0.1:9090'],
    ['127.0.0.1:0', '127.0.0.1:0'],
    ['0.0.0.0:8080', '[::1]:8080'],
    ['127.0.0.1:8080', '127.0.0.2:8080'],
  ])('server.listen %s with admin.listen %s is fine', (server, admin) => {
    expect(lines({ server: { listen: server }, admin: { listen: admin } })).toEqual([]);
  });
});
