/**
 * The policy side of preflight: which setting breaks a need. One mapping for
 * every option, so that the table (preflight-table.ts) holds QEMU facts only.
 */
import type { GroupName, SandboxPolicy } from '../policy/types';
import type { NeedKind } from './preflight-need';

export interface Collision {
  /** The filter group that breaks the need, or no-new-privs (a process flag, not a group). */
  readonly group: GroupName | 'no-new-privs';
  /** The setting at fault, as findings name it: "spawn=deny", "elevateprivileges=children". */
  readonly setting: string;
  /**
   * The -sandbox key of the setting, where it has one: the site minimum can
   * have raised it (see `raisedByMinimum` in preflight.ts).
   */
  readonly key?: 'spawn' | 'elevateprivileges' | 'network';
  /** The policy's own way out, for the fix: "use spawn=allow". */
  readonly relax: string;
}

const SPAWN: Collision = {
  group: 'spawn',
  setting: 'spawn=deny',
  key: 'spawn',
  relax: 'use spawn=allow',
};
const NETWORK: Collision = {
  group: 'network',
  setting: 'network=deny',
  key: 'network',
  relax: 'use network=allow',
};
const NO_NEW_PRIVS: Collision = {
  group: 'no-new-privs',
  setting: 'no-new-privileges',
  relax: 'run with CAP_SYS_ADMIN and elevateprivileges=allow (no-new-privileges is then not set)',
};

/**
 * The setting of `policy` that breaks a need of this kind, or undefined when
 * the policy lets it through. `noNewPrivs`: whether the launcher will set
 * no-new-privileges (setuid helpers then gain nothing).
 */
export function collision(
  kind: NeedKind,
  policy: SandboxPolicy,
  noNewPrivs: boolean,
): Collision | undefined {
  switch (kind) {
    // spawn=deny refuses clone without CLONE_THREAD, and execve once ours went through.
    case 'fork':
    case 'exec':
    case 'exec-again':
      return policy.spawn === 'deny' ? SPAWN : undefined;
    // deny and children both refuse setsid and the set*id family.
    case 'setsid':
    case 'switch-user':
      return policy.elevatePrivileges === 'allow'
        ? undefined
        : {
            group: 'elevateprivileges',
            setting: `elevateprivileges=${policy.elevatePrivileges}`,
            key: 'elevateprivileges',
            relax: 'use elevateprivileges=allow',
          };
    case 'setuid-helper':
      return noNewPrivs ? NO_NEW_PRIVS : undefined;
    // network=deny refuses TUNSETIFF and sockets other than AF_UNIX/AF_NETLINK.
    case 'create-tap':
    case 'ip-socket':
      return policy.network === 'deny' ? NETWORK : undefined;
  }
}

/**
 * On libvirt's capability probe, where the setting comes from (for the
 * message and the fix), or undefined when the probe makes no difference.
 * The probe gets no -sandbox, so the site default (or the site minimum, when
 * that raised the key) applies to it; libvirt's own -sandbox carries
 * spawn=deny and elevateprivileges=deny to every domain anyway, so for those
 * two, taking the setting out of the site policy is the fix that works.
 */
export function libvirtProbeSource(
  c: Collision,
  raisedByMinimum: ReadonlySet<string> | undefined,
): { readonly inMinimum: boolean } | undefined {
  if (c.key !== 'spawn' && c.key !== 'elevateprivileges') return undefined;
  return { inMinimum: raisedByMinimum?.has(c.key) === true };
}
