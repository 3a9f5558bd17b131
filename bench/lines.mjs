// Reading what a Gatehouse process prints, shared by bench/children.mjs,
// bench/servers.mjs and soak/soak.mjs (bench/peers.mjs through children.mjs).

/** Calls `onLine` for every complete line `stream` yields. */
export function eachLine(stream, onLine) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) if (line) onLine(line);
  });
  return () => rest;
}

/**
 * Counts Gatehouse's pino lines (stdout) by what they say rather than printing them: the message,
 * code and error, and the reason with its digits folded (`revoked_N`). Lines that are not JSON count as they are.
 */
export function countLogLines(name, stream, counts) {
  eachLine(stream, (line) => countLine(name, line, counts));
}

/** One line of countLogLines: counted under `${name}: message (code): reason: error`, or as it is when not JSON. */
function countLine(name, line, counts) {
  let key = line.slice(0, 200);
  try {
    const j = JSON.parse(line);
    const err = j.err ? `: ${typeof j.err === 'string' ? j.err : (j.err.message ?? '')}` : '';
    key = `${j.msg}${j.code ? ` (${j.code})` : ''}${j.reason ? `: ${String(j.reason).replace(/\d+/g, 'N')}` : ''}${err}`;
  } catch {
    // not JSON: keep the raw line
  }
  key = `${name}: ${key}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/**
 * Resolves once `gatehouse start` says it listens on stderr (one process: "listening on ...";
 * a primary with workers: "N workers listening", once every worker is). Every other stderr line goes
 * to `onOther`; the promise rejects with what the CLI said if it exits first, or after `ms`.
 */
export function untilListening(cli, name, onOther = () => undefined, ms = 20_000) {
  return new Promise((resolve, reject) => {
    let ready = false;
    const said = [];
    const rest = eachLine(cli.stderr, (line) => {
      if (!ready && /^gatehouse: (listening on |\d+ workers listening)/.test(line)) {
        ready = true;
        resolve();
        return;
      }
      if (!ready) said.push(line);
      onOther(line);
    });
    cli.once('error', reject);
    cli.once('exit', (code, signal) => {
      if (!ready)
        reject(
          new Error(
            `${name} exited during start-up (${signal ?? code})${[...said, rest()].filter(Boolean).length ? `: ${[...said, rest()].filter(Boolean).join(' | ')}` : ''}`,
          ),
        );
    });
    setTimeout(() => reject(new Error(`${name}: not listening after ${ms / 1000} s`)), ms).unref();
  });
}

/**
 * Drains a Gatehouse stdout as cheaply as a log shipper would (bench/peers.mjs, where this reader shares a core
 * with the load generator): counts lines and bytes without decoding them, and parses only the lines at warn or
 * above (pino's `"level":40`, 50 and 60), counted by message in `stats.problems` as countLogLines counts them,
 * and the access-log lines of answers that are not 2xx, counted by status and reason in `stats.refusals`.
 */
export function drainLogLines(name, stream, stats) {
  const LEVELS = ['"level":40', '"level":50', '"level":60'];
  const count = (chunk, needle) => {
    let n = 0;
    for (let i = chunk.indexOf(needle); i !== -1; i = chunk.indexOf(needle, i + needle.length)) n++;
    return n;
  };
  Object.assign(stats, { lines: 0, bytes: 0, problems: new Map(), refusals: new Map() });
  let rest = Buffer.alloc(0); // the start of a line that the next chunk ends
  stream.on('data', (data) => {
    stats.bytes += data.length;
    const end = data.lastIndexOf(10) + 1;
    if (end === 0) {
      rest = Buffer.concat([rest, data]);
      return;
    }
    // complete lines only: the tail of one chunk and the head of the next are one line
    const chunk = rest.length ? Buffer.concat([rest, data.subarray(0, end)]) : data.subarray(0, end);
    rest = Buffer.from(data.subarray(end));
    stats.lines += count(chunk, '\n');
    const warn = LEVELS.some((l) => chunk.includes(l));
    // access-log lines ("msg":"request") whose status is not 2xx: counted by status and reason (the lines are parsed
    // only when a chunk has some, found by comparing the counts of `"status":` and `"status":2`)
    const refused = count(chunk, '"status":') > count(chunk, '"status":2');
    if (!warn && !refused) return;
    for (const line of chunk.toString('utf8').split('\n')) {
      if (LEVELS.some((l) => line.includes(l))) countLine(name, line, stats.problems);
      else if (refused && line.includes('"status":') && !line.includes('"status":2')) {
        const key = `${name}: ${/"status":(\d+)/.exec(line)?.[1] ?? '?'} ${/"reason":"([^"]*)"/.exec(line)?.[1] ?? ''}`;
        stats.refusals.set(key, (stats.refusals.get(key) ?? 0) + 1);
      }
    }
  });
}
