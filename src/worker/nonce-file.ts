/**
 * The worker's record of the jobs it took in the last two minutes, on disk, so that a worker restarted
 * within a job's freshness window still refuses a replay of a job it already ran (the in-memory record
 * dies with the process). One line per job: `<expires ms> <id> <binding>`, appended as jobs arrive;
 * compacted to the live entries at start. Written with the process's own writes, no fsync: a worker crash
 * keeps them (page cache); only a host crash within the window could lose the last few.
 */
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
