/**
 * `doctor`: what the running kernel offers a seccomp deny-list launcher.
 * Everything is read from /proc (no syscalls through FFI), so it also works
 * where the launcher would fail; the root is injectable for tests.
 */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

export interface HostSupport {
  readonly kernel: string;
  /** CONFIG_SECCOMP: /proc/self/status has a `Seccomp:` line. */
  readonly seccomp: boolean;
  /** CONFIG_SECCOMP_FILTER: /proc/sys/kernel/seccomp/actions_avail exists (Linux >= 4.14). */
  readonly seccompFilter: boolean;
  /** Actions the kernel offers, as actions_avail names them. */
  readonly actionsAvail: readonly string[];
  readonly actionsLogged: readonly string[];
  readonly killProcess: boolean;
  readonly userNotif: boolean;
  readonly log: boolean;
  /** The constant-action bitmap cache (kernel/seccomp.c seccomp_cache_prepare), Linux >= 5.11. */
  readonly actionCache: boolean;
  /** PR_SET_NO_NEW_PRIVS (Linux >= 3.5); `NoNewPrivs:` in status shows it on >= 4.10. */
  readonly noNewPrivs: boolean;
  /** no-new-privs is already set on this process (inherited). */
  readonly noNewPrivsSet: boolean;
  /** This process's seccomp mode: 0 none, 1 strict, 2 filter (already filtered). */
  readonly currentSeccompMode?: number;
  /** CAP_SYS_ADMIN in the effective set: without it the kernel requires no-new-privs. */
  readonly capSysAdmin: boolean;
}

const CAP_SYS_ADMIN = 21n;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** "6.18.44-fc" -> [6, 18]; unknown -> [0, 0]. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function atLeast(release: string, major: number, minor: number): boolean {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
}

export function statusField(status: string, key: string): string | undefined {
  const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status);
  return m ? m[1].trim() : undefined;
}

export function probeHost(root = '/', release = os.release()): HostSupport {
  const status = read(join(root, 'proc/self/status')) ?? '';
  const avail = read(join(root, 'proc/sys/kernel/seccomp/actions_avail'));
  const logged = read(join(root, 'proc/sys/kernel/seccomp/actions_logged'));
  const actionsAvail = avail ? avail.trim().split(/\s+/) : [];
  const seccompMode = statusField(status, 'Seccomp');
  const nnp = statusField(status, 'NoNewPrivs');
  const capEff = statusField(status, 'CapEff');
  return {
    kernel: release,
    seccomp: seccompMode !== undefined,
    seccompFilter: avail !== undefined,
    actionsAvail,
    actionsLogged: logged ? logged.trim().split(/\s+/) : [],
    killProcess: actionsAvail.includes('kill_process'),
    userNotif: actionsAvail.includes('user_notif'),
    log: actionsAvail.includes('log'),
    actionCache: atLeast(release, 5, 11),
    noNewPrivs: nnp !== undefined || atLeast(release, 3, 5),
    noNewPrivsSet: nnp === '1',
    currentSeccompMode: seccompMode === undefined ? undefined : Number(seccompMode),
    capSysAdmin: capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_SYS_ADMIN) & 1n) === 1n,
  };
}
