/**
 * Data-directory templates made once for all fleets. A worker makes one template per server build on its first
 * install (the build's install tool and a bootstrap server: seconds of CPU), and every fleet is new: without this,
 * each host of each fleet made its own, the same, on the first install of every test file, three at once. A
 * production host makes its template once and keeps it; so does this cache, made by the product's own code
 * (src/worker/sandbox/template.ts) and copied into each host's `<sandboxDir>/.templates/` before its worker starts.
 *
 * The cache is `$TMPDIR/gearops-test-templates-<uid>/` and outlives the run; an entry's name is the product's key
 * (version and a hash of the template format and the build's server and install tool), so a changed build or format
 * makes a new one. Tests of templates themselves (test/integration/sandbox.test.ts) do not use it, and
 * startFleet({ freshTemplates: true }) leaves the hosts without one.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findBuilds } from '../../src/worker/sandbox/builds.js';
import { createTemplates } from '../../src/worker/sandbox/template.js';

const run = promisify(execFile);

const cacheDir = join(tmpdir(), `gearops-test-templates-${process.getuid?.() ?? 'any'}`);

let made: Promise<string[]> | null = null;

/** Finished templates in the cache (one per build found on this machine), made first where missing. */
function cachedTemplates(): Promise<string[]> {
  made ??= (async () => {
    mkdirSync(cacheDir, { recursive: true });
    // What a killed test process left half-made (an hour is far past any making).
    for (const e of readdirSync(cacheDir))
      if (e.startsWith('.making-') && Date.now() - statSync(join(cacheDir, e)).mtimeMs > 3_600_000)
        rmSync(join(cacheDir, e), { recursive: true, force: true });
    const want = (await findBuilds()).builds;
    const ready = () => readdirSync(cacheDir).filter((e) => existsSync(join(cacheDir, e, 'ready')));
    if (ready().length < want.length) {
      // Made in a folder of this process's own, then moved in whole: test files in other processes may be doing
      // the same, and a template folder is either complete or absent.
      const work = mkdtempSync(join(cacheDir, '.making-'));
      try {
        const t = createTemplates(work);
        for (const b of want)
          // A build whose template cannot be made gets none: its workers try, and say why, as they would anyway.
          await t.copyTo(b, join(work, `copy-${b.version}`)).catch(() => undefined);
        for (const e of readdirSync(join(work, '.templates')))
          if (!existsSync(join(cacheDir, e, 'ready'))) {
            try {
              renameSync(join(work, '.templates', e), join(cacheDir, e));
            } catch {
              // another process moved the same one in first
            }
          }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }
    return ready();
  })().catch((err) => {
    made = null;
    throw err;
  });
  return made;
}

/** Puts a copy of every cached template into `<sandboxDir>/.templates/` (made first if the cache has none yet). */
export async function seedTemplates(sandboxDirs: string[]): Promise<void> {
  const names = await cachedTemplates();
  await Promise.all(
    sandboxDirs.map(async (dir) => {
      mkdirSync(join(dir, '.templates'), { recursive: true });
      for (const n of names)
        await run('cp', ['-a', '--sparse=always', '--', join(cacheDir, n), join(dir, '.templates', n)]);
    }),
  );
}
