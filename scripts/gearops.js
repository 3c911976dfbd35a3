#!/usr/bin/env node
// The `gearops` command: loads the TypeScript sources through tsx so a clean
// clone runs after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
