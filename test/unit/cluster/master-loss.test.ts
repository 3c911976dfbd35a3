import { describe, expect, it } from 'vitest';
import { unreachableStatus, type NodeStatus } from '../../../src/core/ports/replication.js';
import type { ClusterNode } from '../../../src/core/ports/store.js';
import { assessMasterLoss, confirmMasterLost, createLossCounter } from '../../../src/cluster/master-loss.js';

const node = (
  host: string,
  port: number,
  role: 'master' | 'replica',
  extra: Partial<ClusterNode> = {},
): ClusterNode => ({
  host,
  address: '10.0.0.1',
  port,
  role,
  serverId: port,
  sandbox: 'c',
  ...extra,
});
const nodes = [node('m', 1, 'master'), node('r1', 2, 'replica'), node('r2', 3, 'replica')];
const replica = (s: Partial<NodeStatus> = {}): NodeStatus => ({
  reachable: true,
  isReplica: true,
  ioRunning: 'Connecting',
  sqlRunning: 'Yes',
  secondsBehind: null,
  lastIoErrno: 2003,
  lastIoError: "Can't connect to MySQL server",
  lastSqlErrno: null,
  lastSqlError: null,
  masterHost: '10.0.0.1',
  masterPort: 1,
  ...s,
});
const down = unreachableStatus('connect ECONNREFUSED');
const up: NodeStatus = { ...replica(), isReplica: false, ioRunning: null, sqlRunning: null };

describe('assessMasterLoss', () => {
  it('is lost when the bot cannot reach the master and every replica confirms', () => {
    const a = assessMasterLoss(nodes, [down, replica(), replica({ ioRunning: 'Preparing', lastIoErrno: 0 })]);
    expect(a.lost).toBe(true);
    expect(a.confirming).toEqual(['r1:2', 'r2:3']);
    expect(a.reason).toMatch(/every replica's IO thread fails/);
  });

  it('is never lost while the master answers, whatever the replicas say', () => {
    const a = assessMasterLoss(nodes, [up, replica(), replica()]);
    expect(a).toMatchObject({ lost: false, masterAnswers: true });
    expect(a.reason).toBe('the master m:1 answers');
  });

  it('is not lost while one replica still reads from the master', () => {
    const a = assessMasterLoss(nodes, [down, replica(), replica({ ioRunning: 'Yes', lastIoErrno: 0 })]);
    expect(a.lost).toBe(false);
    expect(a.notConfirming).toEqual([{ node: 'r2:3', why: 'its IO thread still reads from the master' }]);
    expect(a.reason).toMatch(/not every replica confirms: r2:3 its IO thread still reads/);
  });

  it('does not count a replica that cannot be read, or one stopped by hand', () => {
    expect(assessMasterLoss(nodes, [down, replica(), unreachableStatus('timeout')]).lost).toBe(false);
    const stopped = assessMasterLoss(nodes, [down, replica(), replica({ ioRunning: 'No', lastIoErrno: 0 })]);
    expect(stopped.lost).toBe(false);
    expect(stopped.notConfirming[0]?.why).toMatch(/stopped without an error/);
    // Stopped with an error (it gave up on the master) does confirm.
    expect(assessMasterLoss(nodes, [down, replica(), replica({ ioRunning: 'No', lastIoErrno: 2003 })]).lost).toBe(true);
  });

  it('says nothing from a master that did not answer in time, or a cluster without replicas', () => {
    expect(assessMasterLoss(nodes, [undefined, replica(), replica()]).lost).toBe(false);
    const alone = assessMasterLoss([nodes[0]!], [down]);
    expect(alone.lost).toBe(false);
    expect(alone.reason).toMatch(/no replica to confirm/);
  });

  it('does not ask replicas of another source (behind an intermediate master)', () => {
    const chain = [...nodes, node('r3', 4, 'replica', { replicatesFrom: '10.0.0.1:2' })];
    expect(assessMasterLoss(chain, [down, replica(), replica(), replica({ ioRunning: 'Yes' })]).lost).toBe(true);
  });
});

describe('holding the loss for failcount probes', () => {
  it('counts probes in a row and starts again when one does not see it', () => {
    const c = createLossCounter();
    const lost = assessMasterLoss(nodes, [down, replica(), replica()]);
    const fine = assessMasterLoss(nodes, [up, replica(), replica()]);
    expect([c.observe('x', lost), c.observe('x', lost), c.observe('x', fine), c.observe('x', lost)]).toEqual([
      1, 2, 0, 1,
    ]);
    expect(c.observe('y', lost)).toBe(1);
  });

  it('confirms after failcount probes, and stops at the first probe where the master answers', async () => {
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
    };
    const seq = [
      [down, replica(), replica()],
      [down, replica(), replica()],
      [down, replica(), replica()],
    ];
    let i = 0;
    const ok = await confirmMasterLost(nodes, async () => seq[i++]!, { failcount: 3, intervalMs: 250, sleep });
    expect(ok).toMatchObject({ confirmed: true, held: 3 });
    expect(slept).toEqual([250, 250]);

    const back = [
      [down, replica(), replica()],
      [up, replica(), replica()],
      [down, replica(), replica()],
    ];
    i = 0;
    const refused = await confirmMasterLost(nodes, async () => back[i++]!, { failcount: 3, intervalMs: 1, sleep });
    expect(refused).toMatchObject({ confirmed: false, held: 1 });
    expect(refused.last.masterAnswers).toBe(true);
    expect(i).toBe(2);
  });
});
