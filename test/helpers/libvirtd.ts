/**
 * A real libvirtd (system mode, as root) for the libvirt e2e test, private to
 * the test: it runs in its own mount namespace where /etc/libvirt,
 * /run/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and
 * /etc/qemu-sandboxed are bind mounts of a temporary directory. So the daemon
 * uses exactly the paths it uses in production (closest to what operators
 * run), yet reads our qemu.conf and never touches a libvirt the host may run.
 * It leaves on the host only the users and groups of ensureUsers(): stop()
 * (or, when the test process dies first, the watchdog) removes the daemons,
 * the domains' QEMUs, the temporary directory and the mount points start()
 * had to create. The test reaches it through the socket in that directory
 * (qemu:///system?socket=...), and reads the domain log, pid file and status
 * XML there.
 *
 * With `root` (a Debian root made by scripts/debian-root.sh), the daemons are
 * that root's, run inside it (debian-root.sh run: private mount namespace,
 * chroot, the host's /tmp and /proc), with the same private directories bound
 * over the root's /etc/libvirt... The host's virsh talks to them through the
 * socket; pids mean the same inside and out.
 *
 * Also here: the guest's ACPI add-on. libvirt's `virsh shutdown` asks the
 * guest to power off through ACPI; the busybox test guest has no ACPI
 * handling, and Debian builds the power-button driver as a module. So the
 * helper appends a second initramfs archive (the kernel unpacks concatenated
 * archives in order) holding button.ko from the guest's own kernel package and
 * a tiny rdinit that loads it, powers off when the power button fires, and
 * then runs the guest's /init unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import type { GuestImage } from '../../scripts/lib/guest';
import { repoRoot } from '../../scripts/lib/guest';
import { Watchdog } from '../../scripts/lib/watchdog';
import { pidAlive } from '../../scripts/lib/pid';
import { runArgs } from './debian-root';
import { takeLibvirtLock } from '../../scripts/lib/libvirt-lock';

/** Directories libvirtd uses in system mode, each replaced by a private one. */
const MOUNTS: ReadonlyArray<readonly [host: string, sub: string]> = [
  ['/etc/libvirt', 'etc'],
  ['/run/libvirt', 'run'],
  ['/var/lib/libvirt', 'lib'],
  ['/var/log/libvirt', 'log'],
  ['/var/cache/libvirt', 'cache'],
  // The launcher's site config: the host's (if any) must not leak into the
  // test, and the test writes its own between boots (setSandboxConfig).
  ['/etc/qemu-sandboxed', 'qemu-sandboxed'],
];

/**
 * qemu.conf for a root-only CI machine without systemd, KVM, AppArmor or
 * SELinux. Each line says why in the file itself (it lands in the transcript).
 */
export const QEMU_CONF = `# Written by test/helpers/libvirtd.ts for the qemu-sandboxed libvirt test.
# QEMU runs as root: no libvirt-qemu user needs access to the repository.
user = "root"
group = "root"
dynamic_ownership = 0
# No AppArmor or SELinux on the test machine.
security_driver = "none"
# Without systemd libvirt makes cgroups under /sys/fs/cgroup/*/machine itself,
# and leaves those directories behind: the test must not change the host.
cgroup_controllers = [ ]
# Make libvirt pass its own -sandbox string (the launcher consumes it).
seccomp_sandbox = 1
# QEMU's stderr (the launcher's launch record) goes through virtlogd, as in production.
stdio_handler = "logd"
`;

/** Added inside a Debian root, where libvirtd runs chrooted. */
const ROOT_QEMU_CONF = `# In a chroot "/" is not a mount point: libvirt cannot give QEMU its private
# /dev mount namespace (mount propagation of "/" fails with EINVAL).
namespaces = [ ]
`;

const LIBVIRTD_CONF = `unix_sock_dir = "/run/libvirt"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
`;

const VIRTLOGD_CONF = `log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
`;

/** Starts virtlogd and becomes libvirtd (the pid start() spawned). */
const DAEMONS = `virtlogd -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid &
exec libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
`;

/** Runs inside the new mount namespace: bind the private dirs, then DAEMONS. */
function namespaceScript(base: string): string {
  const binds = MOUNTS.map(([host, sub]) => `mount --bind '${base}/${sub}' '${host}'`).join('\n');
  return `set -e
${binds}
${DAEMONS}`;
}

