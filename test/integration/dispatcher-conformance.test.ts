/**
 * The Dispatcher contract (test/unit/ports/dispatcher-conformance.ts) on the Gearman dispatcher, with a real
 * gearmand and a real worker process for server1 under a policy of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGearmanDispatcher } from '../../src/gearman/dispatcher.js';
import { startWorkerProcess } from '../../src/launch/worker.js';
import { createSilentLogger } from '../../src/log.js';
import { startGearmand } from '../helpers/gearmand.js';
import { describeDispatcherConformance } from '../unit/ports/dispatcher-conformance.js';

describeDispatcherConformance('Gearman dispatcher, real gearmand and worker', async () => {
  const secret = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'gearops-dispatcher-conformance-'));
  const policy = join(dir, 'policy.yml');
  writeFileSync(
    policy,
    'version: 1\ncommands:\n  - rule: diag\n    allow:\n      - uptime\n      - sleep <int:1..60>\n',
  );
  const g = await startGearmand();
  const w = await startWorkerProcess({ host: 'server1', gearman: g.address, secret, policy });
  const dispatcher = createGearmanDispatcher({
    servers: [g.address],
    secret,
    logger: createSilentLogger(),
    preset: 'fast',
  });
  return {
    dispatcher,
    down: () => g.stop(),
    async close() {
      await dispatcher.close();
      await w.stop();
      await g.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
