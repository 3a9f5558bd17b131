// Process-tree helpers on Linux /proc, shared by bench/measure.mjs (CPU
// accounting of a Gatehouse primary and its workers) and bench/servers.mjs
// (stopping what a wrapper started), per-process CPU time for
// bench/measure.mjs and bench/wrk-check.mjs, and for bench/peers.mjs the CPU
// of a process tree, the cores its threads may run on, and each core's busy
// time. Elsewhere they find nothing.
import { readdirSync, readFileSync } from 'node:fs';

/** Parent pid of every process, from /proc/<pid>/stat (field 4, after the command name in parentheses). */
function parentMap() {
  const parents = new Map();
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return parents;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return parents;
}

/**
 * A pid's descendants, parents before their children. Reads every process's
 * parent from /proc/<pid>/stat: /proc/<pid>/task/<tid>/children needs
 * CONFIG_PROC_CHILDREN, which not every kernel has.
 */
export function descendants(pid) {
  const children = new Map();
  for (const [child, parent] of parentMap()) {
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(child);
  }
  const out = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const k of children.get(queue.shift()) ?? []) {
      out.push(k);
      queue.push(k);
    }
  }
  return out;
}

export const TICK = 100; // USER_HZ: 100 on every Linux that Node supports

/**
 * CPU seconds (user + system) used so far by process `pid`, all its threads, or with `tid` by that one
 * thread (`tid === pid`: its main thread); Linux /proc only, else null.
 */
export function cpuSeconds(pid, tid = null) {
  try {
    const stat = readFileSync(tid === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
  } catch {
    return null;
  }
}

/** CPU seconds so far of `pid` and all its descendants (every thread of each); null if `pid` itself is gone. */
export function treeCpuSeconds(pid) {
  const own = cpuSeconds(pid);
  if (own === null) return null;
  return descendants(pid).reduce((sum, kid) => sum + (cpuSeconds(kid) ?? 0), own);
}

/**
 * The CPUs every thread of `pid` and of its descendants may run on (Cpus_allowed_list of
 * /proc/<pid>/task/<tid>/status), as { 'list': thread count }: one key when all are pinned alike.
 */
export function treeAffinity(pid) {
  const lists = {};
  for (const p of [pid, ...descendants(pid)]) {
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      try {
        const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${p}/task/${tid}/status`, 'utf8'))?.[1] ?? '?';
        lists[list] = (lists[list] ?? 0) + 1;
      } catch {
        // exited meanwhile
      }
    }
  }
  return lists;
}

/** Busy CPU seconds so far of each core (user nice system irq softirq steal; not idle, not iowait), from /proc/stat: { 0: s, 1: s, … }. */
export function coreBusySeconds() {
  const out = {};
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      out[m[1]] = ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / TICK;
    }
  } catch {
    // not Linux
  }
  return out;
}
