/**
 * `/replica install`: checks every host, version and port first and lists every problem before anything is
 * built, then runs the install sequence (src/cluster/install.ts) with a live progress message.
 */
import { ErrorCode, GearopsError, isGearopsError } from '../../src/errors.js';
import type { MessageRef } from '../../src/core/ports/chat.js';
import type { CommandInvocation, CommandOutcome } from '../../src/core/ports/commands.js';
import { preflight } from '../../src/cluster/preflight.js';
import {
  recordInstall,
  runInstall,
  type InstallPorts,
  type InstallRun,
  type InstallView,
} from '../../src/cluster/install.js';
import { authorizeOn, type ReplicaContext } from './context.js';
import { parseInstall, type InstallPlan } from './parse.js';
import { alreadyThere, progress } from './render.js';

/** Runs `/replica install <cluster> master=… slaves=…`. */
export async function install(ctx: ReplicaContext, inv: CommandInvocation, args: string[]): Promise<CommandOutcome> {
  const { deps } = ctx;
  const plan = parseInstall(args);
  const hosts = [plan.master, ...plan.replicas];
  authorizeOn(ctx, inv, 'replica.install', hosts);
  if (plan.pool) {
    if (!deps.pool) throw new GearopsError(ErrorCode.Usage, 'pool=yes needs the pool (the store is not configured).');
    authorizeOn(ctx, inv, 'pool.add', hosts);
  }
  const existing = await deps.clusters.get(plan.cluster);
  if (existing) throw alreadyThere(existing);

  const run = ctx.runner(inv);
  const pre = await preflight(
    deps.dispatcher,
    run,
    { cluster: plan.cluster, hosts, version: plan.version, port: plan.port },
    ctx.range,
  );
  const ports: InstallPorts = {
    clusters: deps.clusters,
    probe: deps.probe,
    run,
    credentials: deps.credentials,
    credentialsName: deps.credentialsName,
    pool: deps.pool,
    announce: (ch) => ctx.announcePool(ch),
    installTimeoutMs: ctx.installTimeoutMs,
    installingHere: ctx.installingHere,
    userId: inv.principal.userId,
  };
  let r: InstallRun;
  try {
    r = await recordInstall(ports, plan, pre);
  } catch (err) {
    if (!isGearopsError(err, ErrorCode.Conflict)) throw err;
    const now = await deps.clusters.get(plan.cluster);
    throw now ? alreadyThere(now) : err;
  }
  const result = await runInstall(ports, r, progressView(inv, plan, r));
  return result.ok
    ? { status: 'ok', summary: result.summary, host: plan.master, durationMs: result.durationMs }
    : { status: 'failed', summary: result.summary, host: plan.master };
}

/** The install's live message: posted once, then updated at most every 500 ms unless forced. */
function progressView(inv: CommandInvocation, plan: InstallPlan, r: InstallRun): InstallView {
  let ref: MessageRef | undefined;
  let lastPush = 0;
  return {
    async open(status) {
      ref = await inv.reply.post(progress(plan, r.nodes, status));
    },
    push(status, force = false) {
      if (!force && Date.now() - lastPush < 500) return;
      lastPush = Date.now();
      void inv.reply.update(ref!, progress(plan, r.nodes, status)).catch(() => undefined);
    },
    async close(status) {
      await inv.reply.update(ref!, progress(plan, r.nodes, status));
    },
  };
}
