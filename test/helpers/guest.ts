/**
 * e2e helpers around the test guest: build it (cached), boot it through the
 * launcher or QEMU itself, and record what a case asserts on. The guest and
 * VM code lives in scripts/lib (the demo uses it too).
 */
import { existsSync, realpathSync } from 'node:fs';
import { detectHostAbi } from '../../src/arch';
import { compilePolicy } from '../../src/compiler';
import { parsePolicy } from '../../src/policy';
import type { GuestImage } from '../../scripts/lib/guest';
import { ensureGuest } from '../../scripts/lib/guest';
import { Vm, launcherPath, qemuBinary, type VmSpec } from '../../scripts/lib/vm';

export type { GuestImage } from '../../scripts/lib/guest';
export { ensureGuest, repoRoot } from '../../scripts/lib/guest';
export {
  GUEST_MARKER,
  LIBVIRT_SANDBOX,
  Vm,
  guestArgs,
  killAllVms,
  launcherPath,
  qemuBinary,
} from '../../scripts/lib/vm';
export type { VmExit, VmSpec } from '../../scripts/lib/vm';
export { readLoadedFilters } from '../../scripts/lib/loaded-filter';

/** Generous: 2 cores are shared, and TCG boots take 5-10 s when they are idle. */
export const BOOT_TIMEOUT_MS = 150_000;

let guestPromise: Promise<GuestImage> | undefined;

/** The guest, built once per worker (the build itself is cached on disk and locked). */
export function guest(): Promise<GuestImage> {
  guestPromise ??= ensureGuest();
  return guestPromise;
}

/**
 * Fails with the reason when the launcher cannot be used: an e2e test that
 * cannot run must fail, never pass silently.
 */
export function requireLauncher(): string {
  const p = launcherPath();
  if (!existsSync(p)) {
    throw new Error(`${p} does not exist yet: the e2e suite boots QEMU through it`);
  }
  return p;
}

/** What one boot showed while QEMU ran and after it ended. */
export interface BootRecord {
  readonly vm: Vm;
  /** /proc/<pid>/status while the guest ran. */
  readonly seccomp: string | undefined;
  readonly seccompFilters: string | undefined;
  /** sha256 of each filter the kernel holds for QEMU, newest first (PTRACE_SECCOMP_GET_FILTER). */
  readonly filterHashes: readonly string[];
  readonly noNewPrivs: string | undefined;
  /** /proc/<pid>/exe while it ran (the real QEMU binary after the exec). */
  readonly exe: string;
  /** /proc/<pid>/cmdline while it ran. */
  readonly cmdline: readonly string[];
  readonly exitCode: number | null;
  readonly exitSignal: string | null;
  readonly ms: number;
}

/**
 * Boots the guest in stay mode, samples /proc/<pid> once the guest runs (so
 * the sample cannot race QEMU's exit), then tells the guest to power itself
 * off and waits for QEMU to end.
 */
export async function bootOnce(
  spec: Omit<VmSpec, 'guest' | 'mode'> & { readonly guest?: GuestImage },
): Promise<BootRecord> {
  const vm = await Vm.start({ ...spec, guest: spec.guest ?? (await guest()), mode: 'stay' });
  try {
    await vm.waitLine(/^QS-READY$/, BOOT_TIMEOUT_MS);
    const status = vm.procStatus();
    const exe = vm.exe();
    const cmdline = vm.cmdline();
    const filterHashes = vm.loadedFilters().map((f) => f.hash);
    vm.send('qs-stop');
    const exit = await vm.waitExit(60_000);
    return {
      vm,
      seccomp: status.get('Seccomp'),
      seccompFilters: status.get('Seccomp_filters'),
      filterHashes,
      noNewPrivs: status.get('NoNewPrivs'),
      exe,
      cmdline,
      exitCode: exit.code,
      exitSignal: exit.signal,
      ms: Date.now() - vm.startedAt,
    };
  } finally {
    vm.kill();
  }
}

/**
 * The hashes of the filters the launcher must leave on QEMU for `sandbox`
 * (undefined: no -sandbox argument, the built-in default "on"), compiled here
 * independently of the launcher: none for "off", else exactly ours. Compared
 * with what the kernel holds, this catches a launcher that ran QEMU under no
 * filter, an allow-all filter, another policy, or QEMU's own -sandbox.
 */
export function expectedFilterHashes(sandbox: string | undefined): string[] {
  const policy = parsePolicy(sandbox ?? 'on');
  return policy.enable ? [compilePolicy(policy, detectHostAbi()).hash] : [];
}

/** QEMU's binary as /proc/<pid>/exe shows it (symlinks resolved). */
export function realQemu(): string {
  return realpathSync(qemuBinary());
}

/** The lines a boot's outcome is compared on: the marker, checks and power-off. */
export function outcome(record: BootRecord): string[] {
  return record.vm.outcomeLines();
}
