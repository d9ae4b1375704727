/**
 * Starts the test guest under QEMU, either through launcher/qemu-sandboxed or
 * by running QEMU directly (to compare with QEMU's own -sandbox), and watches
 * it: the serial console line by line, QMP over a listening socket passed as
 * an inherited descriptor (the way libvirt does it), /proc/<pid>/status, and
 * the exit. Shared by the e2e tests and the demo.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import type { GuestImage } from './guest';
import { repoRoot } from './guest';
import { readLoadedFilters, type LoadedFilter } from './loaded-filter';
import { QmpClient } from './qmp';
import { KILL_PID_SCRIPT, Watchdog } from './watchdog';

/** The marker the guest's /init prints once userspace runs. */
export const GUEST_MARKER = 'QEMU-SANDBOXED-GUEST-OK';

/** libvirt's -sandbox string (src/qemu/qemu_command.c, qemuBuildSandboxCommandLine). */
export const LIBVIRT_SANDBOX =
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

export interface VmSpec {
  /** 'launcher': launcher/qemu-sandboxed; 'qemu': the QEMU binary itself. */
  readonly via: 'launcher' | 'qemu';
  /** The -sandbox value; undefined: no -sandbox argument at all. */
  readonly sandbox?: string;
  readonly guest: GuestImage;
  /** Guest checks (qs.check=): disk, nonet, cpu. */
  readonly checks?: readonly string[];
  /** 'stay' keeps the guest up until `stop()` or QMP quit. */
  readonly mode?: 'poweroff' | 'stay';
  readonly memoryMb?: number;
  /** Appended after the guest's arguments (disks...). */
  readonly extraArgs?: readonly string[];
  /** Pass a listening QMP socket as this inherited descriptor number (libvirt style). */
  readonly qmpFd?: number;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Runs this instead of `via`'s binary, with the guest's arguments appended:
   * e.g. a Debian root's /usr/bin/qemu-sandboxed through scripts/debian-root.sh
   * run, which execs its way to QEMU so that the child's pid is QEMU's.
   */
  readonly command?: readonly string[];
}

export interface VmExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Finds a program on PATH (the way execvp would), or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir || '.', name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function qemuBinary(): string {
  const p = which('qemu-system-x86_64');
  if (!p) throw new Error('qemu-system-x86_64 is not on PATH (run: npm run setup)');
  return p;
}

export function launcherPath(): string {
  return join(repoRoot(), 'launcher', 'qemu-sandboxed');
}

/**
 * QEMU's arguments for the guest. Small and fast under TCG: one vCPU, little
 * memory, no default devices (so no NIC, no VGA), the serial console on
 * stdio, and -no-reboot so a guest panic ends QEMU instead of looping.
 * no_timer_check: under TCG on a busy host the guest kernel's early check of
 * the IO-APIC timer can miss its ticks and panic ("IO-APIC + timer doesn't
 * work!", seen with Debian 13's 6.12 kernel); that check says nothing about
 * the sandbox.
 */
export function guestArgs(spec: VmSpec): string[] {
  const append = [
    'console=ttyS0',
    'quiet',
    'loglevel=0',
    'panic=-1',
    'no_timer_check',
    `qs.mode=${spec.mode ?? 'poweroff'}`,
  ];
  if (spec.checks && spec.checks.length > 0) append.push(`qs.check=${spec.checks.join(',')}`);
  const args = [
    '-machine',
    'pc,accel=tcg',
    '-m',
    String(spec.memoryMb ?? 128),
    '-smp',
    '1',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    'stdio',
    '-kernel',
    spec.guest.kernel,
    '-initrd',
    spec.guest.initrd,
    '-append',
    append.join(' '),
  ];
  if (spec.qmpFd !== undefined) {
    args.push(
      '-chardev',
      `socket,id=mon,fd=${spec.qmpFd},server=on,wait=off`,
      '-mon',
      'chardev=mon,mode=control',
    );
  }
  if (spec.sandbox !== undefined) args.push('-sandbox', spec.sandbox);
  return [...args, ...(spec.extraArgs ?? [])];
}

