// Process-tree helpers on Linux /proc, shared by bench/measure.mjs (CPU
// accounting of a Gatehouse primary and its workers) and bench/servers.mjs
// (stopping what a wrapper started), and per-process CPU time for
// bench/measure.mjs and bench/wrk-check.mjs. Elsewhere they find nothing.
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
