/**
 * Host-wide mode from the installed package, in a fresh Debian root (never
 * this machine's own /usr/bin): `qemu-sandbox host enable` diverts every
 * qemu-system-* program with dpkg-divert and puts the launcher in its place;
 * a real libvirtd (the root's own) started with the plain
 * /usr/bin/qemu-system-x86_64 as <emulator> then runs QEMU under our filter,
 * read back from the kernel, with libvirt's -sandbox string; a QEMU package
 * reinstalled (an upgrade's unpack), installed or removed later is taken
 * care of by the dpkg trigger; `disable` puts /usr/bin back exactly; and a
 * purge with the mode on restores QEMU and leaves no diversion.
 */
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import {
  GUEST_MARKER,
  LIBVIRT_SANDBOX,
  expectedFilterHashes,
  guest,
  readLoadedFilters,
} from '../helpers/guest';
import { addLocalRepository, builtDeb, nodejsStandIn } from '../helpers/deb';
import {
  SUITE_VERSION,
  makeRoot,
  rootPackages,
  shInRoot,
  type Suite,
} from '../helpers/debian-root';
import { Libvirtd } from '../helpers/libvirtd';
import { pidAlive } from '../../scripts/lib/pid';
import type { HostStatus } from '../../src/cli/commands/host-mode';

jest.setTimeout(20 * 60_000);

const LAUNCHER = '/usr/lib/qemu-sandboxed/launcher/qemu-sandboxed';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** /usr/bin's qemu-system-* entries: name, link target or sha256. */
function qemuEntries(root: string): string[] {
  const bin = join(root, 'usr', 'bin');
  return readdirSync(bin)
    .filter((n) => n.startsWith('qemu-system-'))
    .sort()
    .map((n) => {
      const p = join(bin, n);
      if (lstatSync(p).isSymbolicLink()) return `${n} -> ${readlinkSync(p)}`;
      const sum = execa.sync('sha256sum', [p]).stdout.split(' ')[0];
      return `${n} ${sum}`;
    });
}

async function status(root: string): Promise<HostStatus> {
  return JSON.parse(await shInRoot(root, 'qemu-sandbox host status --json')) as HostStatus;
}

function fakeQemuDeb(dir: string): string {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(tree, 'DEBIAN'));
  copyFileSync('/bin/true', join(tree, 'usr', 'bin', 'qemu-system-qstest'));
  writeFileSync(
    join(tree, 'DEBIAN', 'control'),
    'Package: qemu-system-qstest\nVersion: 1.0\nArchitecture: all\n' +
      'Maintainer: qemu-sandboxed tests <tests@example.org>\n' +
      'Description: a stand-in QEMU target for the trigger test\n Ships /usr/bin/qemu-system-qstest.\n',
  );
  const out = join(dir, 'qemu-system-qstest_1.0_all.deb');
  execa.sync('dpkg-deb', ['--root-owner-group', '--build', tree, out]);
  return out;
}

