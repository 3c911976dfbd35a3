/**
 * `mysql.status@host`: the worker reads a MySQL server on its own host and answers the replication status (and,
 * for discovery, the topology facts) that the bot would read directly, with credentials this host keeps itself
 * (its own --credentials-file). The bot then needs neither a network path to the server nor its password.
 * It runs only the fixed read statements of the status probe and of discovery: nothing from chat reaches the
 * server. Safe to run twice (it only reads).
 */
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { CredentialsDirectory } from '../../credentials-file.js';
import { createReplicationProbe } from '../../mysql/replication.js';
import { createTopologyReader } from '../../mysql/topology-reader.js';
import { defineCapability, type Capability } from '../capability.js';
import { parseArgs, type MysqlStatusArgs, type MysqlStatusValue } from '../../core/capabilities.js';

export type { MysqlStatusArgs, MysqlStatusValue };

/** Checks the signed args against the contract's schema before anything is read; throws a usage error naming what is wrong. */
export function parseMysqlStatusArgs(raw: unknown): MysqlStatusArgs {
  return parseArgs('mysql.status', raw);
}

/** Creates the capability over this host's credentials; servers are read on `address` (loopback by default). */
export function createMysqlStatusCapability(opts: {
  credentials: CredentialsDirectory;
  logger: Logger;
  address?: string;
  defaultCredentials?: string;
}): Capability<MysqlStatusArgs, MysqlStatusValue> {
  const address = opts.address ?? '127.0.0.1';
  return defineCapability('mysql.status', async (ctx) => {
    const a = ctx.args;
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
  });
}
