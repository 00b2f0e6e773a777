/** A command line that cannot run: printed with the command's usage, exit 2. */
export class UsageError extends Error {}
