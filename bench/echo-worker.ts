/**
 * The project's echo worker for the Gearman benchmark, in a process of its own (as the C worker is, and as a
 * worker runs on its host in production): `node --import tsx bench/echo-worker.ts <host:port>`. Prints
 * "ready" once registered; exits on SIGTERM.
 */
import { createSilentLogger } from '../src/log.js';
import { createGearmanWorker } from '../src/gearman/worker.js';

const server = process.argv[2];
if (!server) {
  process.stderr.write('usage: echo-worker.ts <host:port>\n');
  process.exit(2);
}
const worker = createGearmanWorker({
  servers: [server],
  functions: { p_echo: async (j) => j.payload },
  concurrency: 1,
  logger: createSilentLogger(),
});
await worker.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void worker.stop({ graceMs: 100 }).then(() => process.exit(0));
});
