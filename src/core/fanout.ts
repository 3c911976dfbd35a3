/** Running one task per host with a cap on how many are in flight at once (GEAROPS_FANOUT). */

/** Runs `task` for every item, at most `limit` at once, and resolves with the results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  // `limit` lanes each take the next item when theirs is done: a slow host holds up its own lane only.
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}
