/** The contract between transports (Slack, console) and command modules in commands/. */
import type { ChatMessage } from '../message.js';
import type { ChatSink, MessageRef, Reply } from './chat.js';
import type { JournalEntry } from './journals.js';

/** Who typed the command and where. */
export interface Principal {
  userId: string;
  userName?: string;
  channelId: string;
  groups?: string[];
  roles: string[];
}

/** One slash command as a transport received it. */
export interface CommandInvocation {
  /** Without the slash: 'run', 'replica', 'pool'. */
  command: string;
  /** Everything after the command, as typed. */
  text: string;
  principal: Principal;
  reply: Reply;
  source: 'slack' | 'console';
  /** Unique per request (Slack: trigger id); used in logs and audit. */
  requestId: string;
  signal?: AbortSignal;
}

/** ok: did what was asked; denied: policy said no; refused: bad input / usage / conflict; failed: tried and broke. */
export type CommandStatus = 'ok' | 'denied' | 'refused' | 'failed';

/** What a handler reports back to the router (for exit codes and the audit row). */
export interface CommandOutcome {
  status: CommandStatus;
  /** Short line for logs/audit. */
  summary?: string;
  rule?: string;
  host?: string;
  jobHandle?: string;
  exitCode?: number | null;
  durationMs?: number;
  outputBytes?: number;
  /** One per host job of a fan-out `/run`: the audit keeps a row for each, under the command's request id. */
  jobs?: CommandOutcome[];
  /** Left to another bot process (this one is stopping): that one writes the audit row when it finishes it. */
  handedOver?: boolean;
}

/** A slash command's handler. */
export type CommandHandler = (inv: CommandInvocation) => Promise<CommandOutcome>;

/** A button press on a message the bot posted. */
export interface ActionInvocation {
  actionId: string;
  value: string;
  principal: Principal;
  /** The message carrying the button. */
  message: MessageRef;
  /** Thread of the message (for incident threads: the parent ts). */
  threadTs?: string;
  reply: Reply;
  source: 'slack' | 'console';
  requestId: string;
}

/** Handles one family of buttons (matched by action id prefix, e.g. `incident.`). */
export type ActionHandler = (inv: ActionInvocation) => Promise<CommandOutcome>;

/** A command module: what commands/<name>.ts factories return. */
export interface CommandModule {
  name: string;
  description: string;
  /** One-line usage hint (also the manifest's usage_hint). */
  usage: string;
  handle: CommandHandler;
  /** Buttons this module answers, by action id prefix. */
  actions?: Record<string, ActionHandler>;
  /**
   * Finishes a command another bot process accepted and did not finish (it restarted, or stopped and handed
   * it over): follows its job to its end and gives its message the result, or the command's true fate.
   */
  recover?: (entry: JournalEntry, chat: ChatSink) => Promise<CommandOutcome>;
}

/** Re-exported for command modules. */
export type { ChatMessage };

/** What transports call: routes commands and buttons to modules, with policy, rate limits and audit around them. */
export interface CommandRouter {
  dispatch(inv: CommandInvocation): Promise<CommandOutcome>;
  dispatchAction(inv: ActionInvocation): Promise<CommandOutcome>;
  /** The registered commands (for help and the manifest). */
  commands(): CommandModule[];
}
