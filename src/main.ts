/** The process entry of the `gearops` command (scripts/gearops.js loads its compiled form). */
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
