/**
 * The .deb the way a user meets it, in a fresh Debian 12 and a fresh Debian
 * 13 root (scripts/debian-root.sh): `apt-get install ./qemu-sandboxed_*.deb`
 * resolves its dependencies (Node.js 20 comes from a stand-in for the
 * vendor repository Debian 12 users add, as Debian 12's nodejs is 18);
 * /usr/bin/qemu-sandboxed boots the test guest under libvirt's full
 * policy, and the kernel holds exactly our filter on QEMU; the postinst made
 * a qemu-system-<target>-sandboxed link per QEMU program; `man` finds both
 * pages; the dpkg trigger adds and drops links as a QEMU package comes and
 * goes; and `apt-get purge` leaves the root as it was: no file, no link, no
 * diversion.
 */
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import execa from 'execa';
import {
  GUEST_MARKER,
  LIBVIRT_SANDBOX,
  bootOnce,
  expectedFilterHashes,
  guest,
} from '../helpers/guest';
import { addLocalRepository, builtDeb, nodejsStandIn } from '../helpers/deb';
import {
  SUITE_VERSION,
  inRoot,
  makeRoot,
  rootPackages,
  runArgs,
  shInRoot,
  type Suite,
} from '../helpers/debian-root';
import type { BuiltPackage } from '../../scripts/package-deb';

jest.setTimeout(20 * 60_000);

let deb: BuiltPackage;
beforeAll(() => {
  deb = builtDeb();
});

/**
 * Paths that apt, dpkg and man-db keep changing as they work (man-db's
 * cache of formatted pages included: its own, pruned by its own cron job),
 * and mount points. /var/cache/qemu-sandboxed, the launcher's, is checked.
 */
const VOLATILE =
  /^(proc|sys|dev|tmp|run|var\/lib\/dpkg|var\/lib\/apt|var\/log|var\/lib\/man-db|etc\/ld\.so\.cache)(\/|$)|^var\/cache\/(?!qemu-sandboxed(\/|$))/;

