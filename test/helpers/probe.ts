/**
 * The probe (test/helpers/c/probe.c) as the "QEMU" the launcher execs, for the
 * kernel tests in test/kernel/launcher-*.test.ts: build it, run it directly or
 * through `launcher/qemu-sandboxed`, and parse what it reports.
 *
 * The probe writes one JSON line per command, each flushed before the next
 * command runs, so when a command's syscall kills the process the lines before
 * it are still there and the caller knows which command was fatal.
 */
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import { REPO_ROOT, buildC } from './cbuild';

/**
 * The launcher under test. QEMU_SANDBOXED_TEST_LAUNCHER overrides it (to check
 * the harness against a stand-in, or an installed copy); the default is the
 * repository's.
 */
export const LAUNCHER =
  process.env.QEMU_SANDBOXED_TEST_LAUNCHER ?? join(REPO_ROOT, 'launcher', 'qemu-sandboxed');
export const LAUNCHER_STATUS = join(REPO_ROOT, '.cache', 'launcher-status.txt');

export const SIGSYS = 31;

/** Builds the probe (cached by source hash) and returns its path. */
export function probeBinary(): string {
  return buildC('probe', { flags: ['-pthread'] });
}

/**
 * Throws, with the reason and the launcher engineer's status file, when the
 * launcher is not there yet: the kernel tests must fail loudly, never skip.
 */
export function requireLauncher(): void {
  let problem: string | undefined;
  if (!existsSync(LAUNCHER)) problem = `${LAUNCHER} does not exist`;
  else {
    try {
      accessSync(LAUNCHER, constants.X_OK);
    } catch {
      problem = `${LAUNCHER} is not executable`;
    }
  }
  if (problem) {
    const status = existsSync(LAUNCHER_STATUS)
      ? readFileSync(LAUNCHER_STATUS, 'utf8')
      : '(no status file)';
    throw new Error(`cannot test the launcher: ${problem}\nlauncher status:\n${status}`);
  }
}

/** A scratch directory for one test file (config, marker and snapshot files). */
export function scratchDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `qemu-sandboxed-${tag}-`));
}

/** An explicit, empty site config, so a config in /etc cannot change what the tests see. */
export function emptyConfig(dir: string): string {
  const path = join(dir, 'config.json');
  writeFileSync(path, '{}\n');
  return path;
}

/**
 * The environment every run gets (execa's extendEnv is off): small and fixed,
 * so the direct and the launched runs can be compared exactly.
 */
export function baseEnv(probe: string, config: string): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    PROBE_TEST_VALUE: 'x=1 y="two" \u00e9',
    QEMU_SANDBOXED_BINARY: probe,
    QEMU_SANDBOXED_CONFIG: config,
  };
}

// ---- what the probe prints --------------------------------------------------

/** The result of one raw system call (`try`, or `int80` for the i386 ABI). */
export interface SyscallResult {
  readonly op: 'try' | 'int80';
  readonly name?: string;
  readonly nr: number;
  readonly abi?: 'x86_64' | 'x32';
  readonly ret: number;
  readonly errno: number;
  readonly errname: string;
  /** The process (or forked child) that made the call: for audit records. */
  readonly pid: number;
  /** int80 only: 'fault' when the CPU refused int $0x80 before any filter ran. */
  readonly outcome?: 'returned' | 'fault';
  readonly signal?: number;
  /** Present when a SIGSYS from SECCOMP_RET_TRAP was caught during the call. */
  readonly trap?: { readonly nr: number; readonly arch: number; readonly code?: number };
  readonly error?: string;
}

/** A `try`/`int80` line under --fork-each: the child's result and how it ended. */
export interface ForkedLine {
  readonly op: 'try' | 'int80';
  readonly forked: boolean;
  /** null when the child died before it could report. */
  readonly result: SyscallResult | null;
  readonly signal?: number;
  readonly exit?: number;
  readonly error?: string;
}

export interface FdInfo {
  readonly fd: number;
  readonly cloexec: boolean;
  readonly flags: number;
  readonly target: string;
}