function which(name: string, path: string): string | undefined {
  for (const dir of path.split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** PATH with the sbin directories libvirtd and its helpers live in. */
function daemonPath(): string {
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d !== '');
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!dirs.includes(d)) dirs.push(d);
  }
  return dirs.join(':');
}

/**
 * Fails with the reason when something the daemon needs is missing: the
 * test must fail, not skip, on a machine that cannot run it.
 */
export function requireLibvirt(root?: string): void {
  if (process.geteuid?.() !== 0) {
    throw new Error('the libvirt test runs libvirtd in system mode and needs root');
  }
  const path = daemonPath();
  const missing = ['virsh', 'unshare', 'mount'].filter((b) => !which(b, path));
  for (const b of ['libvirtd', 'virtlogd']) {
    if (root === undefined ? !which(b, path) : !existsSync(join(root, 'usr', 'sbin', b))) {
      missing.push(root === undefined ? b : `${b} in ${root}`);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.join(', ')}: install libvirt-daemon, libvirt-daemon-driver-qemu and libvirt-clients (npm run setup)`,
    );
  }
}

/**
 * libvirtd resolves its compiled-in default user and group (Debian:
 * libvirt-qemu and libvirt-qemu) while it initialises the QEMU driver, before
 * it reads qemu.conf, and refuses to start when they do not exist.
 * libvirt-daemon-system creates them (plus kvm) on a normal install; a CI
 * machine with only libvirt-daemon has none. Made the way its postinst does,
 * and left in place afterwards, as that package would: later runs (and a
 * libvirt-daemon-system installed later) find them and change nothing.
 */
function ensureUsers(root?: string): void {
  // In a root, each command runs inside it.
  const cmd = (file: string, args: string[], reject = true) =>
    root === undefined
      ? execa.sync(file, args, { reject })
      : execa.sync('sh', runArgs(root, [file, ...args]), { reject });
  const has = (db: string, name: string): boolean =>
    cmd('getent', [db, name], false).exitCode === 0;
  for (const group of ['kvm', 'libvirt-qemu']) {
    if (!has('group', group)) cmd('groupadd', ['--system', group]);
  }
  if (!has('passwd', 'libvirt-qemu')) {
    cmd('useradd', [
      '--system',
      '--gid',
      'kvm',
      '--groups',
      'libvirt-qemu',
      '--no-create-home',
      '--home-dir',
      '/var/lib/libvirt',
      '--shell',
      '/usr/sbin/nologin',
      'libvirt-qemu',
    ]);
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `p` at most `ms`, without a timer left behind to keep jest alive. */
async function within(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * The last resort when the test process dies before stop() ran (see
 * scripts/lib/watchdog.ts): stop() releases it once it has cleaned up;
 * otherwise it kills the daemons and the domains' QEMUs and removes what
 * start() created.
 * Arguments: the private dir, libvirtd's pid, the mount points start() created.
 */
const WATCHDOG = `dir=$1 daemon=$2
shift 2
if read -r _; then exit 0; fi
# Only real pids: "kill 0" would signal the watchdog's own process group.
kill1() { [ "$1" -gt 1 ] 2>/dev/null && kill -KILL "$1" 2>/dev/null; }
kill1 "$daemon"
for f in "$dir"/run/qemu/*.pid "$dir"/run/virtlogd.pid; do
  [ -f "$f" ] && kill1 "$(cat "$f")"
done
sleep 1
[ "\${QS_KEEP_LIBVIRT_DIR:-}" = 1 ] || rm -rf "$dir"
for m in "$@"; do rmdir "$m" 2>/dev/null; done
exit 0
`;

/** How long start() waits for another libvirt test on this machine to end. */
const LOCK_WAIT_MS = 15 * 60_000;

/** virsh calls made while stopping: short, so stop() fits in an afterAll hook's time. */
const STOP_VIRSH_TIMEOUT_MS = 15_000;

export interface VirshResult {
  readonly command: string;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class Libvirtd {
  /** The socket URI virsh uses (system mode, private socket). */
  readonly uri: string;
  private stopped = false;

  private constructor(
    /** The private directory: etc/ run/ lib/ log/ cache/ are /etc/libvirt... inside the namespace. */
    readonly dir: string,
    private readonly child: ChildProcess,
    private readonly createdMountPoints: readonly string[],
    private readonly exited: Promise<void>,
    private readonly watchdog: Watchdog,
    private readonly releaseLock: () => void,
  ) {
    this.uri = `qemu:///system?socket=${join(dir, 'run', 'libvirt-sock')}`;
  }

  /** Starts virtlogd and libvirtd in a private mount namespace and waits until virsh can connect. */
  static async start(
    opts: {
      readonly timeoutMs?: number;
      readonly root?: string;
      readonly lockWaitMs?: number;
    } = {},
  ): Promise<Libvirtd> {
    requireLibvirt(opts.root);
    // Held until stop() (or this process's death): see libvirt-lock.ts.
    const releaseLock = await takeLibvirtLock(opts.lockWaitMs ?? LOCK_WAIT_MS);
    try {
      return await Libvirtd.startLocked(opts, releaseLock);
    } catch (err) {
      releaseLock();
      throw err;
    }
  }

  private static async startLocked(
    opts: { readonly timeoutMs?: number; readonly root?: string },
    releaseLock: () => void,
  ): Promise<Libvirtd> {
    ensureUsers(opts.root);
    // Short: the socket path must fit in sockaddr_un (108 bytes).
    const dir = mkdtempSync('/tmp/qs-lv-');
    for (const [, sub] of MOUNTS) mkdirSync(join(dir, sub), { recursive: true });
    writeFileSync(join(dir, 'etc', 'libvirtd.conf'), LIBVIRTD_CONF);
    writeFileSync(join(dir, 'etc', 'virtlogd.conf'), VIRTLOGD_CONF);
    writeFileSync(
      join(dir, 'etc', 'qemu.conf'),
      opts.root === undefined ? QEMU_CONF : `${QEMU_CONF}${ROOT_QEMU_CONF}`,
    );
    const created: string[] = [];
    // debian-root.sh run makes the mount points inside a root itself.
    for (const [host] of opts.root === undefined ? MOUNTS : []) {
      if (!existsSync(host)) {
        mkdirSync(host, { recursive: true });
        created.push(host);
      }
    }
    const out = openSync(join(dir, 'daemon.out'), 'w');
    const [file, ...args] =
      opts.root === undefined
        ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', namespaceScript(dir)]
        : [
            'sh',
            ...runArgs(opts.root, ['sh', '-c', DAEMONS], {
              bind: MOUNTS.map(([host, sub]) => `${join(dir, sub)}:${host}`),
            }),
          ];
    const child = spawn(file, args, {
      stdio: ['ignore', out, out],
      env: { ...process.env, PATH: daemonPath() },
    });
    closeSync(out);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const watchdog = Watchdog.start(WATCHDOG, 'qs-libvirtd-watchdog', [
      dir,
      String(child.pid ?? 0),
      ...created,
    ]);
    const daemon = new Libvirtd(dir, child, created, exited, watchdog, releaseLock);
    try {
      await waitFor('libvirtd to accept connections', opts.timeoutMs ?? 60_000, async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `libvirtd exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail(join(dir, 'daemon.out'), 10)}\n${tail(join(dir, 'log', 'libvirtd.log'), 15)}`,
          );
        }
        if (!existsSync(join(dir, 'run', 'libvirt-sock'))) return false;
        return (await daemon.virsh('version')).exitCode === 0;
      });
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
  }

  /** Runs virsh against this daemon; never throws on a non-zero exit. */
  async virsh(...args: string[]): Promise<VirshResult> {
    return this.virshWithin(120_000, args);
  }

  private async virshWithin(timeout: number, args: readonly string[]): Promise<VirshResult> {
    const r = await execa('virsh', ['-c', this.uri, ...args], { reject: false, timeout });
    return {
      command: `virsh ${args.join(' ')}`,
      exitCode: r.exitCode ?? -1,
      stdout: r.stdout,
      stderr: r.stderr,
    };
  }

  /** Runs virsh and throws with its stderr and the daemon's log when it fails. */
  async virshOk(...args: string[]): Promise<VirshResult> {
    const r = await this.virsh(...args);
    if (r.exitCode !== 0) {
      throw new Error(
        `${r.command} failed (${r.exitCode}): ${r.stderr.trim()}\nlibvirtd.log:\n${tail(this.path('log', 'libvirtd.log'), 10)}`,
      );
    }
    return r;
  }

  /** A path inside the private tree: path('log', 'qemu', 'x.log') is /var/log/libvirt/qemu/x.log for libvirtd. */
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  domainLog(name: string): string {
    return this.path('log', 'qemu', `${name}.log`);
  }

  /** The pid libvirt recorded for a running domain (/run/libvirt/qemu/<name>.pid). */
  recordedPid(name: string): number | undefined {
    return readPid(this.path('run', 'qemu', `${name}.pid`));
  }

  /** The pid in libvirt's live status XML (/run/libvirt/qemu/<name>.xml, <domstatus pid=...>). */
  statusPid(name: string): number | undefined {
    try {
      const m = /<domstatus\b[^>]*\bpid='(\d+)'/.exec(
        readFileSync(this.path('run', 'qemu', `${name}.xml`), 'utf8'),
      );
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Writes /etc/qemu-sandboxed/config.json as QEMU launched by this daemon
   * sees it (libvirt clears QEMU's environment, so the file is how an
   * operator configures the launcher); undefined removes it.
   */
  setSandboxConfig(
    config:
      | {
          readonly sandbox?: string;
          readonly binary?: string;
          readonly vms?: Readonly<Record<string, string>>;
          readonly files?: Readonly<Record<string, 'ro' | 'rw'>>;
        }
      | undefined,
  ): void {
    const file = this.path('qemu-sandboxed', 'config.json');
    if (config === undefined) rmSync(file, { force: true });
    else writeFileSync(file, `${JSON.stringify(config)}\n`);
  }

  /** The last lines of libvirtd's own log, for failure messages. */
  logTail(lines = 15): string {
    return tail(this.path('log', 'libvirtd.log'), lines);
  }

  /** QEMU pids libvirt still has pid files for. */
  private qemuPids(): number[] {
    const dir = this.path('run', 'qemu');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => readPid(join(dir, f)))
      .filter((p): p is number => p !== undefined);
  }

  /**
   * Destroys every running domain, then stops libvirtd and virtlogd (libvirt
   * leaves domains running when the daemon exits, so they go first), then
   * kills whatever survived, removes the private tree and the mount points it
   * created. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        const list = await this.virshWithin(STOP_VIRSH_TIMEOUT_MS, ['list', '--name']);
        for (const name of list.stdout.split('\n').map((s) => s.trim())) {
          if (name !== '') await this.virshWithin(STOP_VIRSH_TIMEOUT_MS, ['destroy', name]);
        }
      }
    } finally {
      const qemu = this.qemuPids();
      const virtlogd = readPid(this.path('run', 'virtlogd.pid'));
      this.child.kill('SIGTERM');
      await within(this.exited, 15_000);
      this.child.kill('SIGKILL');
      for (const pid of [...(virtlogd ? [virtlogd] : []), ...qemu]) this.killPid(pid, 'SIGTERM');
      await sleep(500);
      for (const pid of [...(virtlogd ? [virtlogd] : []), ...qemu]) this.killPid(pid, 'SIGKILL');
      this.cleanup();
      // Cleaned up: the watchdog may go, and the next libvirt test may start.
      this.watchdog.release();
      this.releaseLock();
    }
  }

  private killPid(pid: number, signal: NodeJS.Signals): void {
    if (pidAlive(pid)) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone between the check and the kill.
      }
    }
  }

  private cleanup(): void {
    if (process.env.QS_KEEP_LIBVIRT_DIR !== '1') rmSync(this.dir, { recursive: true, force: true });
    for (const host of this.createdMountPoints) {
      try {
        rmdirSync(host);
      } catch {
        // Not empty or busy (another test's namespace): leave it.
      }
    }
  }
}

/** What the ACPI add-on's rdinit prints; the guest's own lines follow. */
export const ACPI_READY = 'QS-ACPI-READY';
export const ACPI_POWERDOWN = 'QS-ACPI-POWERDOWN';

/**
 * The add-on's first program (kernel parameter rdinit=/qs-acpi/init). It uses
 * its own devtmpfs mount for the console so the guest's /init, which it execs
 * unchanged, finds /dev, /proc and /sys as the kernel left them.
 */
const ACPI_INIT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
D=/qs-acpi/dev
C=$D/console
$B mkdir -p $D
$B mount -t devtmpfs devtmpfs $D
# sh opens /dev/null for a background job's stdin, and /dev is still empty:
# point it at our devtmpfs (the guest's devtmpfs mount on /dev hides the link).
$B ln -s $D/null /dev/null
# No button.ko: the guest's kernel has the driver built in.
if [ ! -f /qs-acpi/button.ko ] || $B insmod /qs-acpi/button.ko; then
  # The fixed-event counter of the power button: QEMU's system_powerdown
  # (virsh shutdown --mode acpi) raises it once button.ko handles the event.
  ( while $B sleep 1; do
      set -- $($B cat /sys/firmware/acpi/interrupts/ff_pwr_btn 2>$D/null)
      if [ "\${1:-0}" -gt 0 ] 2>$D/null; then echo ${ACPI_POWERDOWN} >$C; $B poweroff -f; fi
    done ) <$D/null >$D/null 2>&1 &
  echo ${ACPI_READY} >$C
else
  echo QS-ACPI-FAILED insmod >$C
fi
$B umount /sys
$B umount /proc
exec /init
`;

/**
 * Returns an initrd = the guest's initrd followed by the ACPI add-on, built
 * once per guest build into .cache/libvirt-test/ (button.ko comes from the
 * guest's kernel package, fetched with apt-get download as the guest builder
 * does). Boot it with `rdinit=/qs-acpi/init` on the kernel command line.
 */
export async function acpiInitrd(guest: GuestImage): Promise<string> {
  const key = createHash('sha256')
    .update(readFileSync(guest.initrd))
    .update(ACPI_INIT)
    .update(guest.kernelPackage)
    .digest('hex')
    .slice(0, 16);
  const cache = join(repoRoot(), '.cache', 'libvirt-test');
  const out = join(cache, `initrd-acpi-${key}.gz`);
  if (existsSync(out)) return out;
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(cache, 'build-'));
  try {
    // apt (as _apt) must be able to write where it downloads.
    execa.sync('chmod', ['755', work]);
    const dl = await execa('apt-get', ['download', '-q', guest.kernelPackage], {
      cwd: work,
      reject: false,
    });
    if (dl.exitCode !== 0) {
      throw new Error(
        `apt-get download ${guest.kernelPackage} failed: ${dl.stderr.trim().split('\n').slice(-3).join(' ')}`,
      );
    }
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${guest.kernelPackage} left no .deb in ${work}`);
    // Debian 12 ships ./lib/modules/REL/.../button.ko, Debian 13 (merged /usr,
    // compressed modules) ./usr/lib/modules/REL/.../button.ko.xz. tar's exit
    // status is not looked at: a pattern may match nothing (a driver built
    // in has no file); what was extracted decides below.
    const rel = guest.kernelRelease;
    await execa(
      'sh',
      [
        '-c',
        'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "$3" "$4"',
        'sh',
        join(work, deb),
        work,
        `*/modules/${rel}/kernel/drivers/acpi/button.ko*`,
        `*/modules/${rel}/modules.builtin`,
      ],
      { reject: false },
    );
    const modDir = ['lib', 'usr/lib']
      .map((d) => join(work, d, 'modules', rel))
      .find((d) => existsSync(join(d, 'modules.builtin')));
    if (!modDir) throw new Error(`no lib/modules/${rel}/modules.builtin in ${deb}`);
    const root = join(work, 'root');
    mkdirSync(join(root, 'qs-acpi'), { recursive: true });
    const ko = join(modDir, 'kernel', 'drivers', 'acpi', 'button.ko');
    if (existsSync(ko)) renameSync(ko, join(root, 'qs-acpi', 'button.ko'));
    else if (existsSync(`${ko}.xz`)) {
      // The guest's busybox insmod takes plain modules: unpack it here.
      const unxz = await execa('busybox', ['unxz', '-c', `${ko}.xz`], {
        encoding: null,
        reject: false,
      });
      if (unxz.exitCode !== 0) throw new Error(`busybox unxz ${ko}.xz failed`);
      writeFileSync(join(root, 'qs-acpi', 'button.ko'), unxz.stdout);
    } else if (
      !readFileSync(join(modDir, 'modules.builtin'), 'utf8')
        .split('\n')
        .includes('kernel/drivers/acpi/button.ko')
    ) {
      throw new Error(`${deb} has no acpi/button.ko, and its kernel does not have it built in`);
    }
    writeFileSync(join(root, 'qs-acpi', 'init'), ACPI_INIT, { mode: 0o755 });
    const addon = join(work, 'addon.cpio.gz');
    await execa('sh', [
      '-c',
      'cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 -n >"$2"',
      'sh',
      root,
      addon,
    ]);
    const tmp = `${out}.tmp-${process.pid}`;
    writeFileSync(tmp, Buffer.concat([readFileSync(guest.initrd), readFileSync(addon)]));
    renameSync(tmp, out);
    // Older add-ons (another guest build or rdinit) are never used again.
    for (const f of readdirSync(cache)) {
      if (/^initrd-acpi-[0-9a-f]{16}\.gz$/.test(f) && join(cache, f) !== out)
        rmSync(join(cache, f), { force: true });
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
