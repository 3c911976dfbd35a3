/**
 * The worker's record of the jobs it took in the last two minutes, on disk, so that a worker restarted
 * within a job's freshness window still refuses a replay of a job it already ran (the in-memory record
 * dies with the process). One line per job: `<expires ms> <id> <binding>`, appended as jobs arrive;
 * compacted to the live entries at start. Written with the process's own writes, no fsync: a worker crash
 * keeps them (page cache); only a host crash within the window could lose the last few.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NonceStore } from '../core/payload.js';

const LINE_RE = /^(\d{1,16}) (\S{1,300}) (\S{0,600})$/;

/** The store in `<dir>/seen-jobs`; throws (with the path) when the folder cannot be made or written. */
export function createNonceFile(dir: string): NonceStore & { path: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'seen-jobs');
  const line = (e: { id: string; expires: number; binding: string }) =>
    `${e.expires} ${e.id.replace(/\s/g, '_')} ${e.binding.replace(/\s/g, '_')}\n`;
  const rewrite = (entries: Array<{ id: string; expires: number; binding: string }>) => {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, entries.map(line).join(''), { mode: 0o600 });
    renameSync(tmp, path);
  };
  return {
    path,
    load(now) {
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const live = text
        .split('\n')
        .map((l) => LINE_RE.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) > now)
        .map((m) => ({ expires: Number(m[1]), id: m[2]!, binding: m[3]! }))
        .sort((a, b) => a.expires - b.expires);
      // Start from the live entries only (and prove the folder is writable before the worker registers).
      rewrite(live);
      return live;
    },
    rewrite,
    append(e) {
      // Ids and bindings come from verified jobs and gearmand's handles: no spaces or newlines, but be sure.
      appendFileSync(path, line(e), { mode: 0o600 });
    },
  };
}

/**
 * Tells gearmand instances on one address apart, across restarts of gearmand and of this worker. A job
 * handle (`H:host:N`) is unique within one gearmand instance only: a restarted gearmand counts from 1 again,
 * so a captured job sent after both restarted got the handle it had the first time. An instance is named by
 * the server's process id (admin `getpid`) and the time this worker (or an earlier run of it, from
 * `<dir>/job-servers`) first saw that pid there: `4242@1764614400000`. A worker restarted after a crash
 * finds the same pid and gets the same name, so gearmand handing the job out again is still recognised.
 * When the pid cannot be learned the name is random: nothing handed out before matches it.
 */
export function createServerInstances(opts: {
  dir?: string;
  getpid(server: string): Promise<number>;
  now?: () => number;
}): { identify(server: string): Promise<string> } {
  const now = opts.now ?? Date.now;
  const path = opts.dir ? join(opts.dir, 'job-servers') : null;
  const known = new Map<string, { pid: number; since: number }>();
  if (path) {
    mkdirSync(opts.dir!, { recursive: true, mode: 0o700 });
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const l of text.split('\n')) {
      const m = /^(\S{1,300}) (\d{1,10}) (\d{1,16})$/.exec(l);
      if (m) known.set(m[1]!, { pid: Number(m[2]), since: Number(m[3]) });
    }
  }
  const save = () => {
    if (!path) return;
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, [...known].map(([s, k]) => `${s} ${k.pid} ${k.since}\n`).join(''), { mode: 0o600 });
    renameSync(tmp, path);
  };
  return {
    async identify(server) {
      let pid: number;
      try {
        pid = await opts.getpid(server);
      } catch {
        return `unknown-${randomBytes(8).toString('hex')}`;
      }
      // Checked and set in one turn after the await: connections identifying at once agree on the name.
      const prior = known.get(server);
      if (prior?.pid === pid) return `${pid}@${prior.since}`;
      const since = now();
      known.set(server, { pid, since });
      save();
      return `${pid}@${since}`;
    },
  };
}
