#!/usr/bin/env node
// The `gearops` command: runs the compiled code in dist/ (`npm run build`; `npm ci` and `npm pack` build it in
// a checkout). Nothing is compiled at run time.
try {
  await import('../dist/src/main.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/src/main.js')) throw err;
  process.stderr.write('gearops: dist/ is missing; in a checkout run `npm run build` first\n');
  process.exitCode = 2;
}
