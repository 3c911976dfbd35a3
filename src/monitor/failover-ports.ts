/**
 * The monitor's automatic failover and fencing, wired to the one failover sequence (src/cluster/failover.ts), the
 * change journal (what the block window and the former masters are read from) and the replication control. Both act
 * as the monitor (MONITOR_REQUESTER) for replica.failover: a node read through its host's worker is changed there
 * only when that worker's own policy allows replica.failover to `gearops-monitor` (fencing is the failover's last
 * guarantee: a returning old master made read-only).
 */
import { runFailover, type FailoverDeps } from '../cluster/failover.js';
import { controlFor, type ReplicationControl } from '../core/ports/replication-control.js';
import { MONITOR_REQUESTER } from '../core/routed-probe.js';
import type { ChangeJournal } from '../core/ports/store.js';
import type { AutoFailoverDeps } from './auto-failover.js';
import { journalFormerMasters, type FencingDeps } from './fencing.js';

/** How long fencing waits for running commits when it sets read_only=1, before it ends the writers and retries. */
const FENCE_WAIT_MS = 2000;

/** The ports the monitor's automatic failover and fencing run over. */
export function monitorFailoverPorts(d: {
  sequence: FailoverDeps;
  journal: ChangeJournal;
  control: ReplicationControl;
}): { failover: AutoFailoverDeps; fencing: FencingDeps } {
  const control = controlFor(d.control, MONITOR_REQUESTER, 'replica.failover');
  return {
    failover: {
      // The monitor has seen the loss for failcount polls already: the sequence re-checks it once, fresh, and
      // refuses if the master answers by then.
      run: (cluster, o) =>
        runFailover(
          {
            ...d.sequence,
            control: controlFor(d.sequence.control, MONITOR_REQUESTER, 'replica.failover'),
            failcount: 1,
          },
          cluster,
          o,
        ),
      async lastFailover(cluster) {
        const last = (await d.journal.recent(cluster, 20)).find((ch) => ch.kind === 'failover');
        return last?.startedAt ?? null;
      },
    },
    fencing: {
      formerMasters: journalFormerMasters(d.journal),
      async setReadOnly(node) {
        try {
          await control.setReadOnly(node, true, { timeoutMs: FENCE_WAIT_MS });
        } catch {
          // A writer's commit holds the read lock: end the writers, then it cannot be held up.
          await control.killWriters(node, { timeoutMs: FENCE_WAIT_MS });
          await control.setReadOnly(node, true, { timeoutMs: FENCE_WAIT_MS });
        }
      },
    },
  };
}
