/**
 * Where the package lives and which version it is, the same from the sources (a checkout, through tsx) and
 * from the compiled code (dist/, in a checkout or an installed package): found by walking up to gearops'
 * own package.json rather than by a fixed number of `..`, which differs between the two layouts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): { root: string; version: string } {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gearops') return { root: dir, version: pkg.version ?? '0.0.0' };
    }
    if (dirname(dir) === dir) throw new Error(`gearops: no package.json of gearops above ${from}`);
  }
}

const found = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The folder holding gearops' package.json, policies/ and scripts/. */
export const PACKAGE_ROOT = found.root;

/** The package version (package.json), as `gearops --version` prints it. */
export const VERSION = found.version;

/** True when this code runs from the TypeScript sources (a checkout under tsx or vitest), not from dist/. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * The node arguments that start the `gearops` command the way this process runs: the compiled entry, or in a
 * checkout's tests the sources through tsx (so a child never runs a stale dist/ against fresh sources).
 */
export function gearopsCommandArgs(): string[] {
  return FROM_SOURCE
    ? ['--import', 'tsx', join(PACKAGE_ROOT, 'src/main.ts')]
    : [join(PACKAGE_ROOT, 'scripts/gearops.js')];
}
