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
    (noNewPrivsRule(policy.elevatePrivileges).when === 'always' ||
      !hasCapability(CAP_SYS_ADMIN, status));
  const inherited = /^NoNewPrivs:\s*1$/m.test(status);
  return { set, inEffect: set || inherited };
}

/** When the launcher sets it, as a rule (explain prints it; planNoNewPrivs applies it). */
export function noNewPrivsRule(elevatePrivileges: SandboxPolicy['elevatePrivileges']): {
  readonly when: 'always' | 'without-cap-sys-admin';
  readonly why: string;
} {
  return elevatePrivileges === 'allow'
    ? {
        when: 'without-cap-sys-admin',
        why: 'only when the launcher lacks CAP_SYS_ADMIN (the kernel requires it then); as root, setuid helpers keep working',
      }
    : {
        when: 'always',
        why: `elevateprivileges=${elevatePrivileges}: set before the filter, so exec cannot gain privileges`,
      };
}
