/**
 * The proof a switchover ends with. Over direct connections it is a write on the new master read back on every
 * node (ReplicationProbe.verifyReplication). A node read through its host's worker cannot be given a marker to read
 * (the worker runs only the control's fixed steps), so when any node is, each replica is proven by what it says
 * through the control: its IO and SQL threads run without errors, from the new master, and it has applied the new
 * master's binlog position. That proves each one logged in to the new master and is caught up with it; it does not
 * prove a fresh event travelled, which the first write after the switch shows (and the monitor watches).
 */
import type { NodeAddress, ReplicationProbe } from '../core/ports/replication.js';
import type { ReplicationControl } from '../core/ports/replication-control.js';

type Proof = { node: NodeAddress; ok: boolean; detail: string };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The switchover's `verify`: a marker write when every node is direct, else the control's proof above. */
export function replicationProof(
  probe: Pick<ReplicationProbe, 'verifyReplication'>,
  control: Pick<ReplicationControl, 'gtidState' | 'waitForGtid'>,
): ReplicationProbe['verifyReplication'] {
  return async (master, replicas, o) => {
    if (![master, ...replicas].some((n) => n.via)) return probe.verifyReplication(master, replicas, o);
    const timeoutMs = o?.timeoutMs ?? 15_000;
    const position = (await control.gtidState(master)).binlogPos;
    const from = `${master.address}:${master.port}`;
    return Promise.all(replicas.map((n) => proveOne(control, n, from, position, Date.now() + timeoutMs)));
  };
}

async function proveOne(
  control: Pick<ReplicationControl, 'gtidState' | 'waitForGtid'>,
  node: NodeAddress,
  from: string,
  position: string,
  deadline: number,
): Promise<Proof> {
  try {
    const applied = await control.waitForGtid(node, position, Math.max(1, deadline - Date.now()));
    for (;;) {
      const s = await control.gtidState(node);
      const on = s.master ? `${s.master.host}:${s.master.port}` : 'nobody';
      const running = s.ioRunning === 'Yes' && s.sqlRunning === 'Yes' && !s.lastIoError && !s.lastSqlError;
      if (applied && on === from && running)
        return { node, ok: true, detail: `replicating from ${from}, at its position ${position || '(empty)'}` };
      if (Date.now() > deadline)
        return {
          node,
          ok: false,
          detail:
            `replicates from ${on} (IO ${s.ioRunning ?? '?'}, SQL ${s.sqlRunning ?? '?'}` +
            `${s.lastIoError ? `, ${s.lastIoError}` : ''}${s.lastSqlError ? `, ${s.lastSqlError}` : ''})` +
            (applied ? '' : `, not at ${from}'s position ${position}`),
        };
      await sleep(100);
    }
  } catch (err) {
    return { node, ok: false, detail: (err as Error).message };
  }
}
