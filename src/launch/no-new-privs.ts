/**
 * Whether QEMU will run with no-new-privileges, decided in one place so that
 * the launcher's prctl, the preflight check (setuid helpers such as
 * qemu-bridge-helper fail under it) and the launch record agree.
 *
 * The launcher sets it when the kernel requires it for a filter (no
 * CAP_SYS_ADMIN) and for elevateprivileges=deny|children; as root with
 * elevateprivileges=allow it does not, so setuid helpers still work. A caller
 * may have set it already (systemd NoNewPrivileges=yes, a container runtime):
 * it survives execve and cannot be cleared, so it is in effect either way.
 */
import { CAP_SYS_ADMIN, hasCapability } from '../native';
import type { SandboxPolicy } from '../policy/types';

export interface NoNewPrivsPlan {
  /** The launcher calls prctl(PR_SET_NO_NEW_PRIVS) before loading the filter. */
  readonly set: boolean;
  /** QEMU runs with it: set by us, or inherited from the caller. */
  readonly inEffect: boolean;
}

/** `status` is the text of /proc/self/status (CapEff and NoNewPrivs are read from it). */
export function planNoNewPrivs(
  policy: Pick<SandboxPolicy, 'enable' | 'elevatePrivileges'>,
  status: string,
): NoNewPrivsPlan {
  const set =
    policy.enable &&
    (policy.elevatePrivileges !== 'allow' || !hasCapability(CAP_SYS_ADMIN, status));
  const inherited = /^NoNewPrivs:\s*1$/m.test(status);
  return { set, inEffect: set || inherited };
}
