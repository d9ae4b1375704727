/**
 * The Dockerfile, built and run for real with podman (Debian's), without an
 * image registry: the base image it names (node:20-bookworm-slim) is made
 * here from a fresh Debian 12 root (scripts/debian-root.sh) with this
 * machine's Node.js 20 in /usr/local, as the official image has it, and
 * tagged with that name; the build runs the Dockerfile's own steps (apt-get
 * from Debian's mirrors, npm ci from the npm registry); the image then runs
 * the test guest under libvirt's full policy as its non-root user, QEMU
 * exec'd in place by the launcher (the container's pid 1).
 *
 * Two things of this kind of machine are worked around, both outside the
 * image: crun refuses a hybrid cgroup hierarchy whose cgroup2 part has
 * controllers ("cgroups in hybrid mode not supported"), so podman runs in a
 * private mount namespace without that cgroup2 mount; and podman lowers its
 * own RLIMIT_NPROC to 32768 at start while asking crun for more (no
 * CAP_SYS_RESOURCE here to raise it), so the limits are given explicitly.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import execa from 'execa';
import { GUEST_MARKER, LIBVIRT_SANDBOX, guest, repoRoot } from '../helpers/guest';
import { makeRoot, requireRoots } from '../helpers/debian-root';

jest.setTimeout(40 * 60_000);

const IMAGE = 'localhost/qemu-sandboxed:package-test';
const BASE_LABEL = 'qemu-sandboxed.test-base';

/** The base image the Dockerfile names (ARG NODE_IMAGE's default), fully qualified. */
function baseImageName(): string {
  const m = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(join(repoRoot(), 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('Dockerfile: no ARG NODE_IMAGE=... default');
  return m[1].includes('/') ? m[1] : `docker.io/library/${m[1]}`;
}

/** Hard limit of this process for a /proc/self/limits row. */
function hardLimit(row: string): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(row));
  const hard = line?.slice(row.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? 1 << 20 : Number(hard);
}

const ULIMITS = (): string[] => {
  const nofile = hardLimit('Max open files');
  const nproc = Math.min(hardLimit('Max processes'), 32768);
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
};

/** podman in a private mount namespace without a cgroup2 mount that has controllers (see above). */
function podman(
  args: readonly string[],
  opts: { input?: string; timeout?: number } = {},
): execa.ExecaChildProcess {
  return execa(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'u=/sys/fs/cgroup/unified; if grep -q . "$u/cgroup.controllers" 2>/dev/null; then umount "$u"; fi; exec podman "$@"',
      'sh',
      ...args,
    ],
    { reject: false, timeout: opts.timeout ?? 30 * 60_000, input: opts.input },
  );
}

function requirePodman(): void {
  requireRoots();
  if (execa.sync('sh', ['-c', 'command -v podman'], { reject: false }).exitCode !== 0) {
    throw new Error('podman is missing: npm run setup installs it');
  }
}

/**
 * The stand-in for node:20-bookworm-slim: a Debian 12 root with this
 * machine's node, npm and Node's headers in /usr/local (node-gyp builds the
 * FFI addon against them; nothing is downloaded). Imported once per content:
 * a label holds its key. An image of that name without the label is a real
 * one (pulled where a registry is reachable): it is used as it is.
 */
