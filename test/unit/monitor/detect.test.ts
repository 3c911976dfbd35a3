import { describe, expect, it } from 'vitest';
import { confirmLag, detectFaults, MASTER_LOST_TOO, type OpenFault } from '../../../src/monitor/detect.js';
import type { NodeStatus } from '../../../src/core/ports/replication.js';
import type { ClusterNode } from '../../../src/core/ports/store.js';

const nodes: ClusterNode[] = [
  { host: 'server1', address: '127.0.0.1', port: 21000, role: 'master', serverId: 1, sandbox: 'demo' },
  { host: 'server2', address: '127.0.0.1', port: 21001, role: 'replica', serverId: 2, sandbox: 'demo' },
  { host: 'server3', address: '127.0.0.1', port: 21002, role: 'replica', serverId: 3, sandbox: 'demo' },
];
const healthyMaster: NodeStatus = {
  reachable: true,
  isReplica: false,
  secondsBehind: null,
  lastIoErrno: null,
  lastIoError: null,
  lastSqlErrno: null,
  lastSqlError: null,
};
const healthyReplica: NodeStatus = {
  reachable: true,
  isReplica: true,
  ioRunning: 'Yes',
  sqlRunning: 'Yes',
  secondsBehind: 0,
  lastIoErrno: 0,
  lastIoError: '',
  lastSqlErrno: 0,
  lastSqlError: '',
};

