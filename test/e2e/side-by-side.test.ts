/**
 * The same -sandbox strings, once through launcher/qemu-sandboxed and once
 * with QEMU's own -sandbox (Debian's QEMU has it): the guest's outcome must be
 * the same. The guest does not fork, so Debian QEMU 7.2's spawn=deny (which
 * kills the whole VM on a fork, where we answer EPERM) cannot make them differ.
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
import { QmpError } from '../helpers/qmp';

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

/**
 * Where they differ on purpose: a fork under spawn=deny. QEMU before 9.0
 * (Debian's is 7.2) kills the whole VM; we answer EPERM (qmp.test.ts shows the
 * VM surviving). QEMU 9.0+ answers EPERM too, and then both match again.
 */
describe('documented difference: migrate exec: under spawn=deny', () => {
  it("QEMU's own -sandbox", async () => {
    const vm = await Vm.start({
      via: 'qemu',
      sandbox: LIBVIRT_SANDBOX,
      guest: await guest(),
      mode: 'stay',
      qmpFd: 3,
    });
    try {
      await vm.waitLine(/^QS-READY$/, BOOT_TIMEOUT_MS);
      const qmp = await vm.qmp();
      const major = qmp.greeting.version.qemu.major;
      const reply = await qmp.execute('migrate', { uri: 'exec:cat > /dev/null' }).then(
        () => 'accepted',
        (err: unknown) =>
          err instanceof QmpError && err.errorClass !== undefined ? 'error' : 'connection lost',
      );
      const exit = reply === 'connection lost' ? await vm.waitExit(30_000) : vm.exit;
      if (major < 9) {
        expect({ reply, exit }).toEqual({
          reply: 'connection lost',
          exit: { code: null, signal: 'SIGSYS' },
        });
      } else {
        expect(reply).toBe('error');
        expect(vm.exit).toBeUndefined();
      }
      process.stdout.write(
        `e2e side-by-side: QEMU ${major}.x own spawn=deny on fork -> ${vm.describeExit()}\n`,
      );
    } finally {
      vm.kill();
    }
  });
});