/** The `state` command's report (see probe.c). */
export interface ProbeState {
  readonly op: 'state';
  readonly fds: readonly FdInfo[];
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  readonly argv: readonly string[];
  readonly environ: readonly string[];
  readonly cwd: string;
  readonly exe: string;
  readonly rlimits: Readonly<Record<string, readonly [string, string]>>;
  readonly cgroup: string;
  readonly oom_score_adj: string;
  readonly comm: string;
  readonly uid: readonly number[];
  readonly gid: readonly number[];
  readonly nice: number;
  readonly personality: number;
  readonly pdeathsig: number;
  readonly dumpable: number;
  readonly subreaper: number;
  readonly securebits: number;
  readonly timerslack: number;
  readonly sched_policy: number;
  readonly at_secure: number;
  readonly itimers: readonly number[];
  readonly status: Readonly<Record<string, string>>;
  readonly blocked: readonly number[];
  readonly ignored: readonly number[];
  readonly caught: readonly number[];
}

/** Any other command's line (fork, vfork, clone3, exec, int80...). */
export interface OpLine {
  readonly op: string;
  readonly ret?: number;
  readonly errno?: number;
  readonly errname?: string;
  readonly pid?: number;
  readonly child_exit?: number;
  readonly ran?: boolean;
  readonly outcome?: 'returned' | 'fault';
  readonly signal?: number;
  readonly trap?: { readonly nr: number; readonly arch?: number };
  readonly error?: string;
}

export type ProbeLine = ForkedLine | ProbeState | OpLine | SyscallResult;

export interface ProbeRun {
  /** What was run, for failure messages. */
  readonly command: string;
  /** The pid execa started: the launcher, which must become the probe. */
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  /** e.g. 'SIGSYS' when the probe was killed by the filter. */
  readonly signal: string | null;
  readonly lines: readonly ProbeLine[];
  readonly stdout: string;
  readonly stderr: string;
}

// ---- running it ----------------------------------------------------------------

export interface RunOptions {
  /**
   * 'direct': the probe itself; otherwise through the launcher with these
   * arguments before the probe's (e.g. ['-sandbox', 'on,spawn=deny'], or []
   * for the default policy).
   */
  readonly via: 'direct' | readonly string[];
  /** QEMU options before the probe's (the probe skips -nodefaults): for the launcher's preflight. */
  readonly qemuArgs?: readonly string[];
  /** Probe commands, joined with `then`. */
  readonly commands: readonly (readonly string[])[];
  /** Run every `try` in a forked child (one process tests many killing calls). */
  readonly forkEach?: boolean;
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** A new session: no controlling terminal (vhangup must have nothing to hang up). */
  readonly detached?: boolean;
  /** Prefix: e.g. the probe's own `wrap` mode, which then execs the rest. */
  readonly wrapper?: readonly string[];
  readonly timeoutMs?: number;
  /** stdin: a pipe left open (a real stdio pipe, as libvirt gives), or /dev/null. */
  readonly stdin?: 'pipe' | 'ignore';
}

export function probeArgs(commands: readonly (readonly string[])[], forkEach = false): string[] {
  const out: string[] = forkEach ? ['--fork-each'] : [];
  commands.forEach((c, i) => {
    if (i > 0) out.push('then');
    out.push(...c);
  });
  return out;
}

/** Parses the probe's stdout; a line that is not JSON is a test failure, with the output. */
export function parseLines(stdout: string): ProbeLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as ProbeLine;
      } catch {
        throw new Error(
          `the probe printed a line that is not JSON: ${JSON.stringify(l)}\n${stdout}`,
        );
      }
    });
}

