/** What the `/replica` subcommands show: progress, tables, cells and the messages more than one of them says. */
import { ErrorCode, GearopsError } from '../../src/errors.js';
import type { Block, ChatMessage } from '../../src/core/message.js';
import { resultBlock } from '../../src/core/message.js';
import type { NodeStatus } from '../../src/core/ports/replication.js';
import type { ClusterNode, ClusterRecord } from '../../src/core/ports/store.js';
import type { Discovery } from '../../src/core/topology.js';
import type { NodeState } from '../../src/cluster/install.js';
import { formatDuration } from '../shared.js';
import type { InstallPlan } from './parse.js';

export { nodeName } from '../../src/cluster/remove.js';

/** How long ago, for people ("12.3 s ago"); "earlier" when not known. */
export const ago = (d?: Date) => (d ? `${formatDuration(Math.max(0, Date.now() - d.getTime()))} ago` : 'earlier');

/** Why a cluster name is taken, with what to do about it. */
export function alreadyThere(c: ClusterRecord): GearopsError {
  if (c.state === 'installing')
    return new GearopsError(
      ErrorCode.Usage,
      `cluster ${c.name} is being installed (started ${ago(c.createdAt)}); if that install was interrupted, /replica remove ${c.name} stops what is left of it.`,
    );
  if (c.state === 'removing')
    return new GearopsError(
      ErrorCode.Usage,
      `cluster ${c.name} is being removed; if that removal did not finish, /replica remove ${c.name} tries again.`,
    );
  return new GearopsError(
    ErrorCode.Usage,
    `cluster ${c.name} already exists: choose another name or /replica remove ${c.name} first.`,
  );
}

/** Says how many clusters the user's rules leave out, when any. */
export const hiddenNote = (hidden: number): Block[] =>
  hidden ? [{ type: 'context', text: `${hidden} cluster(s) on hosts your rules do not cover are not shown` }] : [];

/** The install's live message: one row per node. */
export function progress(plan: InstallPlan, nodes: NodeState[], status: string): ChatMessage {
  return {
    text: `/replica install ${plan.cluster}: ${status}`,
    blocks: [
      {
        type: 'text',
        text: `Installing replication cluster *${plan.cluster}*${plan.version ? ` (version ${plan.version})` : ''}`,
      },
      {
        type: 'table',
        columns: ['node', 'role', 'host:port', 'state'],
        rows: nodes.map((n, i) => [
          String(i + 1),
          n.role,
          `${n.host}:${n.port || '?'}`,
          `${n.ok === false ? '✗ ' : n.ok ? '✓ ' : ''}${n.state}`,
        ]),
      },
      { type: 'context', text: status },
    ],
  };
}

/** A node's role as shown: a replica that others replicate from is an intermediate master. */
export function roleOf(c: ClusterRecord, n: ClusterNode): string {
  const self = `${n.address}:${n.port}`;
  if (n.role === 'replica' && c.nodes.some((o) => o.replicatesFrom === self)) return 'intermediate';
  return n.role;
}

/** True when a node needs attention. */
export function isBroken(n: ClusterNode, s: NodeStatus): boolean {
  if (!s.reachable) return true;
  if (n.role === 'replica') return s.ioRunning !== 'Yes' || s.sqlRunning !== 'Yes';
  return false;
}

/** The IO, SQL, behind, last error and position cells of a node's status row. */
export function replicationCells(n: ClusterNode, s: NodeStatus): string[] {
  if (!s.reachable) return ['-', '-', '-', `unreachable: ${s.error ?? 'no answer'}`, '-'];
  const pos = s.gtid ? `gtid ${s.gtid}` : s.binlogFile ? `${s.binlogFile}:${s.binlogPos ?? '?'}` : '-';
  if (n.role === 'master' && !s.isReplica) return ['-', '-', '-', '-', pos];
  const err = s.lastSqlErrno
    ? `SQL ${s.lastSqlErrno}: ${s.lastSqlError ?? ''}`
    : s.lastIoErrno
      ? `IO ${s.lastIoErrno}: ${s.lastIoError ?? ''}`
      : '-';
  return [
    s.ioRunning ?? '-',
    s.sqlRunning ?? '-',
    s.secondsBehind === null ? 'NULL' : `${s.secondsBehind} s`,
    err.slice(0, 200),
    pos,
  ];
}

/** The discovered topology as a table, with what could not be mapped. */
export function topologyBlocks(d: Discovery): Block[] {
  const rows = d.nodes.map((n) => [
    `${n.address}:${n.port}`,
    n.role,
    n.replicatesFrom ?? '-',
    String(n.serverId),
    n.version,
    n.readOnly ? 'ON' : 'OFF',
  ]);
  const blocks: Block[] = [
    resultBlock(['server', 'role', 'replicates from', 'server_id', 'version', 'read_only'], rows),
  ];
  if (d.problems.length > 0)
    blocks.push({
      type: 'text',
      text: `*Not mapped:*\n${d.problems.map((p) => `• ${p.address}${p.port ? `:${p.port}` : ''}: ${p.reason}`).join('\n')}`,
    });
  if (d.notes.length > 0) blocks.push({ type: 'text', text: `*Notes:*\n${d.notes.map((n) => `• ${n}`).join('\n')}` });
  return blocks;
}