describe.each<Suite>(['bookworm', 'trixie'])('Debian %s', (suite) => {
  const root = join(tmpdir(), `qs-host-mode-${suite}-${process.pid}`);
  let pristine: string[] = [];
  let diversions = '';
  const env = { DEBIAN_FRONTEND: 'noninteractive' };

  beforeAll(async () => {
    const deb = builtDeb();
    await makeRoot(suite, root, rootPackages(suite));
    if (suite === 'bookworm') await addLocalRepository(root, [nodejsStandIn()]);
    await shInRoot(root, `apt-get install -y -q ${deb.file}`, { env });
    pristine = qemuEntries(root);
    diversions = await shInRoot(root, 'dpkg-divert --list | sort');
  }, 25 * 60_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test(`Debian ${SUITE_VERSION[suite]}: host enable diverts every QEMU program; /usr/bin/qemu-system-x86_64 runs the launcher`, async () => {
    await shInRoot(root, 'qemu-sandbox host enable');
    const s = await status(root);
    expect(s.enabled).toBe(true);
    expect(s.problems).toEqual([]);
    const x86 = s.targets.find((t) => t.target === 'x86_64');
    expect(x86).toMatchObject({
      path: '/usr/bin/qemu-system-x86_64',
      state: 'diverted',
      divertedTo: '/usr/bin/qemu-system-x86_64.distrib',
    });
    // Programs diverted; Debian 12's qemu-system-i386 wrapper is left alone,
    // Debian 13's qemu-system-amd64 alias follows qemu-system-x86_64.
    for (const t of s.targets) {
      expect(['diverted', 'script', 'alias']).toContain(t.state);
    }
    expect(readlinkSync(join(root, 'usr/bin/qemu-system-x86_64'))).toBe(LAUNCHER);
    expect(await shInRoot(root, 'dpkg-divert --truename /usr/bin/qemu-system-x86_64')).toBe(
      '/usr/bin/qemu-system-x86_64.distrib',
    );
    // QEMU is the same file under its diverted name.
    const before = pristine.find((e) => e.startsWith('qemu-system-x86_64 '))?.split(' ')[1];
    expect(qemuEntries(root)).toContain(`qemu-system-x86_64.distrib ${before}`);
    const v = await shInRoot(root, 'qemu-system-x86_64 -version 2>&1');
    expect(v).toMatch(/QEMU emulator version \d/);
    const launch = JSON.parse(v.split('\n')[0]) as Record<string, unknown>;
    expect(launch).toMatchObject({
      msg: 'launch',
      binary: '/usr/bin/qemu-system-x86_64.distrib',
      divertedFrom: '/usr/bin/qemu-system-x86_64',
    });
  });

  test(`Debian ${SUITE_VERSION[suite]}: libvirtd with the plain /usr/bin/qemu-system-x86_64 as <emulator> runs QEMU under our filter`, async () => {
    const image = await guest();
    const daemon = await Libvirtd.start({ root });
    try {
      // Under /tmp, which the root shares: the same paths inside and out.
      const kernel = join(daemon.dir, 'vmlinuz');
      const initrd = join(daemon.dir, 'initrd.gz');
      copyFileSync(image.kernel, kernel);
      copyFileSync(image.initrd, initrd);
      const consoleLog = join(daemon.dir, 'serial.log');
      const xml = join(daemon.dir, 'domain.xml');
      writeFileSync(
        xml,
        `<domain type='qemu'>
  <name>qs-host-mode</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${kernel}</kernel>
    <initrd>${initrd}</initrd>
    <cmdline>console=ttyS0 quiet loglevel=0 panic=-1 qs.mode=stay</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='${consoleLog}' append='off'/><target port='0'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`,
      );
      await daemon.virshOk('define', xml);
      await daemon.virshOk('start', 'qs-host-mode');
      const pid = daemon.recordedPid('qs-host-mode');
      expect(pid).toBeDefined();
      const deadline = Date.now() + 180_000;
      while (!readFileSync(consoleLog, 'utf8').includes('QS-READY')) {
        if (Date.now() > deadline) {
          throw new Error(
            `no QS-READY on the console:\n${readFileSync(consoleLog, 'utf8')}\n${readFileSync(daemon.domainLog('qs-host-mode'), 'utf8')}`,
          );
        }
        await sleep(500);
      }
      expect(readFileSync(consoleLog, 'utf8')).toContain(GUEST_MARKER);
      // libvirt ran /usr/bin/qemu-system-x86_64; the process is QEMU from its
      // diverted name (named from the root, its mount namespace's /).
      expect(readlinkSync(`/proc/${pid}/exe`)).toBe('/usr/bin/qemu-system-x86_64.distrib');
      const log = readFileSync(daemon.domainLog('qs-host-mode'), 'utf8');
      expect(log).toContain('/usr/bin/qemu-system-x86_64 \\');
      expect(log).toContain(`-sandbox ${LIBVIRT_SANDBOX}`);
      const record = log
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes('"msg":"launch"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .pop();
      expect(record).toMatchObject({
        pid,
        divertedFrom: '/usr/bin/qemu-system-x86_64',
        binary: '/usr/bin/qemu-system-x86_64.distrib',
      });
      expect(String(record?.policy)).toMatch(/spawn=deny/);
      // Our filter, byte for byte, as the kernel holds it (plus QEMU's own on
      // top only when the launcher delegated resourcecontrol to it).
      const hashes = readLoadedFilters(pid ?? 0).map((f) => f.hash);
      if (record?.qemuSandbox) {
        const ours = expectedFilterHashes(
          LIBVIRT_SANDBOX.replace('resourcecontrol=deny', 'resourcecontrol=allow'),
        );
        expect(hashes[0]).toBe(ours[0]);
      } else {
        expect(hashes).toEqual(expectedFilterHashes(LIBVIRT_SANDBOX));
      }
      await daemon.virshOk('destroy', 'qs-host-mode');
      expect(pidAlive(pid ?? 0) && existsSync(`/proc/${pid}/exe`)).toBe(false);
    } finally {
      await daemon.stop();
    }
  });

  test(`Debian ${SUITE_VERSION[suite]}: a QEMU upgrade (reinstall) lands at the diverted name; the launcher stays in front and libvirt's cache key changes`, async () => {
    const launcher = join(root, LAUNCHER);
    const ctime = statSync(launcher).ctimeMs;
    const inode = statSync(join(root, 'usr/bin/qemu-system-x86_64.distrib')).ino;
    await shInRoot(root, 'apt-get install -y -q --reinstall qemu-system-x86', { env });
    expect(readlinkSync(join(root, 'usr/bin/qemu-system-x86_64'))).toBe(LAUNCHER);
    expect(statSync(join(root, 'usr/bin/qemu-system-x86_64.distrib')).ino).not.toBe(inode);
    expect((await status(root)).problems).toEqual([]);
    // libvirt keys its capability cache on the emulator's ctime (followed
    // through our link): the trigger touched the launcher's inode.
    expect(statSync(launcher).ctimeMs).toBeGreaterThan(ctime);
    expect(await shInRoot(root, 'qemu-system-x86_64 -version 2>/dev/null')).toMatch(
      /^QEMU emulator version \d/,
    );
  });

  test(`Debian ${SUITE_VERSION[suite]}: the trigger diverts a QEMU target installed later and drops it when removed`, async () => {
    const dir = join(root, 'srv', 'qstest');
    mkdirSync(dir, { recursive: true });
    fakeQemuDeb(dir);
    await shInRoot(root, 'dpkg -i /srv/qstest/qemu-system-qstest_1.0_all.deb');
    expect((await status(root)).targets.find((t) => t.target === 'qstest')).toMatchObject({
      state: 'diverted',
      divertedTo: '/usr/bin/qemu-system-qstest.distrib',
    });
    // The stand-in "QEMU" (true) now runs under the launcher.
    const r = await shInRoot(
      root,
      'QEMU_SANDBOXED_LOG_LEVEL=info qemu-system-qstest 2>&1; echo rc=$?',
    );
    expect(r).toMatch(/"divertedFrom":"\/usr\/bin\/qemu-system-qstest"/);
    expect(r).toMatch(/rc=0$/m);
    await shInRoot(root, 'dpkg --purge qemu-system-qstest');
    const after = await status(root);
    expect(after.targets.find((t) => t.target === 'qstest')).toBeUndefined();
    expect(after.problems).toEqual([]);
    expect(existsSync(join(root, 'usr/bin/qemu-system-qstest'))).toBe(false);
    expect(await shInRoot(root, 'dpkg-divert --list "*qstest*"')).toBe('');
    rmSync(dir, { recursive: true, force: true });
  });

  test(`Debian ${SUITE_VERSION[suite]}: host disable puts /usr/bin back exactly`, async () => {
    await shInRoot(root, 'qemu-sandbox host disable');
    expect((await status(root)).enabled).toBe(false);
    expect(qemuEntries(root)).toEqual(pristine);
    expect(await shInRoot(root, 'dpkg-divert --list | sort')).toBe(diversions);
  });

  test(`Debian ${SUITE_VERSION[suite]}: purging the package with host-wide mode on restores QEMU and leaves no diversion`, async () => {
    await shInRoot(root, 'qemu-sandbox host enable');
    await shInRoot(root, 'apt-get purge -y -q qemu-sandboxed', { env });
    expect(qemuEntries(root).filter((e) => !/-sandboxed /.test(e))).toEqual(
      pristine.filter((e) => !/-sandboxed /.test(e)),
    );
    expect(qemuEntries(root).filter((e) => e.includes('-sandboxed'))).toEqual([]);
    expect(await shInRoot(root, 'dpkg-divert --list | sort')).toBe(diversions);
    for (const p of ['var/lib/qemu-sandboxed', 'usr/lib/qemu-sandboxed', 'etc/qemu-sandboxed']) {
      expect(existsSync(join(root, p))).toBe(false);
    }
  });
});