const live = new Set<Vm>();
let exitHookInstalled = false;

/** Kills every VM this process started and has not seen exit (tests' afterAll, and at exit). */
export function killAllVms(): void {
  for (const vm of live) vm.kill();
}

interface LineWaiter {
  readonly re: RegExp;
  readonly resolve: (line: string) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class Vm {
  /** Console lines (carriage returns removed), in order. */
  readonly lines: string[] = [];
  /** Everything written on stderr (the launcher's log record, QEMU's warnings). */
  stderr = '';
  readonly exited: Promise<VmExit>;
  readonly startedAt = Date.now();
  private exitValue: VmExit | undefined;
  private partial = '';
  private readonly waiters = new Set<LineWaiter>();
  private qmpClient: QmpClient | undefined;

  private constructor(
    readonly spec: VmSpec,
    readonly argv: readonly string[],
    private readonly child: ChildProcess,
    private readonly qmpAddress: string | undefined,
    watchdog: Watchdog,
  ) {
    this.exited = new Promise<VmExit>((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitValue = { code, signal };
        live.delete(this);
        // Reaped: its pid may be reused, so the watchdog must not kill it any more.
        watchdog.release();
        resolve(this.exitValue);
      });
    });
    // Fail waiters only after the stdout pipe drained: the last lines
    // (QS-POWEROFF...) may arrive after the exit event.
    child.on('close', () => {
      const reason = `QEMU ended (${this.describeExit()}) before the console printed it`;
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.reject(new Error(`${reason}; waited for ${w.re}${this.context()}`));
      }
      this.waiters.clear();
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onConsole(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (this.stderr += chunk));
  }