describe('detectFaults', () => {
  it('finds nothing on a healthy cluster', () => {
    expect(detectFaults(nodes, [healthyMaster, healthyReplica, healthyReplica], 30)).toEqual([]);
  });

  it('reports a stopped SQL thread with its error', () => {
    const broken = {
      ...healthyReplica,
      sqlRunning: 'No' as const,
      secondsBehind: null,
      lastSqlErrno: 1062,
      lastSqlError: "Duplicate entry '1' for key 'PRIMARY'",
    };
    expect(detectFaults(nodes, [healthyMaster, broken, healthyReplica], 30)).toEqual([
      {
        host: 'server2',
        port: 21001,
        role: 'replica',
        kind: 'sql_stopped',
        errno: 1062,
        error: "Duplicate entry '1' for key 'PRIMARY'",
        lag: null,
      },
    ]);
  });

  it('reports a stopped IO thread, but not one that is merely connecting without error', () => {
    const stopped = { ...healthyReplica, ioRunning: 'No' as const, secondsBehind: null };
    const connecting = { ...healthyReplica, ioRunning: 'Connecting' as const, secondsBehind: null };
    expect(detectFaults(nodes, [healthyMaster, stopped, connecting], 30).map((f) => [f.host, f.kind])).toEqual([
      ['server2', 'io_stopped'],
    ]);
  });

  it("takes MariaDB's Preparing (connected, registering with the master) for a replica on its way, not a stopped IO thread", () => {
    const preparing = { ...healthyReplica, ioRunning: 'Preparing' as const, secondsBehind: null };
    expect(detectFaults(nodes, [healthyMaster, preparing, healthyReplica], 30)).toEqual([]);
    expect(
      detectFaults(
        nodes,
        [healthyMaster, { ...preparing, lastIoErrno: 1045, lastIoError: 'Access denied' }, healthyReplica],
        30,
      ).map((f) => [f.host, f.kind, f.errno]),
    ).toEqual([['server2', 'io_stopped', 1045]]);
    // Right after a lost master comes back, a replica registering again keeps the master's incident open rather than opening its own.
    const lost = {
      host: 'server1',
      port: 21000,
      kind: 'master_lost' as const,
      errno: 2003,
      error: 'refused',
      lag: null,
    };
    expect(
      detectFaults(nodes, [healthyMaster, preparing, healthyReplica], 30, [lost]).map((f) => [f.host, f.kind]),
    ).toEqual([['server1', 'master_lost']]);
  });

  it('judges lag only on working replicas (NULL lag of a broken one is not lag)', () => {
    const lagging = { ...healthyReplica, secondsBehind: 45 };
    const brokenNull = {
      ...healthyReplica,
      sqlRunning: 'No' as const,
      secondsBehind: null,
      lastSqlErrno: 1146,
      lastSqlError: 'no table',
    };
    const faults = detectFaults(nodes, [healthyMaster, lagging, brokenNull], 30);
    expect(faults.map((f) => [f.host, f.kind, f.lag])).toEqual([
      ['server2', 'lag', 45],
      ['server3', 'sql_stopped', null],
    ]);
    expect(detectFaults(nodes, [healthyMaster, { ...healthyReplica, secondsBehind: 30 }, healthyReplica], 30)).toEqual(
      [],
    );
  });

  it('reports an unreachable replica', () => {
    const dead: NodeStatus = {
      reachable: false,
      error: 'connect ECONNREFUSED',
      isReplica: false,
      secondsBehind: null,
      lastIoErrno: null,
      lastIoError: null,
      lastSqlErrno: null,
      lastSqlError: null,
    };
    expect(
      detectFaults(nodes, [healthyMaster, dead, healthyReplica], 30).map((f) => [f.host, f.kind, f.error]),
    ).toEqual([['server2', 'unreachable', 'connect ECONNREFUSED']]);
  });

  it("reports the master lost when it is down and every replica's IO thread fails", () => {
    const dead: NodeStatus = {
      reachable: false,
      error: 'refused',
      isReplica: false,
      secondsBehind: null,
      lastIoErrno: null,
      lastIoError: null,
      lastSqlErrno: null,
      lastSqlError: null,
    };
    const ioErr = {
      ...healthyReplica,
      ioRunning: 'Connecting' as const,
      secondsBehind: null,
      lastIoErrno: 2003,
      lastIoError: "Can't connect to server",
    };
    const faults = detectFaults(nodes, [dead, ioErr, ioErr], 30);
    expect(faults.map((f) => [f.host, f.kind, f.errno])).toEqual([['server1', 'master_lost', 2003]]);
  });

  describe('a master that is down stays one incident', () => {
    const dead: NodeStatus = {
      reachable: false,
      error: 'connect ECONNREFUSED',
      isReplica: false,
      secondsBehind: null,
      lastIoErrno: null,
      lastIoError: null,
      lastSqlErrno: null,
      lastSqlError: null,
    };
    const refused = {
      ...healthyReplica,
      ioRunning: 'Connecting' as const,
      secondsBehind: null,
      lastIoErrno: 2003,
      lastIoError: "Can't connect to server",
    };
    const reset = { ...refused, lastIoErrno: 2013, lastIoError: 'Lost connection to server' };
    const lost: OpenFault = {
      host: 'server1',
      port: 21000,
      kind: 'master_lost',
      errno: 2003,
      error: "Can't connect to server",
      lag: null,
    };
    const unreachable: OpenFault = {
      host: 'server1',
      port: 21000,
      kind: 'unreachable',
      errno: null,
      error: 'connect ECONNREFUSED',
      lag: null,
    };
    const summary = (faults: ReturnType<typeof detectFaults>) => faults.map((f) => [f.host, f.kind, f.errno, f.error]);

    it("keeps the error of an open master_lost while the replicas' errors change", () => {
      expect(summary(detectFaults(nodes, [dead, reset, refused], 30, [lost]))).toEqual([
        ['server1', 'master_lost', 2003, "Can't connect to server"],
      ]);
    });

    it('keeps master_lost open after the master answers again while a replica is still reconnecting, with no IO alert for it', () => {
      expect(summary(detectFaults(nodes, [healthyMaster, healthyReplica, refused], 30, [lost]))).toEqual([
        ['server1', 'master_lost', 2003, "Can't connect to server"],
      ]);
      // The same statuses with nothing open: a replica that cannot reach a live master is its own IO fault.
      expect(summary(detectFaults(nodes, [healthyMaster, healthyReplica, refused], 30))).toEqual([
        ['server3', 'io_stopped', 2003, "Can't connect to server"],
      ]);
    });

    it("stops waiting for a replica that never reconnects once the grace after the master's return is over: the master resolves, the replica gets its own alert", () => {
      expect(
        summary(
          detectFaults(nodes, [healthyMaster, healthyReplica, refused], 30, [lost], { masterBackGraceOver: true }),
        ),
      ).toEqual([['server3', 'io_stopped', 2003, "Can't connect to server"]]);
      // While the master is still down, the grace does not apply: it is the master's incident.
      expect(summary(detectFaults(nodes, [dead, refused, refused], 30, [lost], { masterBackGraceOver: true }))).toEqual(
        [['server1', 'master_lost', 2003, "Can't connect to server"]],
      );
    });

    it('resolves master_lost once every replica is connected again', () => {
      expect(detectFaults(nodes, [healthyMaster, healthyReplica, healthyReplica], 30, [lost])).toEqual([]);
    });

    it('gives a replica that gave up (IO No) its own alert once the master is back', () => {
      const gaveUp = {
        ...refused,
        ioRunning: 'No' as const,
        lastIoErrno: 1236,
        lastIoError: 'Could not find GTID state',
      };
      expect(summary(detectFaults(nodes, [healthyMaster, gaveUp, healthyReplica], 30, [lost]))).toEqual([
        ['server2', 'io_stopped', 1236, 'Could not find GTID state'],
      ]);
      expect(summary(detectFaults(nodes, [healthyMaster, gaveUp, refused], 30, [lost]))).toEqual([
        ['server2', 'io_stopped', 1236, 'Could not find GTID state'],
        ['server1', 'master_lost', 2003, "Can't connect to server"],
      ]);
    });

    it('does not resolve an "unreachable" master when the replicas confirm it: the same thread says master lost', () => {
      const yes = detectFaults(nodes, [dead, healthyReplica, healthyReplica], 30);
      expect(summary(yes)).toEqual([['server1', 'unreachable', null, 'connect ECONNREFUSED']]);
      const confirmed = detectFaults(nodes, [dead, refused, refused], 30, [unreachable]);
      expect(summary(confirmed)).toEqual([
        ['server1', 'unreachable', null, `connect ECONNREFUSED — ${MASTER_LOST_TOO}`],
      ]);
      // Said once: the next poll keeps that text.
      const next = detectFaults(nodes, [dead, reset, refused], 30, [{ ...unreachable, error: confirmed[0]!.error }]);
      expect(summary(next)).toEqual(summary(confirmed));
    });

    it('reports an unreachable master, not master_lost, while a replica still reads from it; replicas retrying meanwhile get no IO alert', () => {
      expect(summary(detectFaults(nodes, [dead, healthyReplica, refused], 30))).toEqual([
        ['server1', 'unreachable', null, 'connect ECONNREFUSED'],
      ]);
      // The race seen on real servers: one replica has noticed (2003), the other is between losing the master and its first retry (no error yet).
      const noticed = { ...refused, lastIoErrno: 0, lastIoError: '' };
      expect(summary(detectFaults(nodes, [dead, refused, noticed], 30))).toEqual([
        ['server1', 'master_lost', 2003, "Can't connect to server"],
      ]);
    });

    it('keeps its own alert for a replica whose IO thread is stopped (No), master down or not', () => {
      const stopped = { ...healthyReplica, ioRunning: 'No' as const, secondsBehind: null };
      expect(summary(detectFaults(nodes, [dead, stopped, refused], 30))).toEqual([
        ['server2', 'io_stopped', null, null],
        ['server1', 'master_lost', 2003, "Can't connect to server"],
      ]);
      expect(
        summary(
          detectFaults(nodes, [dead, stopped, refused], 30, [
            lost,
            { host: 'server2', port: 21001, kind: 'io_stopped', errno: null, error: null, lag: null },
          ]),
        ),
      ).toEqual([
        ['server2', 'io_stopped', null, null],
        ['server1', 'master_lost', 2003, "Can't connect to server"],
      ]);
    });
  });

  describe('lag that cannot be measured', () => {
    const lagging: OpenFault = { host: 'server2', port: 21001, kind: 'lag', errno: null, error: null, lag: 40 };

    it('keeps an open lag incident while the replica is broken or unreachable (NULL is not caught up)', () => {
      const broken = {
        ...healthyReplica,
        sqlRunning: 'No' as const,
        secondsBehind: null,
        lastSqlErrno: 1146,
        lastSqlError: 'no table',
      };
      expect(
        detectFaults(nodes, [healthyMaster, broken, healthyReplica], 30, [lagging]).map((f) => [f.host, f.kind, f.lag]),
      ).toEqual([
        ['server2', 'sql_stopped', null],
        ['server2', 'lag', 40],
      ]);
      const dead: NodeStatus = {
        reachable: false,
        error: 'timeout',
        isReplica: false,
        secondsBehind: null,
        lastIoErrno: null,
        lastIoError: null,
        lastSqlErrno: null,
        lastSqlError: null,
      };
      expect(
        detectFaults(nodes, [healthyMaster, dead, healthyReplica], 30, [lagging]).map((f) => [f.host, f.kind, f.lag]),
      ).toEqual([
        ['server2', 'unreachable', null],
        ['server2', 'lag', 40],
      ]);
    });

    it('resolves it on a measured lag at or under the threshold, and never opens one on NULL', () => {
      expect(
        detectFaults(nodes, [healthyMaster, { ...healthyReplica, secondsBehind: 30 }, healthyReplica], 30, [lagging]),
      ).toEqual([]);
      const broken = { ...healthyReplica, ioRunning: 'No' as const, secondsBehind: null };
      expect(detectFaults(nodes, [healthyMaster, broken, healthyReplica], 30).map((f) => f.kind)).toEqual([
        'io_stopped',
      ]);
    });
  });

  describe('confirmLag', () => {
    const lag = (host: string, port: number, seconds: number) => ({
      host,
      port,
      role: 'replica' as const,
      kind: 'lag' as const,
      errno: null,
      error: null,
      lag: seconds,
    });
    const io = {
      host: 'server3',
      port: 21002,
      role: 'replica' as const,
      kind: 'io_stopped' as const,
      errno: 2003,
      error: 'refused',
      lag: null,
    };

    it('holds back a lag seen once (the instant spike after a reconnect) and passes it on the next poll that sees it too', () => {
      const first = confirmLag([lag('server2', 21001, 9), io], [], new Set());
      expect(first.faults).toEqual([io]);
      expect([...first.seen]).toEqual(['server2:21001']);
      expect(confirmLag([lag('server2', 21001, 12)], [], first.seen).faults).toEqual([lag('server2', 21001, 12)]);
      // Gone at the next poll: forgotten, and a later single reading is held back again.
      const gone = confirmLag([], [], first.seen);
      expect(gone.seen.size).toBe(0);
      expect(confirmLag([lag('server2', 21001, 9)], [], gone.seen).faults).toEqual([]);
    });

    it('passes lag of an incident already open at once (no gap in a thread that follows it)', () => {
      const open: OpenFault[] = [{ host: 'server2', port: 21001, kind: 'lag', errno: null, error: null, lag: 40 }];
      expect(confirmLag([lag('server2', 21001, 45)], open, new Set()).faults).toEqual([lag('server2', 21001, 45)]);
    });
  });
});
