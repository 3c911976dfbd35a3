/**
 * The monitor's automatic failover and fencing, wired to the one failover sequence (src/cluster/failover.ts), the
 * change journal (what the block window and the former masters are read from) and the replication control.
 */
import { runFailover, type FailoverDeps } from '../cluster/failover.js';
import type { ReplicationControl } from '../core/ports/replication-control.js';
import type { ChangeJournal } from '../core/ports/store.js';
import type { AutoFailoverDeps } from './auto-failover.js';
import { journalFormerMasters, type FencingDeps } from './fencing.js';

/** How long fencing waits for running commits when it sets read_only=1, before it ends the writers and retries. */
const FENCE_WAIT_MS = 2000;

/** The ports the monitor's automatic failover and fencing run over. */
export function monitorFailoverPorts(d: {
  sequence: FailoverDeps;
  journal: ChangeJournal;
  control: Pick<ReplicationControl, 'setReadOnly' | 'killWriters'>;
}): { failover: AutoFailoverDeps; fencing: FencingDeps } {
  return {
    failover: {
      // The monitor has seen the loss for failcount polls already: the sequence re-checks it once, fresh, and
      // refuses if the master answers by then.
      run: (cluster, o) => runFailover({ ...d.sequence, failcount: 1 }, cluster, o),
      async lastFailover(cluster) {
        const last = (await d.journal.recent(cluster, 20)).find((ch) => ch.kind === 'failover');
        return last?.startedAt ?? null;
      },
    },
    fencing: {
      formerMasters: journalFormerMasters(d.journal),
      async setReadOnly(node) {
        try {
          await d.control.setReadOnly(node, true, { timeoutMs: FENCE_WAIT_MS });
        } catch {
          // A writer's commit holds the read lock: end the writers, then it cannot be held up.
          await d.control.killWriters(node, { timeoutMs: FENCE_WAIT_MS });
          await d.control.setReadOnly(node, true, { timeoutMs: FENCE_WAIT_MS });
        }
      },
    },
  };
}