async function ensureBaseImage(): Promise<string> {
  const name = baseImageName();
  const inspect = await podman([
    'image',
    'inspect',
    '--format',
    `{{index .Config.Labels "${BASE_LABEL}"}}`,
    name,
  ]);
  const nodePrefix = dirname(dirname(realpathSync(process.execPath)));
  const npmDir = execa.sync('npm', ['root', '-g']).stdout.trim();
  const key = createHash('sha256')
    .update(process.version)
    .update(readFileSync(join(npmDir, 'npm', 'package.json')))
    .update(readFileSync(join(repoRoot(), 'scripts', 'debian-root.sh')))
    .digest('hex')
    .slice(0, 16);
  if (inspect.exitCode === 0) {
    const label = inspect.stdout.trim();
    if (label === key) return `${name} (stand-in, cached)`;
    if (label === '' || label === '<no value>') return `${name} (found, used as it is)`;
    // An older stand-in: replaced below.
  }
  const root = await makeRoot('bookworm', join(tmpdir(), `qs-node-base-${process.pid}`), []);
  try {
    const local = join(root, 'usr', 'local');
    mkdirSync(join(local, 'bin'), { recursive: true });
    copyFileSync(process.execPath, join(local, 'bin', 'node'));
    chmodSync(join(local, 'bin', 'node'), 0o755);
    cpSync(join(npmDir, 'npm'), join(local, 'lib', 'node_modules', 'npm'), { recursive: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
    const headers = join(nodePrefix, 'include', 'node');
    if (!existsSync(join(headers, 'node_api.h'))) {
      throw new Error(
        `no Node.js headers at ${headers}: the image build compiles the FFI addon against them`,
      );
    }
    cpSync(headers, join(local, 'include', 'node'), { recursive: true });
    rmSync(join(root, '.qemu-sandboxed-root'), { force: true });
    // A pipe in the shell: the root's tar stream never passes through this process.
    const imp = await execa(
      'sh',
      [
        '-c',
        'set -e; tar -C "$1" -c . | podman import --change "CMD [\\"node\\"]" --change "LABEL $2" - "$3"',
        'sh',
        root,
        `${BASE_LABEL}=${key}`,
        name,
      ],
      { reject: false },
    );
    if (imp.exitCode !== 0) throw new Error(`podman import of the base failed: ${imp.stderr}`);
    return `${name} (stand-in, imported now)`;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

let buildLog = '';
let work = '';

beforeAll(async () => {
  requirePodman();
  const base = await ensureBaseImage();
  work = mkdtempSync(join(tmpdir(), 'qs-container-'));
  // npm inside the build: this machine's CA bundle (when npm uses one) and
  // the headers the base image carries; mounted, so they stay out of the image.
  const npmrc = join(work, 'npmrc');
  const cafile = execa.sync('npm', ['config', 'get', 'cafile']).stdout.trim();
  const useCa = cafile !== '' && cafile !== 'null' && existsSync(cafile);
  writeFileSync(npmrc, `${useCa ? `cafile=${cafile}\n` : ''}nodedir=/usr/local\n`);
  const build = await podman([
    'build',
    '--pull=never',
    '--network=host',
    ...ULIMITS(),
    ...(useCa ? ['-v', `${cafile}:${cafile}:ro`] : []),
    '-v',
    `${npmrc}:/root/.npmrc:ro`,
    '-t',
    IMAGE,
    repoRoot(),
  ]);
  buildLog = `base: ${base}\n${build.stdout}\n${build.stderr}`;
  if (build.exitCode !== 0) {
    throw new Error(`podman build failed (${build.exitCode}):\n${buildLog.slice(-4000)}`);
  }
}, 40 * 60_000);

afterAll(async () => {
  if (work) rmSync(work, { recursive: true, force: true });
  await podman(['rmi', '--force', IMAGE]);
});

test('the Dockerfile builds with podman; scripts/install put the launcher in /usr/local', async () => {
  expect(buildLog).toMatch(/COMMIT localhost\/qemu-sandboxed:package-test/);
  // (Its output is not in the log when podman reused the cached layer.)
  const ls = await podman([
    'run',
    '--rm',
    ...ULIMITS(),
    '--entrypoint',
    'sh',
    IMAGE,
    '-c',
    'ls /usr/local/bin; cat /usr/local/lib/qemu-sandboxed/install-manifest',
  ]);
  expect(ls.stdout.split('\n')).toEqual(
    expect.arrayContaining([
      'qemu-sandboxed',
      'qemu-sandbox',
      'qemu-system-x86_64-sandboxed',
      'link /usr/local/bin/qemu-sandboxed',
      'tree /usr/local/lib/qemu-sandboxed',
    ]),
  );
});

test("the image runs the guest under libvirt's full policy as its non-root user, QEMU exec'd in place", async () => {
  const image = await guest();
  const dir = join(work, 'guest');
  mkdirSync(dir);
  copyFileSync(image.kernel, join(dir, 'vmlinuz'));
  copyFileSync(image.initrd, join(dir, 'initrd.gz'));
  chmodSync(work, 0o755);
  const r = await podman(
    [
      'run',
      '--rm',
      '--network=none',
      ...ULIMITS(),
      '-v',
      `${dir}:/guest:ro`,
      IMAGE,
      '-sandbox',
      LIBVIRT_SANDBOX,
      '-machine',
      'pc,accel=tcg',
      '-m',
      '128',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-serial',
      'stdio',
      '-no-reboot',
      '-kernel',
      '/guest/vmlinuz',
      '-initrd',
      '/guest/initrd.gz',
      '-append',
      'console=ttyS0 quiet panic=-1',
    ],
    { timeout: 5 * 60_000 },
  );
  expect(r.stdout).toContain(GUEST_MARKER);
  expect(r.exitCode).toBe(0);
  const launch = JSON.parse(
    r.stderr.split('\n').find((l) => l.includes('"msg":"launch"')) ?? '{}',
  ) as Record<string, unknown>;
  expect(launch).toMatchObject({
    // The launcher is the container's first process and became QEMU.
    pid: 1,
    binary: '/usr/bin/qemu-system-x86_64',
    execGate: true,
    // Not root in the image: the kernel requires no-new-privs for the filter.
    noNewPrivs: true,
    filterSource: 'precompiled',
  });
  expect(String(launch.policy)).toMatch(/spawn=deny/);
  const who = await podman(['run', '--rm', ...ULIMITS(), '--entrypoint', 'id', IMAGE, '-un']);
  expect(who.stdout.trim()).toBe('qemu');
});
