/** Polls `what` until it holds; throws after `ms` (the condition, never a duration, is what tests assert). */
export async function until(what: () => boolean | Promise<boolean>, ms = 15_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for: ${what.toString().slice(0, 160)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
