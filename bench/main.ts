/** The benchmark's process entry: `npm run bench [-- [--json] [section…]]` (a checkout only; it drives the local launchers). */
import { runBenchCommand } from './index.js';

process.exitCode = await runBenchCommand(process.argv.slice(2));
