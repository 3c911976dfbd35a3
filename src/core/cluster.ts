/** Small facts about cluster records that several parts share. */
import type { NodeAddress } from './ports/replication.js';
import type { ClusterNode, ClusterRecord } from './ports/store.js';

/**
 * How to reach and log in to a cluster's node: a watched cluster's servers with its named credentials, a built
 * cluster's sandboxes with the probe's own (sandbox) credentials.
 */
export function nodeAddress(c: Pick<ClusterRecord, 'kind' | 'credentials'>, n: ClusterNode): NodeAddress {
  return c.kind === 'watched'
    ? { address: n.address, port: n.port, credentials: c.credentials }
    : { address: n.address, port: n.port };
}
