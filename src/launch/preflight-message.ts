/**
 * The words of a finding: what QEMU does (the need's phrase), what the
 * setting does to it, and the fix: the command line's way (the need's) and
 * the policy's way (the collision's). libvirt's capability probe gets its
 * own note and fix.
 */
import type { Collision } from './preflight-collision';
import type { Need } from './preflight-need';

/** How the offending setting reads after the need's phrase. */
function consequence(need: Need, c: Collision): string {
  switch (need.kind) {
    case 'exec-again':
      return `, which ${c.setting} refuses (ENOSYS) once our own exec went through`;
    case 'setsid':
    case 'switch-user':
      // Named by group: deny and children read the same.
      return `, which ${c.group} denies`;
    case 'setuid-helper':
      return `, which ${c.setting} disarms`;
    case 'create-tap':
      return `; ${c.setting} refuses that`;
    default:
      return `; ${c.setting} makes ${need.fails ?? 'that'} fail`;
  }
}

/** What a refusal adds for libvirt's probe: why it happens. */
const libvirtProbeNote = (inMinimum: boolean): string =>
  "; this is libvirt's capability probe (-machine none -daemonize), which gets no -sandbox, so the site " +
  (inMinimum ? 'minimum applies' : 'default applies');

/** The fix that works for libvirt's probe (preflight=warn would not). */
const libvirtProbeFix = (setting: string, inMinimum: boolean): string =>
  `take ${setting} out of the ${inMinimum ? 'site minimum ("minimum"' : 'site default ("sandbox"'} in the config file): libvirt passes its own -sandbox ` +
  '(with spawn=deny and elevateprivileges=deny) to every domain unless qemu.conf sets seccomp_sandbox = 0; ' +
  'preflight=warn would only move the failure to run time';

/** One line each: what breaks and how to fix it. */
export function findingWords(
  need: Need,
  c: Collision,
  /** Set on libvirt's capability probe: where the setting came from (preflight-collision.ts). */
  probe?: { readonly inMinimum: boolean },
): { readonly message: string; readonly fix: string } {
  const message = need.does + consequence(need, c);
  if (probe) {
    return {
      message: message + libvirtProbeNote(probe.inMinimum),
      fix: libvirtProbeFix(c.setting, probe.inMinimum),
    };
  }
  const fix = need.policyFixFirst ? `${c.relax}, or ${need.fix}` : `${need.fix}, or ${c.relax}`;
  return { message, fix };
}
