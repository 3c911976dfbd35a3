/**
 * `mysql.repair@host` and `mysql.sql@host`: what the alert buttons and /replica sql do to a server of this host
 * when the bot cannot reach its port (a watched node read `via` this worker). The worker logs in on loopback with
 * credentials it keeps itself (--credentials-file), as mysql.status does.
 *
 * - `mysql.repair` runs fixed statements only: `restart` is START SLAVE (START REPLICA on MySQL ≥ 8.0.22), `skip`
 *   sets the skip counter to 1 and starts the SQL thread, and only while that thread is stopped. Each needs, in this
 *   worker's own policy, the button's action for the signed requester (replica.restart, replica.skip).
 * - `mysql.sql` runs /replica sql's statement under the same rules as the bot does directly: this worker's own
 *   policy must allow replica.sql and the statement (its SQL guard and `sql:` rules, for the signed requester;
 *   a denial names the rule), and it runs as the named account inside START TRANSACTION READ ONLY, ended by the
 *   server (max_statement_time) and by KILL QUERY at its time-out.
 *
 * gearmand may hand a job out again; the daemon runs a job id once and answers a re-send with the first run's
 * result, and a skip also refuses to run while the SQL thread runs, so no second event is ever skipped by one press.
 */
import { ErrorCode, GearopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Policy } from '../../core/ports/policy.js';
import {
  MAX_SQL_ROWS,
  REPAIR_ACTIONS,
  parseRepairArgs,
  type MysqlRepairArgs,
  type MysqlSqlArgs,
  type MysqlSqlValue,
} from '../../core/mysql-jobs.js';
import type { CredentialsDirectory, MysqlCredentials } from '../../credentials-file.js';
import { createReplicationProbe } from '../../mysql/replication.js';
import { defineCapability, requireAction, workerPrincipal, type Capability } from '../capability.js';

/** What the capabilities acting on this host's servers need (mysql.repair, mysql.sql, mysql.control). */
export interface LocalOpts {
  host: string;
  policy: Policy;
  credentials: CredentialsDirectory;
  logger: Logger;
  /** Where this host's servers are read (loopback by default). */
  address?: string;
  defaultCredentials?: string;
}

/** The named entry of this host's credentials file; refuses a name it lacks. */
export function login(o: LocalOpts, name: string | undefined): { name: string; account: MysqlCredentials } {
  const entry = name ?? o.defaultCredentials ?? 'sandbox';
  if (!o.credentials.has(entry))
    throw new GearopsError(ErrorCode.Config, `this host has no credentials named '${entry}' (--credentials-file)`);
  return { name: entry, account: o.credentials.get(entry) };
}

/** `mysql.repair`: restart replication or skip one event, behind the button's policy action on this worker. */
export function createMysqlRepairCapability(o: LocalOpts): Capability<MysqlRepairArgs, { done: string }> {
  // Its args are parsed (parseRepairArgs, through the contract) before the handler runs.
  const cap = defineCapability('mysql.repair', async (ctx) => {
    const a = ctx.args;
    const { account } = login(o, a.credentials);
    const probe = createReplicationProbe({ credentials: account, logger: o.logger });
    const node = { address: o.address ?? '127.0.0.1', port: a.port };
    try {
      if (a.op === 'restart') await probe.startReplication(node);
      else await probe.skipOneEvent(node);
    } finally {
      await probe.close();
    }
    return { done: a.op };
  });
  // The op is checked before the action is looked up: an unknown op is a usage error, never "allowed".
  return requireAction(cap, o, (args) => [REPAIR_ACTIONS[parseRepairArgs(args).op]]);
}

/** `mysql.sql`: /replica sql's statement, re-checked against this worker's own SQL policy, read-only. */
export function createMysqlSqlCapability(o: LocalOpts): Capability<MysqlSqlArgs, MysqlSqlValue> {
  // Its args are parsed (parseSqlArgs, through the contract) before the handler runs.
  const cap = defineCapability('mysql.sql', async (ctx) => {
    const a = ctx.args;
    const d = o.policy.checkSql({ statement: a.sql, principal: workerPrincipal(o.policy, ctx.job.requester) });
    if (!d.allow)
      throw new GearopsError(ErrorCode.PolicyDenied, `worker ${o.host} policy: ${d.reason}`, {
        data: { host: o.host, ...(d.rule ? { rule: d.rule } : {}) },
      });
    const { name, account } = login(o, a.credentials);
    // The named entry is the only account: as for a watched server read directly, nothing is granted here.
    const probe = createReplicationProbe({ credentials: account, named: () => account, logger: o.logger });
    try {
      const r = await probe.exec({ address: o.address ?? '127.0.0.1', port: a.port, credentials: name }, a.sql, {
        readOnly: true,
        maxStatementTimeS: a.maxStatementTimeS,
        timeoutMs: a.timeoutMs,
      });
      return { columns: r.columns, rows: r.rows.slice(0, MAX_SQL_ROWS), totalRows: r.rows.length };
    } finally {
      await probe.close();
    }
  });
  return requireAction(cap, o, () => ['replica.sql']);
}
