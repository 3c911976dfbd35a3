/**
 * The monitor's per-node deadline, over fakes of the store and the probe: a node that does not answer is unknown
 * for the cycle (its incidents kept), is never asked twice at once, becomes unreachable after three misses in a
 * row, and never holds up another cluster.
 */
import { describe, expect, it } from 'vitest';
import { createReplicationMonitor, type MonitorCycle } from '../../../src/monitor/monitor.js';
import { createSilentLogger } from '../../../src/log.js';
import { renderText } from '../../../src/core/message.js';
import type { ChatSink } from '../../../src/core/ports/chat.js';
import type { NodeAddress, NodeStatus, ReplicationProbe } from '../../../src/core/ports/replication.js';
import type { ClusterRecord, Store } from '../../../src/core/ports/store.js';
import { createFakePolicy, fakeCluster } from '../fakes/ports.js';
import { createMemoryIncidents } from '../fakes/memory-store.js';

const healthy = (replica: boolean): NodeStatus => ({
  reachable: true,
  isReplica: replica,
  ioRunning: replica ? 'Yes' : undefined,
  sqlRunning: replica ? 'Yes' : undefined,
  secondsBehind: replica ? 0 : null,
  lastIoErrno: null,
  lastIoError: null,
  lastSqlErrno: null,
  lastSqlError: null,
});

function fakeStore(clusters: ClusterRecord[]) {
  const memIncidents = createMemoryIncidents();
  const incidents = memIncidents.rows;
  const store = {
    clusters: { list: async () => clusters, get: async (n: string) => clusters.find((c) => c.name === n) ?? null },
    incidents: memIncidents,
    lock: () => ({ held: true, tryAcquire: async () => true, release: async () => undefined }),
  };
  return { store: store as unknown as Pick<Store, 'clusters' | 'incidents' | 'pool' | 'lock'>, incidents };
}

/** A monitor over the fakes, with a 20 ms deadline per node. */
const monitorOver = (store: ReturnType<typeof fakeStore>['store'], probe: ReplicationProbe, chat: ChatSink) =>
  createReplicationMonitor({
    store,
    probe,
    chat,
    alertChannel: 'CALERTS',
    policy: createFakePolicy(),
    logger: createSilentLogger(),
    intervalMs: 1000,
    lagThresholdS: 30,
    nodeDeadlineMs: 20,
  });

describe('monitor deadline per node', () => {
  it('counts a silent node as unknown, never asks it twice at once, calls it unreachable after three misses, and alerts another cluster meanwhile', async () => {
    const hung = fakeCluster('hung', 5000);
    const other = fakeCluster('other', 6000);
    const { store, incidents } = fakeStore([hung, other]);
    const asked = new Map<number, number>();
    let otherBroken = false;
    const probe = {
      status(n: NodeAddress): Promise<NodeStatus> {
        asked.set(n.port, (asked.get(n.port) ?? 0) + 1);
        if (n.port === 5000) return new Promise(() => undefined); // the hung master: never answers
        if (n.port === 6001 && otherBroken)
          return Promise.resolve({ ...healthy(true), ioRunning: 'No', lastIoErrno: 2003, lastIoError: 'refused' });
        return Promise.resolve(healthy(n.port % 2 === 1));
      },
    } as unknown as ReplicationProbe;
    const posts: string[] = [];
    const chat: ChatSink = {
      post: async (_c, m) => {
        posts.push(renderText(m));
        return { channel: 'CALERTS', ts: `${posts.length}.0` };
      },
      update: async () => undefined,
      upload: async () => undefined,
    };
    const cycles: MonitorCycle[] = [];
    const monitor = monitorOver(store, probe, chat);
    monitor.onCycle((c) => cycles.push(c));

    otherBroken = true;
    expect(await monitor.pollOnce()).toBe(true);
    // The other cluster's fault is alerted in the very cycle the hung node missed its deadline.
    expect(posts.filter((p) => /other2:6001 — IO thread stopped/.test(p))).toHaveLength(1);
    expect(cycles[0]!.missed).toEqual([{ cluster: 'hung', host: 'hung1', port: 5000 }]);
    expect(incidents.filter((i) => i.cluster === 'hung')).toEqual([]);

    await monitor.pollOnce();
    expect(incidents.filter((i) => i.cluster === 'hung')).toEqual([]);
    await monitor.pollOnce();
    // Three misses in a row: unreachable, saying what happened.
    const open = incidents.filter((i) => i.cluster === 'hung');
    expect(open.map((i) => [i.host, i.kind, i.error])).toEqual([
      ['hung1', 'unreachable', 'did not answer the monitor within 20 ms, 3 polls in a row'],
    ]);
    expect(posts.join('\n')).toMatch(
      /hung1:5000 — node unreachable\*\nDid not answer the monitor within 20 ms, 3 polls in a row/,
    );
    // The first probe is still out: the node was asked once, not once per cycle.
    expect(asked.get(5000)).toBe(1);
    expect(asked.get(5001)).toBe(3);
    expect(cycles.map((c) => c.n)).toEqual([1, 2, 3]);
    await monitor.stop();
  });

  it("keeps a replica's IO incident open while its master does not answer: no answer is not a fix", async () => {
    const c = fakeCluster('c', 7000);
    const { store, incidents } = fakeStore([c]);
    let masterHung = false;
    const probe = {
      status(n: NodeAddress): Promise<NodeStatus> {
        if (n.port === 7000) return masterHung ? new Promise(() => undefined) : Promise.resolve(healthy(false));
        // The replica keeps retrying with an error, as one does while its master is gone.
        return Promise.resolve({ ...healthy(true), ioRunning: 'Connecting', lastIoErrno: 2013, lastIoError: 'lost' });
      },
    } as unknown as ReplicationProbe;
    const chat: ChatSink = {
      post: async () => ({ channel: 'CALERTS', ts: '1.0' }),
      update: async () => undefined,
      upload: async () => undefined,
    };
    const monitor = monitorOver(store, probe, chat);
    await monitor.pollOnce();
    const open = () => incidents.filter((i) => i.state === 'open').map((i) => `${i.host}:${i.kind}`);
    expect(open()).toEqual(['c2:io_stopped']);
    masterHung = true;
    await monitor.pollOnce();
    await monitor.pollOnce();
    expect(open()).toEqual(['c2:io_stopped']);
    await monitor.stop();
  });
});
