/**
 * files=deny with real QEMU, under libvirt's full string plus files=deny:
 * the guest boots from a kernel and initrd, its disk is a qcow2 overlay on a
 * backing file given as -blockdev nodes (libvirt's way), QMP listens on a unix
 * socket and QEMU writes a pidfile. The guest writes its disk; savevm writes
 * a snapshot into the overlay. From QMP, a disk QEMU was not given cannot be
 * opened, one under an extra path can, and the backing file stays read-only.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import {
  BOOT_TIMEOUT_MS,
  LIBVIRT_SANDBOX,
  Vm,
  guest,
  killAllVms,
  requireLauncher,
} from '../helpers/guest';
import { QmpClient, QmpError, type JsonObject } from '../../scripts/lib/qmp';

jest.setTimeout(BOOT_TIMEOUT_MS + 120_000);

const POLICY = `${LIBVIRT_SANDBOX},files=deny`;

let dir: string;
beforeAll(async () => {
  requireLauncher();
  await guest();
  dir = mkdtempSync(join(tmpdir(), 'qs-e2e-files-'));
}, 20 * 60_000);
afterAll(() => {
  killAllVms();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function qemuImg(...args: string[]): void {
  execa.sync('qemu-img', args);
}

/** The error QMP answers a command with, or 'ok'. */
async function qmpError(qmp: QmpClient, command: string, args: JsonObject): Promise<string> {
  try {
    await qmp.execute(command, args);
    return 'ok';
  } catch (e) {
    if (e instanceof QmpError) return e.message;
    throw e;
  }
}

test('a guest boots from kernel + initrd and a qcow2 chain given as -blockdev nodes; savevm works', async () => {
  const base = join(dir, 'base.qcow2');
  const overlay = join(dir, 'overlay.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', base, '64M');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay);
  const qmpPath = join(dir, 'qmp.sock');
  const pidfile = join(dir, 'qemu.pid');
  const notGiven = join(dir, 'not-given.raw');
  const extraDir = join(dir, 'hotplug');
  qemuImg('create', '-q', '-f', 'raw', notGiven, '1M');
  execa.sync('mkdir', ['-p', extraDir]);
  qemuImg('create', '-q', '-f', 'raw', join(extraDir, 'extra.raw'), '1M');
  writeFileSync(join(dir, 'config.json'), '{}\n');

  const vm = await Vm.start({
    via: 'launcher',
    sandbox: POLICY,
    guest: await guest(),
    mode: 'stay',
    checks: ['disk'],
    env: {
      ...process.env,
      QEMU_SANDBOXED_CONFIG: join(dir, 'config.json'),
      QEMU_SANDBOXED_FILES: `rw:${extraDir}`,
    },
    extraArgs: [
      '-blockdev',
      JSON.stringify({
        driver: 'file',
        filename: base,
        'node-name': 'libvirt-2-storage',
        'auto-read-only': true,
        discard: 'unmap',
      }),
      '-blockdev',
      JSON.stringify({
        'node-name': 'libvirt-2-format',
        'read-only': true,
        driver: 'qcow2',
        file: 'libvirt-2-storage',
        backing: null,
      }),
      '-blockdev',
      JSON.stringify({
        driver: 'file',
        filename: overlay,
        'node-name': 'libvirt-1-storage',
        'auto-read-only': true,
        discard: 'unmap',
      }),
      '-blockdev',
      JSON.stringify({
        'node-name': 'libvirt-1-format',
        'read-only': false,
        driver: 'qcow2',
        file: 'libvirt-1-storage',
        backing: 'libvirt-2-format',
      }),
      '-device',
      'virtio-blk-pci,drive=libvirt-1-format,id=disk0',
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      '-pidfile',
      pidfile,
    ],
  });
  try {
    const line = await vm.waitLine(/^QS-CHECK disk /, BOOT_TIMEOUT_MS);
    expect({ line, why: vm.context() }).toEqual({
      line: expect.stringMatching(/^QS-CHECK disk ok /),
      why: vm.context(),
    });
    process.stdout.write(`e2e files=deny: booted in ${Date.now() - vm.startedAt} ms\n`);
    expect(vm.stderr).toMatch(
      /"landlock":"scoped signals and abstract sockets; files: \d+ path rules/,
    );
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(vm.pid));
    expect(vm.procStatus().get('Seccomp')).toBe('2');

    const qmp = await QmpClient.connect(qmpPath, { timeoutMs: 60_000 });
    try {
      expect(await qmp.hmp('savevm qs-snap', { timeoutMs: 120_000 })).toBe('');
      expect(await qmp.hmp('info snapshots')).toMatch(/qs-snap/);

      // A disk the command line did not give: QEMU itself cannot open it.
      expect(
        await qmpError(qmp, 'blockdev-add', {
          driver: 'file',
          filename: notGiven,
          'node-name': 'intruder',
          'read-only': true,
        }),
      ).toMatch(/Permission denied/);
      // The backing file stays read-only: reopening it read-write fails.
      expect(
        await qmpError(qmp, 'blockdev-add', {
          driver: 'file',
          filename: base,
          'node-name': 'base-rw',
          'read-only': false,
        }),
      ).toMatch(/Permission denied/);
      // One under the extra path (a hot-plug), read-write.
      expect(
        await qmpError(qmp, 'blockdev-add', {
          driver: 'file',
          filename: join(extraDir, 'extra.raw'),
          'node-name': 'hotplug',
          'read-only': false,
        }),
      ).toBe('ok');

      expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
      await vm.ping();
      await qmp.execute('quit');
    } finally {
      qmp.close();
    }
    expect(await vm.waitExit(60_000)).toEqual({ code: 0, signal: null });
  } finally {
    vm.kill();
  }
  // The snapshot is really in the overlay, and the backing file is untouched.
  expect(execa.sync('qemu-img', ['snapshot', '-l', overlay]).stdout).toMatch(/qs-snap/);
  expect(execa.sync('qemu-img', ['snapshot', '-l', base]).stdout).not.toMatch(/qs-snap/);
});
