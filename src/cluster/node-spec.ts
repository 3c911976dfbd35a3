/**
 * How a person names one node of a cluster (`to=` of switchover and failover, rejoin's node, the Promote button):
 * host:port or address:port as the record has them, or a host name alone (as /replica status shows it) — or an
 * address alone — when it names exactly one node. An ambiguous or unknown name is refused with the valid names.
 */
import type { ClusterNode, ClusterRecord } from '../core/ports/store.js';

/** The node a name resolved to, or why it names none. */
export type NodeSpecResult = { ok: true; node: ClusterNode } | { ok: false; reason: string };

const hostPort = (n: ClusterNode) => `${n.host}:${n.port}`;
const addrPort = (n: ClusterNode) => `${n.address}:${n.port}`;

/** The names a person may use for the cluster's nodes: the host alone where it names one node, else host:port. */
export function validNodeNames(c: Pick<ClusterRecord, 'nodes'>): string[] {
  return c.nodes.map((n) => (c.nodes.filter((x) => x.host === n.host).length === 1 ? n.host : hostPort(n)));
}

/** Resolves `spec` to one node of `c`, or says why it cannot (unknown, or naming several nodes). */
export function resolveNode(c: Pick<ClusterRecord, 'name' | 'nodes'>, spec: string): NodeSpecResult {
  const exact = c.nodes.filter((n) => hostPort(n) === spec || addrPort(n) === spec);
  const named = exact.length ? exact : c.nodes.filter((n) => n.host === spec || n.address === spec);
  const [only] = named;
  if (named.length === 1 && only) return { ok: true, node: only };
  if (named.length > 1)
    return {
      ok: false,
      reason: `${spec} names ${named.length} nodes of cluster ${c.name} (${named.map(hostPort).join(', ')}): name one with its port`,
    };
  return {
    ok: false,
    reason: `${spec} is not a node of cluster ${c.name} (its nodes: ${validNodeNames(c).join(', ') || 'none'})`,
  };
}
