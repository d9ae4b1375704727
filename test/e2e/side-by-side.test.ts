/**
 * The same -sandbox strings, once through launcher/qemu-sandboxed and once
 * with QEMU's own -sandbox (Debian's QEMU has it): the guest's outcome must be
 * the same. The guest does not fork, so QEMU's spawn=deny before 9.0 (which
 * kills the whole VM on a fork, where we answer EPERM) cannot make them differ
 * here; the fork itself is the last test, with its outcome per QEMU version.
 */
import {
  BOOT_TIMEOUT_MS,
  LIBVIRT_SANDBOX,
  Vm,
  bootOnce,
  expectedFilterHashes,
  guest,
  killAllVms,
  outcome,
  requireLauncher,
} from '../helpers/guest';
import { FORK_REFUSED_BY_SPAWN_DENY, migrate } from '../helpers/qmp';

jest.setTimeout(2 * BOOT_TIMEOUT_MS + 60_000);

beforeAll(async () => {
  requireLauncher();
  await guest();
}, 20 * 60_000);
afterAll(() => killAllVms());

const strings = ['off', 'on', LIBVIRT_SANDBOX] as const;

describe('launcher vs QEMU -sandbox, same string', () => {
  it.each(strings.map((s) => [s]))('-sandbox %s', async (sandbox) => {
    const checks = ['cpu', 'nonet'];
    const ours = await bootOnce({ via: 'launcher', sandbox, checks });
    const qemus = await bootOnce({ via: 'qemu', sandbox, checks });
    const why = `\n--- launcher:${ours.vm.context()}\n--- qemu:${qemus.vm.context()}`;
    expect({ outcome: outcome(ours), why }).toEqual({ outcome: outcome(qemus), why });
    expect(ours.vm.describeExit()).toBe(qemus.vm.describeExit());
    expect(ours.vm.describeExit()).toBe('exit 0');
    expect(outcome(ours)).toContain('QS-CHECKS-DONE failed=0');
    // Both are filtered the same way as far as the kernel's mode goes...
    expect(ours.seccomp).toBe(sandbox === 'off' ? '0' : '2');
    expect(qemus.seccomp).toBe(sandbox === 'off' ? '0' : '2');
    // ...but by different programs: ours under the launcher, QEMU's own under
    // QEMU (which also shows the filter comparison tells them apart).
    const ourHashes = expectedFilterHashes(sandbox);
    expect(ours.filterHashes).toEqual(ourHashes);
    if (sandbox === 'off') expect(qemus.filterHashes).toEqual([]);
    else {
      expect(qemus.filterHashes.length).toBeGreaterThanOrEqual(1);
      expect(qemus.filterHashes).not.toContain(ourHashes[0]);
    }
    process.stdout.write(
      `e2e side-by-side [-sandbox ${sandbox}] launcher ${ours.ms} ms, qemu ${qemus.ms} ms\n`,
    );
  });
});

/** What a fork under spawn=deny (a `migrate` to exec:) leaves of the VM. */
interface ForkOutcome {
  /** The migration: its final status with "fork refused (EPERM)", or "connection lost" (QEMU died). */
  readonly migration: string;
  /** "running, guest answers", or how QEMU ended. */
  readonly vm: string;
}

/** The outcome our filter gives, on every QEMU version: the fork fails, the VM lives. */
const REFUSED_VM_RUNS = {
  // QEMU refuses the command or fails the migration, by its version: either way, EPERM.
  migration: expect.stringMatching(/^(refused|failed): fork refused \(EPERM\)$/),
  vm: 'running, guest answers',
};
/** QEMU's own spawn=deny before 9.0: its filter kills QEMU on the fork. */
const VM_KILLED: ForkOutcome = { migration: 'connection lost', vm: 'killed by SIGSYS' };

async function forkUnderSpawnDeny(via: 'launcher' | 'qemu'): Promise<{
  readonly qemuMajor: number;
  readonly outcome: ForkOutcome;
}> {
  const vm = await Vm.start({
    via,
    sandbox: LIBVIRT_SANDBOX,
    guest: await guest(),
    mode: 'stay',
    qmpFd: 3,
  });
  try {
    await vm.waitLine(/^QS-READY$/, BOOT_TIMEOUT_MS);
    const qmp = await vm.qmp();
    const qemuMajor = qmp.greeting.version.qemu.major;
    let migration: string;
    try {
      const m = await migrate(qmp, 'exec:cat > /dev/null', 60_000);
      migration = FORK_REFUSED_BY_SPAWN_DENY.test(m.reason)
        ? `${m.status}: fork refused (EPERM)`
        : `${m.status}: ${m.reason}`;
    } catch (err) {
      // Only QEMU's death explains a lost connection; anything else is the error itself.
      if (!(await vm.waitExit(30_000).catch(() => undefined))) throw err;
      migration = 'connection lost';
    }
    let state = vm.describeExit();
    if (!vm.exit) {
      const status = await qmp.execute<{ status?: string }>('query-status');
      await vm.ping(); // the guest's vCPU still runs and answers
      state = status.status === 'running' ? 'running, guest answers' : `status ${status.status}`;
    }
    process.stdout.write(
      `e2e side-by-side: QEMU ${qemuMajor}.x, spawn=deny via ${via}: fork -> ${migration}; VM ${state}\n`,
    );
    return { qemuMajor, outcome: { migration, vm: state } };
  } finally {
    vm.kill();
  }
}

/**
 * A fork under spawn=deny, the one place the two may differ, keyed by the
 * QEMU version the test finds. Ours answers EPERM: the migration fails and
 * the VM keeps running (qmp.test.ts shows the same through libvirt's fd
 * passing). QEMU's own spawn=deny killed the whole VM before 9.0 (Debian 12's
 * 7.2); since 9.0 it answers EPERM too (Debian 13's 10.0), and then the guest's
 * outcome under both is the same, status and words included.
 */
describe('a fork under spawn=deny (migrate to exec:), per QEMU version', () => {
  it('ours refuses it and the VM runs on; QEMU <9 dies of its own, QEMU >=9 does as ours', async () => {
    const ours = await forkUnderSpawnDeny('launcher');
    const qemus = await forkUnderSpawnDeny('qemu');
    expect(qemus.qemuMajor).toBe(ours.qemuMajor);
    expect(ours.outcome).toEqual(REFUSED_VM_RUNS);
    if (qemus.qemuMajor < 9) {
      expect(qemus.outcome).toEqual(VM_KILLED);
    } else {
      expect(qemus.outcome).toEqual(ours.outcome);
    }
  });
});
