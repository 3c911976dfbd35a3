/**
 * `mysql.status@host`: the worker reads a MySQL server on its own host and answers the replication status (and,
 * for discovery, the topology facts) that the bot would read directly, with credentials this host keeps itself
 * (its own --credentials-file). The bot then needs neither a network path to the server nor its password.
 * It runs only the fixed read statements of the status probe and of discovery: nothing from chat reaches the
 * server. Safe to run twice (it only reads).
 */
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { NodeStatus } from '../../core/ports/replication.js';
import type { NodeFacts } from '../../core/topology.js';
import type { CredentialsDirectory } from '../../credentials-file.js';
import { createReplicationProbe } from '../../mysql/replication.js';
import { createTopologyReader } from '../../mysql/topology-reader.js';
import type { Capability } from '../capability.js';

/** What the bot asks: a local server's port, the credentials entry to use, and whether to add topology facts. */
export interface MysqlStatusArgs {
  port: number;
  credentials?: string;
  facts?: boolean;
}

/** What the worker answers. */
export interface MysqlStatusValue {
  status: NodeStatus;
  facts?: NodeFacts;
}

const CRED_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Checks the signed args before anything is read; throws a usage error naming what is wrong. */
export function parseMysqlStatusArgs(raw: unknown): Required<Pick<MysqlStatusArgs, 'port'>> & MysqlStatusArgs {
  const a = (raw ?? {}) as Record<string, unknown>;
  const extra = Object.keys(a).filter((k) => !['port', 'credentials', 'facts'].includes(k));
  if (extra.length) throw new GearopsError(ErrorCode.Usage, `mysql.status: unknown argument ${extra[0]}`);
  if (typeof a.port !== 'number' || !Number.isInteger(a.port) || a.port < 1 || a.port > 65535)
    throw new GearopsError(ErrorCode.Usage, 'mysql.status: port must be a whole number from 1 to 65535');
  if (a.credentials !== undefined && (typeof a.credentials !== 'string' || !CRED_RE.test(a.credentials)))
    throw new GearopsError(ErrorCode.Usage, 'mysql.status: credentials must be an entry name');
  if (a.facts !== undefined && typeof a.facts !== 'boolean')
    throw new GearopsError(ErrorCode.Usage, 'mysql.status: facts must be true or false');
  return { port: a.port, credentials: a.credentials as string | undefined, facts: a.facts as boolean | undefined };
}

/** Creates the capability over this host's credentials; servers are read on `address` (loopback by default). */
export function createMysqlStatusCapability(opts: {
  credentials: CredentialsDirectory;
  logger: Logger;
  address?: string;
  defaultCredentials?: string;
}): Capability<MysqlStatusArgs, MysqlStatusValue> {
  const address = opts.address ?? '127.0.0.1';
  return {
    name: 'mysql.status',
    async handler(ctx) {
      const a = parseMysqlStatusArgs(ctx.args);
      const name = a.credentials ?? opts.defaultCredentials ?? 'sandbox';
      if (!opts.credentials.has(name))
        throw new GearopsError(ErrorCode.Config, `this host has no credentials named '${name}' (--credentials-file)`);
      const login = opts.credentials.get(name);
      const probe = createReplicationProbe({ credentials: login, logger: opts.logger });
      try {
        const node = { address, port: a.port };
        const status = await probe.status(node);
        const facts = a.facts ? await createTopologyReader({ credentials: login }).facts(node) : undefined;
        return facts ? { status, facts } : { status };
      } finally {
        await probe.close();
      }
    },
  };
}