/** Every path in the root (with link targets), less VOLATILE: what purge must restore. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const abs = join(dir, name);
      const rel = relative(root, abs);
      if (VOLATILE.test(rel)) continue;
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(abs)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/`);
        walk(abs);
      } else out.push(`${rel} ${st.size}`);
    }
  };
  walk(root);
  return out.sort();
}

/** A tiny QEMU target package: /usr/bin/qemu-system-qstest, an ELF program (a copy of true). */
function fakeQemuPackage(dir: string): string {
  const tree = join(dir, 'fake-qemu');
  mkdirSync(join(tree, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(tree, 'DEBIAN'));
  execa.sync('cp', ['/bin/true', join(tree, 'usr', 'bin', 'qemu-system-qstest')]);
  writeFileSync(
    join(tree, 'DEBIAN', 'control'),
    `Package: qemu-system-qstest
Version: 1.0
Architecture: all
Maintainer: qemu-sandboxed tests <tests@example.org>
Description: a stand-in QEMU target for the trigger test
 Ships /usr/bin/qemu-system-qstest.
`,
  );
  const out = join(dir, 'qemu-system-qstest_1.0_all.deb');
  execa.sync('dpkg-deb', ['--root-owner-group', '--build', tree, out]);
  chmodSync(out, 0o644);
  return out;
}

const sandboxedLinks = (root: string): string[] =>
  readdirSync(join(root, 'usr', 'bin'))
    .filter((n) => /^qemu-system-.+-sandboxed$/.test(n))
    .sort();

describe.each<Suite>(['bookworm', 'trixie'])('Debian %s', (suite) => {
  const root = join(tmpdir(), `qs-deb-install-${suite}-${process.pid}`);
  let before: string[] = [];
  let diversionsBefore = '';
  let qemuBefore = '';

  beforeAll(async () => {
    await makeRoot(suite, root, rootPackages(suite));
    if (suite === 'bookworm') await addLocalRepository(root, [nodejsStandIn()]);
    before = snapshot(root);
    diversionsBefore = await shInRoot(root, 'dpkg-divert --list | sort');
    qemuBefore = await shInRoot(root, 'sha256sum /usr/bin/qemu-system-x86_64');
  }, 25 * 60_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test(`Debian ${SUITE_VERSION[suite]}: apt-get install ./qemu-sandboxed_*.deb pulls in Node.js 20 and configures the links`, async () => {
    const out = await shInRoot(
      root,
      `apt-get install -y -q ${deb.file} && dpkg-query -W -f '\${Version}\\n' nodejs qemu-sandboxed`,
      { env: { DEBIAN_FRONTEND: 'noninteractive' } },
    );
    const [node, ours] = out.trim().split('\n').slice(-2);
    expect(Number(node.split('.')[0])).toBeGreaterThanOrEqual(20);
    expect(ours).toBe(deb.version);
    // One link per QEMU program in /usr/bin, the launcher's absolute path.
    const programs = (
      await shInRoot(root, '/usr/lib/qemu-sandboxed/launcher/host status --porcelain')
    )
      .split('\n')
      .filter((l) => /^(program|alias) /.test(l))
      .map((l) => `qemu-system-${l.split(' ')[1]}-sandboxed`)
      .sort();
    expect(programs).toContain('qemu-system-x86_64-sandboxed');
    expect(sandboxedLinks(root)).toEqual(programs);
    for (const l of programs) {
      expect(readlinkSync(join(root, 'usr', 'bin', l))).toBe(
        '/usr/lib/qemu-sandboxed/launcher/qemu-sandboxed',
      );
    }
  });

  test(`Debian ${SUITE_VERSION[suite]}: /usr/bin/qemu-sandboxed boots the guest under libvirt's full policy, with exactly our filter`, async () => {
    // The guest under /tmp, which the root shares: the same paths inside and out.
    const image = await guest();
    const dir = mkdtempSync(join(tmpdir(), 'qs-deb-guest-'));
    let record;
    try {
      copyFileSync(image.kernel, join(dir, 'vmlinuz'));
      copyFileSync(image.initrd, join(dir, 'initrd.gz'));
      record = await bootOnce({
        via: 'launcher',
        sandbox: LIBVIRT_SANDBOX,
        guest: { ...image, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz') },
        command: [
          'sh',
          ...runArgs(root, ['/usr/bin/qemu-sandboxed'], {
            env: { QEMU_SANDBOXED_LOG_LEVEL: 'info' },
          }),
        ],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(record.vm.lines.some((l) => l.startsWith(GUEST_MARKER))).toBe(true);
    // The same process became the root's QEMU, under our program byte for byte.
    // The root is the / of the process's own mount namespace (debian-root.sh
    // run pivots into it): the kernel names its binary from there.
    expect(record.exe).toBe('/usr/bin/qemu-system-x86_64');
    expect(record.filterHashes).toEqual(expectedFilterHashes(LIBVIRT_SANDBOX));
    expect(record.noNewPrivs).toBe('1');
    const launch = JSON.parse(
      record.vm.stderr.split('\n').find((l) => l.includes('"msg":"launch"')) ?? '{}',
    ) as Record<string, unknown>;
    expect(launch).toMatchObject({
      binary: '/usr/bin/qemu-system-x86_64',
      filterSource: 'precompiled',
      execGate: true,
    });
    expect(record.exitCode).toBe(0);
  });

  test(`Debian ${SUITE_VERSION[suite]}: man qemu-sandboxed and man 8 qemu-sandbox`, async () => {
    const out = await shInRoot(
      root,
      'man qemu-sandboxed | head -n 8; man 8 qemu-sandbox | head -n 8; qemu-sandbox --help | head -n 1',
      { env: { MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' } },
    );
    expect(out).toMatch(/QEMU-SANDBOXED\(1\)/);
    expect(out).toMatch(/run QEMU under a seccomp\s+filter/);
    expect(out).toMatch(/QEMU-SANDBOX\(8\)/);
    expect(out).toMatch(/^qemu-sandbox <command> \[options\]$/m);
  });

  test(`Debian ${SUITE_VERSION[suite]}: the trigger links a QEMU package installed later, and unlinks it when removed`, async () => {
    const dir = join(root, 'srv', 'qstest');
    mkdirSync(dir, { recursive: true });
    fakeQemuPackage(dir);
    await shInRoot(root, 'dpkg -i /srv/qstest/qemu-system-qstest_1.0_all.deb');
    expect(readlinkSync(join(root, 'usr', 'bin', 'qemu-system-qstest-sandboxed'))).toBe(
      '/usr/lib/qemu-sandboxed/launcher/qemu-sandboxed',
    );
    await shInRoot(root, 'dpkg --purge qemu-system-qstest');
    expect(sandboxedLinks(root)).not.toContain('qemu-system-qstest-sandboxed');
    rmSync(dir, { recursive: true, force: true });
  });

  test(`Debian ${SUITE_VERSION[suite]}: apt-get purge leaves nothing behind`, async () => {
    await shInRoot(root, 'apt-get purge -y -q --autoremove qemu-sandboxed', {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
    expect(await shInRoot(root, 'dpkg-divert --list | sort')).toBe(diversionsBefore);
    expect(await shInRoot(root, 'sha256sum /usr/bin/qemu-system-x86_64')).toBe(qemuBefore);
    const status = await inRoot(root, [
      'dpkg-query',
      '-W',
      '-f',
      '${db:Status-Status}',
      'qemu-sandboxed',
    ]);
    expect(status.stdout).not.toBe('installed');
    // Files, directories, links: exactly as before the install (the
    // auto-installed Node.js went with --autoremove).
    expect(snapshot(root)).toEqual(before);
  });
});
