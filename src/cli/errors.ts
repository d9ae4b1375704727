/**
 * Exit codes scripts can rely on (documented in the README): 0 ok, 1 policy or input error,
 * 2 usage error. 70 (EX_SOFTWARE) marks a bug in this program, so a crash is
 * never mistaken for "your policy is wrong".
 */
export const EXIT_OK = 0;
export const EXIT_INPUT = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 70;

/** Bad policy, ABI, syscall, group, file...: one line, exit 1. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Wrong command-line shape that yargs cannot see (e.g. raw binary to a TTY): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * TypeError and ReferenceError come from the engine on a bug; every other
 * Error (ours, the policy/arch/compiler modules' on bad input, SyntaxError
 * from a malformed JSON config, RangeError from a bad number) is an input
 * error.
 */
export function isInternalError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof ReferenceError || !(err instanceof Error);
}

/** First line of an error message: the CLI promises one clear line. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}
