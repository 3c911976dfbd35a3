/** Small facts about cluster records that several parts share. */
import type { NodeAddress } from './ports/replication.js';
import type { ClusterNode, ClusterRecord } from './ports/store.js';
import type { DiscoveredNode } from './topology.js';

/**
 * How to reach and log in to a cluster's node: a watched cluster's servers with its named credentials (through
 * their host's worker when recorded so), a built cluster's sandboxes with that cluster's own accounts.
 */
export function nodeAddress(c: Pick<ClusterRecord, 'name' | 'kind' | 'credentials'>, n: ClusterNode): NodeAddress {
  return c.kind === 'watched'
    ? { address: n.address, port: n.port, credentials: c.credentials, ...(n.via ? { via: n.via } : {}) }
    : { address: n.address, port: n.port, cluster: c.name };
}

/**
 * Discovered servers as a watched cluster's nodes: each named by its address, no sandbox; `viaFor` names the host
 * whose worker reads a server whose port the bot cannot reach.
 */
export function watchedNodes(
  d: { nodes: DiscoveredNode[] },
  viaFor: (n: NodeAddress) => string | undefined = () => undefined,
): ClusterNode[] {
  return d.nodes.map((n) => ({
    host: n.address,
    address: n.address,
    port: n.port,
    role: n.role === 'master' ? 'master' : 'replica',
    serverId: n.serverId,
    sandbox: '',
    ...(n.replicatesFrom ? { replicatesFrom: n.replicatesFrom } : {}),
    ...(viaFor(n) ? { via: viaFor(n) } : {}),
  }));
}
