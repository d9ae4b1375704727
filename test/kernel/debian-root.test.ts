/**
 * scripts/debian-root.sh without building a Debian root (the suites in the
 * Debian 13 root, scripts/debian-suites.ts, build and enter a real one):
 * its refusals, and its runner entering a tiny root made of the host's static
 * busybox, for real (mounts in a private namespace, chroot, binds, the clean
 * environment, the exit status, nothing left mounted afterwards).
 */
import {
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { tempDir } from '../helpers/tmp';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'debian-root.sh');
const BUSYBOX = '/bin/busybox';
const MARKER = '.qemu-sandboxed-root';

jest.setTimeout(60_000);

beforeAll(() => {
  if (process.geteuid?.() !== 0) throw new Error('debian-root.sh mounts and chroots: run as root');
});

function script(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return execa('sh', [SCRIPT, ...args], { reject: false, env: { ...process.env, ...env } });
}

/** A root the runner accepts: the static busybox as every program it and the test call. */
function busyboxRoot(): string {
  const dir = join(tempDir('qs-debian-root-'), 'root');
  for (const d of ['bin', 'usr/bin', 'proc', 'sys', 'dev', 'tmp', 'run', 'etc']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  // What the runner runs inside: sh, mkdir, dirname, realpath (binds),
  // rmdir (after the switch), env; and what the test's commands use.
  for (const applet of ['sh', 'mkdir', 'dirname', 'realpath', 'rmdir', 'cat', 'grep', 'kill']) {
    symlinkSync('busybox', join(dir, 'bin', applet));
  }
  symlinkSync('/bin/busybox', join(dir, 'usr', 'bin', 'env'));
  // An absolute link, as Debian's /var/run: binds must resolve it inside the root.
  mkdirSync(join(dir, 'var'));
  symlinkSync('/run', join(dir, 'var', 'run'));
  writeFileSync(join(dir, MARKER), 'suite=test\n');
  writeFileSync(join(dir, 'etc', 'qs-marker'), 'in the root\n');
  return dir;
}

describe('refusals (exit 2: usage, nothing built or touched)', () => {
  test.each([
    [[], /usage:/],
    [['../x', '/var/tmp/qs-x'], /bad suite name/],
    [['trixie', '/'], /refusing DIR=\//],
    [['trixie', '/var/tmp/qs-never-made', 'ok-name', 'bad;name'], /bad package name: bad;name/],
  ])('%j', async (args, message) => {
    const r = await script(args);
    expect([r.exitCode, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(message);
  });

  test('a DIR it did not make is never replaced', async () => {
    const dir = tempDir('qs-debian-root-');
    writeFileSync(join(dir, 'keep'), 'mine');
    const r = await script(['trixie', dir]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/exists and is not a root made by debian-root.sh/);
    expect(readdirSync(dir)).toEqual(['keep']);
  });

  test('a bad maximum age is refused before anything is built', async () => {
    const cache = tempDir('qs-debian-root-cache-');
    const r = await script(['trixie', join(cache, 'out'), 'busybox-static'], {
      QEMU_SANDBOXED_ROOTS: cache,
      QEMU_SANDBOXED_ROOT_MAX_AGE_DAYS: 'soon',
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/QEMU_SANDBOXED_ROOT_MAX_AGE_DAYS=soon: expected a number of days/);
    expect(readdirSync(cache).filter((f) => !f.endsWith('.lock'))).toEqual([]);
  });
});

describe('run', () => {
  test('refuses a directory that is not one of its roots (exit 125)', async () => {
    const r = await script(['run', tempDir('qs-debian-root-'), '--', 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/is not a root made by debian-root.sh/);
  });

  test('refuses a bind of a missing host path (exit 125)', async () => {
    const r = await script(['run', busyboxRoot(), '--bind', '/nonexistent/qs', '--', 'true']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/\/nonexistent\/qs does not exist/);
  });

  test('enters the root as its /: mounts, binds, clean environment, nested namespaces', async () => {
    const dir = busyboxRoot();
    const shared = tempDir('qs-debian-root-share-');
    writeFileSync(join(shared, 'hello'), 'from the host\n');
    const mountPoints = (test: string) =>
      `busybox awk '${test} { n++ } END { print n + 0 }' /proc/self/mountinfo`;
    const r = await script(
      [
        'run',
        dir,
        '--bind',
        `${shared}:/srv/share`,
        '--ro-bind',
        `${join(shared, 'hello')}:/var/run/hello`,
        '--setenv',
        'QS_TEST=1',
        '--chdir',
        '/srv/share',
        '--',
        'sh',
        '-c',
        [
          'pwd',
          'cat hello',
          'cat /run/hello',
          'echo written >/srv/share/back',
          'env | grep -E "^(QS_TEST|HOME|SECRET)=" | LC_ALL=C sort',
          // / is a mount point (bwrap, unshare --mount-proc need that)...
          mountPoints('$5 == "/"'),
          // ...with /proc, /sys, /dev, /tmp, /run (and the binds) on it, and
          // nothing of the host's root left.
          'for m in /proc /sys /dev /tmp /run; do busybox awk -v m=$m \'$5 == m { f = 1 } END { exit !f }\' /proc/self/mountinfo && echo "mounted $m"; done',
          mountPoints('$5 !~ "^/(proc|sys|dev|tmp|run|srv/share|etc/resolv.conf)?(/|$)"'),
          '[ -e /.qemu-sandboxed-old-root ] || echo "no old root"',
          // A mount namespace made inside and entered again (as libvirt does
          // for a domain's /dev) has this root as its /, and /proc names its
          // files from there: this is no chroot.
          'busybox unshare -m busybox sleep 30 & p=$!',
          'while [ "$(busybox readlink /proc/$p/ns/mnt)" = "$(busybox readlink /proc/self/ns/mnt)" ]; do busybox sleep 0.1; done',
          'busybox nsenter -t $p -m cat /etc/qs-marker',
          'busybox readlink /proc/$p/exe',
          'kill $p',
          '{ echo overwrite >/run/hello; } 2>/dev/null || echo read-only',
          'exit 7',
        ].join('; '),
      ],
      { SECRET: 'not passed in' },
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(7);
    expect(r.stdout.split('\n')).toEqual([
      '/srv/share',
      'from the host',
      'from the host',
      `HOME=/root`,
      'QS_TEST=1',
      '1',
      'mounted /proc',
      'mounted /sys',
      'mounted /dev',
      'mounted /tmp',
      'mounted /run',
      '0',
      'no old root',
      'in the root',
      '/bin/busybox',
      'read-only',
    ]);
    // The bind worked both ways, the read-only one was not written, and
    // nothing the runner mounted outlived it.
    expect(readFileSync(join(shared, 'back'), 'utf8')).toBe('written\n');
    expect(readFileSync(join(shared, 'hello'), 'utf8')).toBe('from the host\n');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
  });
});
