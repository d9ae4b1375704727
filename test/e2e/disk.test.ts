/**
 * A qcow2 disk under libvirt's full -sandbox string, through the launcher:
 * the guest writes and reads it back (so QEMU's aio engine really runs), and
 * HMP savevm / info snapshots work through QMP. Both aio=threads and, when the
 * kernel allows it, aio=io_uring (our default policy must leave io_uring open).
 */
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import {
  BOOT_TIMEOUT_MS,
  LIBVIRT_SANDBOX,
  Vm,
  expectedFilterHashes,
  guest,
  killAllVms,
  requireLauncher,
} from '../helpers/guest';

jest.setTimeout(BOOT_TIMEOUT_MS + 90_000);

let dir: string;
beforeAll(async () => {
  requireLauncher();
  await guest();
  dir = mkdtempSync(join(tmpdir(), 'qs-e2e-disk-'));
}, 20 * 60_000);
afterAll(() => {
  killAllVms();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function createQcow2(name: string): string {
  const img = join(dir, name);
  execa.sync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
  return img;
}

type UringProbe =
  | { readonly usable: true }
  | { readonly usable: false; readonly reason: string; readonly kernelDisabled: boolean };

/**
 * Can this host's QEMU open a file with aio=io_uring? Asked of qemu-img with
 * no filter at all, so a "no" is about the kernel or the build, never us.
 * kernelDisabled is true only when the kernel is shown to refuse io_uring:
 * the io_uring_disabled sysctl, or io_uring_setup answering ENOSYS.
 */
function probeIoUring(img: string): UringProbe {
  const r = execa.sync(
    'qemu-img',
    [
      'info',
      '--image-opts',
      `driver=qcow2,file.driver=file,file.filename=${img},file.aio=io_uring`,
    ],
    { reject: false },
  );
  if (r.exitCode === 0) return { usable: true };
  let sysctl = '';
  try {
    sysctl = readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
  } catch {
    // kernels before 6.6 have no such sysctl
  }
  const enosys = /Function not implemented/.test(r.stderr);
  const kernelDisabled = sysctl === '2' || enosys;
  return {
    usable: false,
    reason: `qemu-img cannot use aio=io_uring (io_uring_disabled=${sysctl || 'n/a'}): ${r.stderr.trim()}`,
    kernelDisabled,
  };
}

/** How many io_uring instances the process holds (its anon_inode:[io_uring] descriptors). */
function ioUringFds(pid: number): number {
  const fds = readdirSync(`/proc/${pid}/fd`);
  return fds.filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[io_uring]';
    } catch {
      return false; // closed meanwhile
    }
  }).length;
}

describe('qcow2 disk, savevm, under the full string', () => {
  it.each([['threads'], ['io_uring']])('aio=%s', async (aio) => {
    const img = createQcow2(`disk-${aio}.qcow2`);
    if (aio === 'io_uring') {
      const probe = probeIoUring(img);
      if (!probe.usable) {
        // Only a kernel that provably refuses io_uring excuses the case.
        if (!probe.kernelDisabled) throw new Error(probe.reason);
        expect(probe.kernelDisabled).toBe(true);
        process.stdout.write(`e2e aio=io_uring not run: ${probe.reason}\n`);
        return;
      }
    }
    const vm = await Vm.start({
      via: 'launcher',
      sandbox: LIBVIRT_SANDBOX,
      guest: await guest(),
      mode: 'stay',
      checks: ['disk'],
      qmpFd: 3,
      extraArgs: ['-drive', `file=${img},if=virtio,format=qcow2,aio=${aio}`],
    });
    try {
      const line = await vm.waitLine(/^QS-CHECK disk /, BOOT_TIMEOUT_MS);
      expect({ line, why: vm.context() }).toEqual({
        line: expect.stringMatching(/^QS-CHECK disk ok /),
        why: vm.context(),
      });
      expect(vm.loadedFilters().map((f) => f.hash)).toEqual(expectedFilterHashes(LIBVIRT_SANDBOX));
      // The engine really in use: QEMU holds an io_uring instance only with aio=io_uring.
      expect(ioUringFds(vm.pid) > 0).toBe(aio === 'io_uring');
      const qmp = await vm.qmp();
      expect(await qmp.hmp('savevm qs-snap', { timeoutMs: 120_000 })).toBe('');
      expect(await qmp.hmp('info snapshots')).toMatch(/qs-snap/);
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
      await vm.ping();
      await qmp.execute('quit');
      expect(await vm.waitExit(60_000)).toEqual({ code: 0, signal: null });
    } finally {
      vm.kill();
    }
    // The snapshot is really in the image.
    const list = execa.sync('qemu-img', ['snapshot', '-l', img]).stdout;
    expect(list).toMatch(/qs-snap/);
  });
});
