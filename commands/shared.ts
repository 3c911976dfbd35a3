/** Small helpers shared by the command modules. */
import type { Principal } from '../src/core/ports/commands.js';
import type { Requester } from '../src/core/payload.js';

/** The policy's view of the person who typed a command (authorization itself is `authorize`, src/core). */
export { policyPrincipal } from '../src/core/authorize.js';

/** The requester signed into every job (the worker re-checks the policy with it, resolving roles itself). */
export function requesterOf(p: Principal): Requester {
  return { userId: p.userId, channelId: p.channelId, groups: p.groups ?? [], roles: p.roles };
}

/** A mention of a user that the chat renderer makes live (text from servers or users never does). */
export { mention } from '../src/core/message.js';

/** Formats a duration for people: 850 ms, 12.3 s, 4 min 5 s. */
export { formatDuration } from '../src/core/message.js';

/** Splits command text into words on whitespace (argument syntax is each command's own). */
export function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}
