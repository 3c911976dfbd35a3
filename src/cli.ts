/** The `gearops` command line: worker, console, bot, policy, demo, bench. */
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`gearops: not implemented yet: ${argv.join(' ')}\n`);
  return 2;
}