export async function runProbe(opts: RunOptions): Promise<ProbeRun> {
  const probe = probeBinary();
  const args = [...(opts.qemuArgs ?? []), ...probeArgs(opts.commands, opts.forkEach)];
  const main = opts.via === 'direct' ? [probe, ...args] : [LAUNCHER, ...opts.via, ...args];
  const argv = [...(opts.wrapper ?? []), ...main];
  const child = execa(argv[0], argv.slice(1), {
    env: { ...opts.env },
    extendEnv: false,
    cwd: opts.cwd,
    reject: false,
    stdin: opts.stdin ?? 'ignore',
    detached: opts.detached ?? false,
    timeout: opts.timeoutMs ?? 20000,
    killSignal: 'SIGKILL',
    stripFinalNewline: false,
  });
  const pid = child.pid;
  const r = await child;
  return {
    command: argv.map((a) => (/^[\w./,=:-]+$/.test(a) ? a : `'${a}'`)).join(' '),
    pid,
    exitCode: r.exitCode ?? null,
    signal: r.signal ?? null,
    lines: parseLines(r.stdout),
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

/**
 * Fails (with the launcher's own output and its engineer's status file) unless
 * `launcher/qemu-sandboxed -sandbox off pid` runs the probe: when the launcher
 * is broken, every test of a file then fails with this one clear reason.
 */
export async function requireWorkingLauncher(env: Readonly<Record<string, string>>): Promise<void> {
  requireLauncher();
  const r = await runProbe({ via: ['-sandbox', 'off'], commands: [['pid']], env });
  const line = r.lines[0] as OpLine | undefined;
  if (r.exitCode !== 0 || line?.op !== 'pid' || line.pid !== r.pid) {
    const status = existsSync(LAUNCHER_STATUS)
      ? readFileSync(LAUNCHER_STATUS, 'utf8')
      : '(no status file)';
    throw new Error(
      `the launcher does not run the probe:\n${describeRun(r)}\nlauncher status:\n${status}`,
    );
  }
}

/** An outcome as one short table cell. */
export function outcomeCell(o: Outcome): string {
  return o.kind === 'error'
    ? `(${o.message.split('\n')[0]})`
    : outcomeText(o).replace(/ \(\d+\)$/, '');
}

/** A compact description of a run's end, for failure messages and the matrix. */
export function describeRun(run: ProbeRun): string {
  return (
    `$ ${run.command}\nexit=${run.exitCode} signal=${run.signal}\n` +
    `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`
  );
}

// ---- outcomes ------------------------------------------------------------------

/** How a system call ended, as the tables print it. */
export type Outcome =
  | { readonly kind: 'killed'; readonly signal: number }
  | { readonly kind: 'trapped'; readonly nr: number }
  | { readonly kind: 'errno'; readonly errname: string }
  | { readonly kind: 'ok'; readonly ret: number }
  | { readonly kind: 'fault'; readonly signal: number }
  | { readonly kind: 'error'; readonly message: string };

export function outcomeText(o: Outcome): string {
  switch (o.kind) {
    case 'killed':
      return o.signal === SIGSYS ? 'SIGSYS' : `signal ${o.signal}`;
    case 'trapped':
      return 'SIGSYS (trapped)';
    case 'errno':
      return o.errname;
    case 'ok':
      return `ok (${o.ret})`;
    case 'fault':
      return `fault (signal ${o.signal})`;
    case 'error':
      return `probe error: ${o.message}`;
  }
}

/** The outcome a probe line reports (a forked case, a `try`, or any other command). */
export function lineOutcome(line: ProbeLine): Outcome {
  const l = line as Partial<ForkedLine> & Partial<SyscallResult> & Partial<OpLine>;
  if (l.error) return { kind: 'error', message: l.error };
  if (l.forked !== undefined) {
    // try lines always carry `forked`; with --fork-each the child's end matters first.
    if (l.forked && l.signal !== undefined) return { kind: 'killed', signal: l.signal };
    if (!l.result) return { kind: 'error', message: `no result: ${JSON.stringify(line)}` };
    return lineOutcome(l.result);
  }
  if (l.outcome === 'fault') return { kind: 'fault', signal: l.signal ?? 0 };
  if (l.trap) return { kind: 'trapped', nr: l.trap.nr };
  if (l.ret === -1) return { kind: 'errno', errname: l.errname || `errno ${l.errno}` };
  return { kind: 'ok', ret: l.ret ?? 0 };
}

/** The syscall result inside a line (forked or not), if any. */
export function lineResult(line: ProbeLine | undefined): SyscallResult | undefined {
  const l = line as Partial<ForkedLine> | undefined;
  if (!l) return undefined;
  if (l.forked !== undefined) return l.result ?? undefined;
  return line as SyscallResult;
}

/**
 * The outcome of the command at `index` in a run: its line's, or, when the
 * probe printed exactly `index` lines and was then killed, that signal.
 */
export function commandOutcome(run: ProbeRun, index: number): Outcome {
  const line = run.lines[index];
  if (line) return lineOutcome(line);
  if (run.lines.length === index && run.signal) {
    return { kind: 'killed', signal: signalNumber(run.signal) ?? -1 };
  }
  return { kind: 'error', message: `no line ${index}:\n${describeRun(run)}` };
}

function signalNumber(name: string): number | undefined {
  const table: Record<string, number> = {
    SIGSEGV: 11,
    SIGKILL: 9,
    SIGABRT: 6,
    SIGBUS: 7,
    SIGILL: 4,
    SIGSYS,
  };
  return table[name];
}

// ---- which arguments make each call harmless ------------------------------------

/**
 * Arguments that make each call fail harmlessly if the filter let it through
 * (EFAULT from the PROT_NONE page `bad`, EINVAL from impossible values), so
 * only the filter's SIGSYS or errno can be what the test sees, and a filter
 * bug never reboots, remounts, renames or re-clocks the machine. A call a
 * policy denies that is missing here fails the groups test with its name:
 * add it after checking what it does.
 */
export const SAFE_ARGS: Readonly<Record<string, readonly string[]>> = {
  // default group: global system state
  reboot: ['0', '0', '0', 'bad'], // bad magic: EINVAL
  swapon: ['bad', '0'],
  swapoff: ['bad'],
  syslog: ['-1', 'null', '0'], // invalid action: EINVAL (5 would clear the ring buffer)
  mount: ['bad', 'bad', 'bad', '0', 'bad'],
  umount: ['bad'],
  umount2: ['bad', '0'],
  kexec_load: ['0', '0', 'bad', '0xffffffff'],
  kexec_file_load: ['-1', '-1', '0', 'bad', '0xffffffff'],
  init_module: ['bad', '0', 'bad'],
  finit_module: ['-1', 'bad', '0xffffffff'],
  delete_module: ['bad', '0'],
  create_module: ['bad', '0'],
  get_kernel_syms: ['bad'],
  query_module: ['bad', '0', 'bad', '0', 'bad'],
  pivot_root: ['bad', 'bad'],
  fsopen: ['bad', '0xffffffff'],
  fsconfig: ['-1', '0xffff', 'bad', 'bad', '0'],
  fsmount: ['-1', '0xffffffff', '0xffffffff'],
  fspick: ['-1', 'bad', '0xffffffff'],
  move_mount: ['-1', 'bad', '-1', 'bad', '0xffffffff'],
  open_tree: ['-1', 'bad', '0xffffffff'],
  open_tree_attr: ['-1', 'bad', '0xffffffff', 'bad', '0'],
  mount_setattr: ['-1', 'bad', '0xffffffff', 'bad', '0'],
  settimeofday: ['bad', 'bad'],
  clock_settime: ['-1', 'bad'],
  clock_adjtime: ['-1', 'bad'],
  adjtimex: ['bad'],
  stime: ['bad'],
  sethostname: ['bad', '1'],
  setdomainname: ['bad', '1'],
  acct: ['bad'], // acct(NULL) would switch accounting off
  quotactl: ['0', 'bad', '0', 'bad'],
  quotactl_fd: ['-1', '0', '0', 'bad'],
  nfsservctl: ['0', 'bad', 'bad'],
  vhangup: [], // run in a new session: no controlling terminal to hang up
  iopl: ['4'], // level > 3: EINVAL
  ioperm: ['0', '0xffffffff', '1'], // beyond the I/O space: EINVAL
  lookup_dcookie: ['0', 'bad', '0'],
  sysfs: ['99'], // invalid option: EINVAL
  uselib: ['bad'],
  ustat: ['0', 'bad'],
  _sysctl: ['bad'],
  afs_syscall: [],
  getpmsg: [],
  putpmsg: [],
  security: [],
  tuxcall: [],
  vserver: [],
  epoll_ctl_old: [],
  epoll_wait_old: [],
  set_thread_area: ['bad'],
  get_thread_area: ['bad'],
  remap_file_pages: ['0', '0', '0', '0', '0xffffffff'],
  swapcontext: [],
  bdflush: ['-1', '0'],
  personality: ['0xffffffff'], // query only
  ptrace: ['-1', '0', '0', '0'], // invalid request: EIO
  process_vm_writev: ['-1', 'bad', '1', 'bad', '1', '0'],
  process_vm_readv: ['-1', 'bad', '1', 'bad', '1', '0'],
  pidfd_getfd: ['-1', '0', '0'], // no such pidfd: EBADF
  process_madvise: ['-1', 'bad', '1', '0', '0'],
  prlimit64: ['-1', '0', 'bad', 'bad'], // no pid -1: ESRCH
  kill: ['-1', '0'], // signal 0 only asks whether a signal could be sent
  setgroups32: ['-1', 'bad'],
  memfd_secret: ['0xffffffff'],
  // elevateprivileges: -1 ids are "unchanged" or EINVAL, never a real change
  setuid: ['-1'],
  setgid: ['-1'],
  setpgid: ['0', '-1'],
  setsid: [], // in its own session already (detached): EPERM, harmless either way
  setreuid: ['-1', '-1'],
  setregid: ['-1', '-1'],
  setresuid: ['-1', '-1', '-1'],
  setresgid: ['-1', '-1', '-1'],
  setfsuid: ['-1'],
  setfsgid: ['-1'],
  setgroups: ['-1', 'bad'],
  capset: ['bad', 'bad'],
  // spawn (fork/vfork/clone/clone3 have their own probe commands)
  execve: ['bad', 'bad', 'bad'],
  execveat: ['-1', 'bad', 'bad', 'bad', '0xffffffff'],
  setns: ['-1', '0'],
  unshare: ['0xff'], // CSIGNAL bits are not unshare flags: EINVAL
  // resourcecontrol
  setpriority: ['-1', '0', '0'],
  sched_setparam: ['-1', 'bad'],
  sched_setaffinity: ['-1', '0', 'bad'],
  sched_setscheduler: ['-1', '0', 'bad'],
  sched_setattr: ['-1', 'bad', '0'],
  ioprio_set: ['-1', '0', '0'],
  migrate_pages: ['-1', '0', 'bad', 'bad'],
  move_pages: ['-1', '1', 'bad', 'bad', 'bad', '0xffffffff'],
  mbind: ['0', '0', '-1', 'bad', '0', '0'],
  set_mempolicy: ['-1', 'bad', '0'],
  // network
  socket: ['2', '1', '0'], // AF_INET stream
  socketpair: ['2', '1', '0', 'bad'],
  io_uring_setup: ['0', 'bad'],
  io_uring_enter: ['-1', '0', '0', '0', 'bad', '0'],
  io_uring_register: ['-1', '0', 'bad', '0'],
  // allowed by default, checked to still work
  bpf: ['-1', 'bad', '0'],
  userfaultfd: ['0x80000000'], // invalid flags: EINVAL
  memfd_create: ['str:probe', '0'],
  perf_event_open: ['bad', '1', '-1', '-1', '0'], // another pid; the bad attr: EFAULT
  // A filter with its own listener; the NULL program: EFAULT
  seccomp: ['1', '9', 'null'],
  prctl: ['39', '0', '0', '0', '0'], // PR_GET_NO_NEW_PRIVS: a read-only query
  chroot: ['bad'],
  ioctl: ['-1', '0x400454ca', '0'], // TUNSETIFF on no descriptor: EBADF
  getpid: [],
  read: ['-1', 'bad', '1'],
};