  /** Spawns QEMU (through the launcher or directly) for `spec`. */
  static async start(spec: VmSpec): Promise<Vm> {
    const binary = spec.command
      ? spec.command[0]
      : spec.via === 'launcher'
        ? launcherPath()
        : qemuBinary();
    if (!spec.command && !existsSync(binary)) throw new Error(`${binary} does not exist`);
    const argv = [...(spec.command?.slice(1) ?? []), ...guestArgs(spec)];
    let server: Server | undefined;
    let address: string | undefined;
    const stdio: StdioOptions = ['pipe', 'pipe', 'pipe'];
    if (spec.qmpFd !== undefined) {
      if (spec.qmpFd < 3) throw new Error('qmpFd must be >= 3');
      // An abstract socket: closing our listener cannot unlink a path QEMU
      // still listens on (libuv unlinks a pipe's file when it closes it).
      address = `\0qemu-sandboxed-e2e-${process.pid}-${Math.random().toString(36).slice(2)}`;
      server = await listen(address);
      const fd = listenerFd(server);
      while (stdio.length < spec.qmpFd) stdio.push('ignore');
      stdio.push(fd);
    }
    const child = spawn(binary, argv, {
      stdio,
      env: spec.env ?? process.env,
    });
    // The child has its own copy of the listening socket now; ours must go,
    // or libuv would accept the connection meant for QEMU.
    server?.close();
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) => reject(new Error(`cannot start ${binary}: ${err.message}`)));
    });
    // killAllVms below covers a normal exit of a plain node process (the demo);
    // the watchdog covers the rest: inside jest, whose `process` copy never
    // emits 'exit', and a test process killed by a signal (SIGKILL included).
    const watchdog = Watchdog.start(KILL_PID_SCRIPT, 'qs-vm-watchdog', [String(child.pid)]);
    const vm = new Vm(spec, [binary, ...argv], child, address, watchdog);
    live.add(vm);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', killAllVms);
    }
    return vm;
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error('QEMU has no pid');
    return pid;
  }

  get exit(): VmExit | undefined {
    return this.exitValue;
  }

  /** Resolves with the first console line (seen or to come) matching `re`. */
  waitLine(re: RegExp, timeoutMs = 120_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.child.stdout === null || this.child.stdout.readableEnded) {
      return Promise.reject(
        new Error(`QEMU ended (${this.describeExit()}) without printing ${re}${this.context()}`),
      );
    }
    return new Promise<string>((resolve, reject) => {
      const w: LineWaiter = {
        re,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(
            new Error(`no console line matching ${re} within ${timeoutMs} ms${this.context()}`),
          );
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Writes a line to the guest's console (stay mode understands qs-ping, qs-stop). */
  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Pings the guest through its console: proves its vCPU still runs. */
  async ping(timeoutMs = 60_000): Promise<number> {
    const before = this.lines.filter((l) => l.startsWith('QS-PONG')).length;
    this.send('qs-ping');
    const line = await this.waitLine(new RegExp(`^QS-PONG ${before + 1}$`), timeoutMs);
    return Number(line.split(' ')[1]);
  }

  /** The QMP client over the inherited socket (connected and negotiated once). */
  async qmp(timeoutMs = 60_000): Promise<QmpClient> {
    if (!this.qmpAddress) throw new Error('this VM was started without qmpFd');
    if (!this.qmpClient) this.qmpClient = await QmpClient.connect(this.qmpAddress, { timeoutMs });
    return this.qmpClient;
  }

  /** Waits for QEMU to end; kills it and fails if it takes longer than timeoutMs. */
  async waitExit(timeoutMs = 120_000): Promise<VmExit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`QEMU did not exit within ${timeoutMs} ms (killed)${this.context()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.exitValue === undefined) this.child.kill('SIGKILL');
    this.qmpClient?.close();
  }

  /** /proc/<pid>/status as a map (Seccomp, NoNewPrivs...); throws once QEMU is gone. */
  procStatus(): Map<string, string> {
    const map = new Map<string, string>();
    for (const line of readFileSync(`/proc/${this.pid}/status`, 'utf8').split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) map.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return map;
  }

  /**
   * The seccomp filters the kernel holds for QEMU's main thread (root only),
   * oldest first: with a delegated group, ours then QEMU's own.
   */
  loadedFilters(): LoadedFilter[] {
    return readLoadedFilters(this.pid);
  }

  /** What /proc/<pid>/exe points to: QEMU's binary once the launcher exec'd it. */
  exe(): string {
    return readlinkSync(`/proc/${this.pid}/exe`);
  }

  /** QEMU's argv as the kernel sees it. */
  cmdline(): string[] {
    const raw = readFileSync(`/proc/${this.pid}/cmdline`, 'utf8');
    return raw.split('\0').slice(0, -1);
  }

  /** The guest lines a comparison cares about: the marker and QS-* (kernel timings vary). */
  outcomeLines(): string[] {
    return this.lines.filter((l) => l.startsWith(GUEST_MARKER) || l.startsWith('QS-'));
  }

  describeExit(): string {
    const e = this.exitValue;
    if (!e) return 'still running';
    return e.signal ? `killed by ${e.signal}` : `exit ${e.code}`;
  }

  /** The tail of the console and stderr, appended to error messages. */
  context(): string {
    const con = this.lines.slice(-8).join('\n  ');
    const err = this.stderr.trim().split('\n').slice(-6).join('\n  ');
    return `\n command: ${this.argv.join(' ')}\n console:\n  ${con || '(nothing)'}\n stderr:\n  ${err || '(nothing)'}`;
  }

  private onConsole(chunk: string): void {
    this.partial += chunk;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, nl).replace(/\r/g, '');
      this.partial = this.partial.slice(nl + 1);
      this.lines.push(line);
      for (const w of [...this.waiters]) {
        if (w.re.test(line)) {
          clearTimeout(w.timer);
          this.waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  }
}

function listen(address: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ path: address }, () => resolve(server));
  });
}

/**
 * The listening socket's descriptor, to hand to QEMU at a chosen number.
 * Node has no public accessor; `_handle.fd` is libuv's fd, stable for years.
 */
function listenerFd(server: Server): number {
  const handle = (server as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot get the QMP listener descriptor');
  return fd;
}
