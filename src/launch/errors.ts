/**
 * Exit codes of qemu-sandboxed when QEMU does not start (once QEMU runs, its
 * own exit status is the process's). Also listed in .cache/launcher-status.txt.
 */
export const EXIT = {
  /**
   * Bad input, like QEMU's own exit 1: -sandbox syntax, config file, preflight
   * refusal, a QEMU_SANDBOXED_LOG that cannot be opened (the trampoline also
   * exits 1 when there is no Node.js 20+ to run the launcher).
   */
  usage: 1,
  /** The kernel lacks what the policy needs (seccomp filters, an action such as KILL_PROCESS or USER_NOTIF). */
  unavailable: 69,
  /** Loading the filter or arming the exec gate failed: nothing was started. */
  software: 70,
  /** The QEMU binary exists but cannot be executed (as a shell reports it). */
  cannotExecute: 126,
  /** The QEMU binary was not found (as a shell reports it). */
  notFound: 127,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure before exec: one line for stderr (what, and how to fix it) and an exit code. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}
