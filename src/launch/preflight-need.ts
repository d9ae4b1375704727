/**
 * The vocabulary of preflight's QEMU knowledge: what an option makes QEMU do
 * at run time that a -sandbox policy can break. Only QEMU facts live in a
 * need; which setting breaks it is preflight-collision.ts, the wording of
 * the finding preflight-message.ts.
 */

/**
 * What QEMU does at run time:
 *  - fork: clones a process of its own (no exec);
 *  - exec: forks and executes a program (a helper, a script, a daemon);
 *  - exec-again: the binary we exec execs again (a #! script);
 *  - setsid: leaves its session;
 *  - switch-user: setgroups/setgid/setuid to another user;
 *  - setuid-helper: runs a setuid-root helper that must gain privileges;
 *  - create-tap: creates a tap interface (TUNSETIFF on /dev/net/tun);
 *  - ip-socket: opens IP sockets.
 */
export type NeedKind =
  | 'fork'
  | 'exec'
  | 'exec-again'
  | 'setsid'
  | 'switch-user'
  | 'setuid-helper'
  | 'create-tap'
  | 'ip-socket';

export interface Need<K extends NeedKind = NeedKind> {
  readonly kind: K;
  /** What QEMU does, the start of the finding's message: "-daemonize forks QEMU into the background". */
  readonly does: string;
  /** What the setting makes fail, where "that" reads wrong ("the fork", "them"). */
  readonly fails?: string;
  /** How to do without the need on the command line; the policy's own way out follows it. */
  readonly fix: string;
  /** Put the policy's way out first, where it is the simpler fix. */
  readonly policyFixFirst?: true;
}

/** One option of the command line: its name without dashes, its value ('' when none). */
export interface OptionUse {
  readonly name: string;
  readonly value: string;
}

/** What a detector may ask of the machine (injected, so the table stays pure). */
export interface HostFacts {
  readonly fileExists: (path: string) => boolean;
}

/** One row of the table: the needs an option can have, and the function that finds them in a value. */
export interface NeedsEntry<K extends NeedKind = NeedKind> {
  /** Every kind `detect` can return: the table test triggers each of them. */
  readonly needs: readonly K[];
  readonly detect: (use: OptionUse, host: HostFacts) => Need<K>[];
}

/** A table row whose detector can only return the kinds it declares (checked by the compiler). */
export function entry<const K extends NeedKind>(
  needs: readonly K[],
  detect: (use: OptionUse, host: HostFacts) => Need<NoInfer<K>>[],
): NeedsEntry<K> {
  return { needs, detect };
}
