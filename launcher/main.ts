/**
 * qemu-sandboxed, the Node half: started by the launcher/qemu-sandboxed sh
 * trampoline (never directly), it decides the policy, loads the seccomp
 * filter on this thread and execve's QEMU in place: same PID, the caller's
 * descriptors, signals, limits and environment put back as the trampoline
 * recorded them (state.ts, restore.ts).
 *
 * Order matters:
 *   1. everything that can fail on input (config, -sandbox, binary, preflight)
 *      and everything that needs a child process (the QEMU -sandbox probe)
 *      happens before any state changes;
 *   2. then, with no way back: descriptors and limits restored,
 *      no-new-privs, filter, log record, signals restored, execve — on this
 *      thread, or under spawn=deny on a threadpool thread while this thread
 *      answers the exec gate (src/native/gate.ts).
 * Any failure: one line on stderr, a documented exit code (errors.ts), and
 * QEMU is never started unfiltered. Only `-sandbox off` runs without a filter.
 */
import { openSync, readFileSync, readdirSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readPrecompiled } from '../src/compiler/precompiled';
import type { CompiledFilter } from '../src/compiler/types';
import { CONFIG_ENV, ConfigError, loadConfig } from '../src/policy/config';
import { extractSandbox, parseQemuArgs, vmNameOf } from '../src/policy/qemu-args';
import { SandboxOptionError, policyToString } from '../src/policy/sandbox-option';
import {
  resolveLaunchPolicy,
  tighteningWarning,
  type LaunchPolicy,
} from '../src/policy/site-policy';
import type { SandboxPolicy } from '../src/policy/types';
import {
  chooseBinary,
  execByDescriptorKeepsName,
  resolveBinary,
  scriptInterpreterOf,
  type ResolvedBinary,
} from './binary';
import { environmentMap, qemuEnvironment } from './env';
import { EXIT, LaunchError, type ExitCode } from './errors';
import { checkKernelSupport } from './kernel';
import { landlockRecord, planLandlock, type LandlockPlan } from '../src/policy/landlock-plan';
import { createLog, type LauncherLog } from './log';
import { planNoNewPrivs } from './no-new-privs';
import { preflight, preflightReport } from './preflight';
import { cacheDir, planDelegation, qemuSupportsSandbox } from './delegation';
import { restoreDescriptors, restoreLimits, restoreSignals } from './restore';
import { cmdlineArgs, parseTrampolineArgs } from './state';

// The compiler, the syscall tables and the gate are required only on the
// paths that need them (start-up cost).
type Native = typeof import('../src/native');
type Arch = typeof import('../src/arch');
type Gate = typeof import('../src/native/gate');
type Landlock = typeof import('../src/native/landlock');

/** How long the gate waits for our execve's notification. */
const GATE_TIMEOUT_MS = 10_000;
const ENOSYS = 38;

/** Milliseconds since Node started (0.1 ms resolution). */
function ms(): number {
  return Math.round(performance.now() * 10) / 10;
}

function stderrLine(line: string): void {
  try {
    writeSync(2, `${line}\n`);
  } catch {
    // nowhere left to report
  }
}

function exit(code: number): never {
  process.exit(code);
}

/**
 * The QEMU arguments as raw bytes, minus every -sandbox. Indexes come from
 * parseQemuArgs (the same option table extractSandbox uses), so an argument
 * that is not valid UTF-8 still reaches QEMU byte for byte.
 */
export function qemuRawArgs(raw: readonly Buffer[], strings: readonly string[]): Buffer[] {
  const drop = new Set<number>();
  for (const a of parseQemuArgs(strings)) {
    if (a.name !== 'sandbox') continue;
    drop.add(a.index);
    // `-sandbox VALUE` (not the joined `-sandbox=VALUE` form) also drops the value.
    if (!/^--?sandbox=/.test(strings[a.index])) drop.add(a.index + 1);
  }
  return raw.filter((_, i) => !drop.has(i));
}

/**
 * Config + command line -> policy: site default < vms[NAME] < -sandbox, then
 * the site minimum as a floor (src/policy/site-policy.ts). Bad input throws
 * (LaunchError / SandboxOptionError).
 */
function policyFrom(strings: readonly string[], env: Record<string, string>) {
  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new LaunchError(
        `${e.message} (fix the file, or point ${CONFIG_ENV} at another)`,
        EXIT.usage,
      );
    }
    throw e;
  }
  const { qemuArgs, sandboxValues } = extractSandbox(strings);
  const launch = resolveLaunchPolicy({ config, sandboxValues, vm: vmNameOf(qemuArgs) });
  return {
    config,
    qemuArgs,
    launch,
    resolved: launch.resolved,
    sandboxOnCommandLine: sandboxValues.length > 0,
  };
}

/** The launch record's policy fields: the VM, where each key came from, what the minimum raised. */
function policyRecord(launch: LaunchPolicy) {
  return {
    vm: launch.vm,
    policySources: launch.origins as Record<string, string>,
    tightened:
      launch.tightened.length === 0 || !launch.minimum
        ? null
        : {
            reason: launch.minimum.origin,
            requested: policyToString(launch.requested),
            keys: launch.tightened,
          },
  };
}

function run(log: { current?: LauncherLog }): void {
  // Milliseconds since Node started, at the end of each phase (in the launch record).
  const marks: Record<string, number> = { main: ms() };
  const raw = cmdlineArgs(readFileSync('/proc/self/cmdline'));
  const state = parseTrampolineArgs(raw);
  const env = environmentMap(state.environ);
  log.current = createLog(env);
  const strings = state.args.map((b) => b.toString('utf8'));

  let parsed;
  try {
    parsed = policyFrom(strings, env);
  } catch (e) {
    if (e instanceof SandboxOptionError) {
      if (e.help) {
        // `-sandbox on,help`, like QEMU 7.2: the option list on stdout, then
        // exit 1 (QEMU treats the help request as a failed option parse).
        writeSync(1, `${e.message}\n`);
        process.exit(EXIT.usage);
      }
      throw new LaunchError(e.message, EXIT.usage);
    }
    throw e;
  }
  const { config, qemuArgs, launch, resolved, sandboxOnCommandLine } = parsed;
  marks.policy = ms();
  const policy: SandboxPolicy = resolved.policy;
  for (const w of resolved.warnings) {
    stderrLine(`qemu-sandboxed: warning: ${w}`);
  }
  const tightenedLine = tighteningWarning(launch);
  if (tightenedLine !== undefined) stderrLine(`qemu-sandboxed: warning: ${tightenedLine}`);

  let self: string | undefined;
  try {
    self = realpathSync(join(__dirname, '..', '..', 'launcher', 'qemu-sandboxed'));
  } catch {
    self = undefined;
  }
  const binary: ResolvedBinary = resolveBinary(
    chooseBinary({ env, configBinary: config.binary, invokedAs: state.invokedAs }),
    env.PATH,
    self,
  );

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const native = require('../src/native') as Native;
  const nnp = planNoNewPrivs(policy, readFileSync('/proc/self/status', 'latin1'));

  marks.binary = ms();
  // Under spawn=deny the gate lets exactly one exec through: it runs the file
  // opened here, whose first bytes preflight reads (a script needs a second
  // exec), by descriptor where the kernel then keeps QEMU's name; elsewhere
  // by path. Close-on-exec: QEMU never sees it. An execute-only binary
  // cannot be opened (EACCES): it cannot be a script either (an interpreter
  // must read it), so it is exec'd by path.
  const gated = policy.enable && policy.spawn === 'deny';
  let binaryFd: number | undefined;
  if (gated) {
    try {
      binaryFd = openSync(binary.path, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'EACCES')
        throw new LaunchError(
          `cannot open ${binary.path}: ${err.code ?? err.message}`,
          err.code === 'ENOENT' ? EXIT.notFound : EXIT.cannotExecute,
        );
    }
  }
  const findings = preflight(qemuArgs, policy, {
    noNewPrivs: nnp.inEffect,
    sandboxOnCommandLine,
    raisedByMinimum: new Set(launch.tightened.map((t) => t.key)),
    // Only spawn=deny cares whether the binary is a script (one read of its first bytes).
    binary:
      binaryFd !== undefined
        ? { path: binary.path, interpreter: scriptInterpreterOf(binaryFd) }
        : undefined,
  });
  if (findings.length > 0) {
    const lines = preflightReport(findings, policy.preflight);
    for (const l of lines) stderrLine(l);
    if (policy.preflight === 'enforce') {
      log.current.error('preflight refused', { findings });
      exit(EXIT.usage);
    }
    log.current.warn('preflight warnings', { findings });
  }

  const delegation = planDelegation(
    policy,
    qemuArgs,
    () => qemuSupportsSandbox(binary.path, env, cacheDir(env, process.getuid?.() ?? -1)),
    binary.path,
  );

  marks.preflight = ms();
  let filter: CompiledFilter | undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const arch = (): Arch => require('../src/arch') as Arch;
  // The build's compile cache when it applies (it checks filters/ and the
  // compiler are the ones it was built from); else the compiler, live.
  const cached = policy.enable ? readPrecompiled(delegation.filterPolicy) : null;
  if (cached) native.useHostSyscalls(cached.host);
  const abiName = policy.enable ? (cached?.host.name ?? arch().detectHostAbi()) : null;
  if (abiName !== null) {
    filter =
      cached?.filter ??
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('../src/compiler') as typeof import('../src/compiler')).compilePolicy(
        delegation.filterPolicy,
        abiName,
      );
    checkKernelSupport(filter.program);
  }
  const armGate = filter?.needsExecGate === true;
  // The Landlock domain (src/policy/landlock-plan.ts): what the kernel offers decides.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const landlockNative = (): Landlock => require('../src/native/landlock') as Landlock;
  const hostSyscalls = abiName === null ? undefined : (cached?.host ?? arch().getAbi(abiName));
  const landlockNumbers = hostSyscalls && landlockNative().landlockNumbers(hostSyscalls.syscalls);
  const landlock: LandlockPlan = planLandlock(
    policy,
    policy.enable ? landlockNative().landlockSupport(landlockNumbers) : { abi: 0 },
  );
  marks.compile = ms();

  const args = [
    ...qemuRawArgs(state.args, strings),
    ...delegation.extraArgs.map((s) => Buffer.from(s)),
  ];
  const byDescriptor =
    armGate &&
    binaryFd !== undefined &&
    execByDescriptorKeepsName(readFileSync('/proc/sys/kernel/osrelease', 'latin1'));
  const exec = native.prepareExec(
    binary.path,
    [Buffer.from(binary.path), ...args],
    qemuEnvironment(state.environ),
    byDescriptor ? binaryFd : undefined,
  );

  // ---- from here on the process is being turned into QEMU ----
  restoreDescriptors(state.fds);
  restoreLimits(state);
  if (nnp.set) native.setNoNewPrivs();

  let listener = -1;
  if (filter) {
    // The gate's filter goes to every thread (TSYNC): the execve runs on a
    // threadpool thread (see src/native/gate.ts).
    const flags = armGate
      ? native.SECCOMP_FILTER_FLAG_NEW_LISTENER |
        native.SECCOMP_FILTER_FLAG_TSYNC |
        native.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
      : 0;
    try {
      listener = native.seccompSetModeFilter(filter.bytes, flags);
    } catch (e) {
      const why = e instanceof native.NativeError ? e.code : (e as Error).message;
      const hints: Record<string, string> = {
        EACCES: 'no-new-privileges was not set and we lack CAP_SYS_ADMIN',
        EINVAL: 'the kernel refused the program or a flag (the exec gate needs Linux 5.7+)',
        // Only one seccomp listener per filter chain: a container runtime may own it.
        EBUSY:
          'a seccomp listener already exists in this process (container runtime?); spawn=deny needs its own, use spawn=allow here',
        EPERM: 'a seccomp filter already installed by the caller forbids seccomp(2)',
        ESRCH: 'a thread of the launcher could not take the filter (TSYNC)',
      };
      throw new LaunchError(
        `loading the seccomp filter failed: ${why} (${hints[why] ?? 'see seccomp(2)'}); QEMU was not started`,
        EXIT.software,
      );
    }
    marks.filter = ms();
  }

  log.current.launch({
    policy: policyToString(policy),
    ...policyRecord(launch),
    abi: abiName,
    binary: binary.path,
    binarySource: binary.source,
    filterLength: filter ? filter.program.length : null,
    filterHash: filter ? filter.hash : null,
    filterSource: filter ? (cached ? 'precompiled' : 'compiled') : null,
    noNewPrivs: nnp.inEffect,
    execGate: armGate,
    ...(armGate ? { execBy: byDescriptor ? 'descriptor' : 'path' } : {}),
    qemuSandbox: delegation.extraArgs.length > 0 ? delegation.extraArgs[1] : null,
    landlock: landlockRecord(landlock),
    elapsedMs: ms(),
    marks,
  });

  // Signal dispositions and this thread's mask as the caller had them. Last,
  // because a default SIGPIPE could kill us while logging; and before the
  // gate's threadpool thread starts, so that it inherits the mask.
  restoreSignals(state.signals);

  // The domain goes on this thread, last: the exec'ing thread's domain is
  // what QEMU inherits. Under the gate the exec runs on a threadpool thread
  // that does not exist yet (libuv starts it at the gate), so it is created
  // inside the domain; the gate refuses a thread that existed before.
  let threadsBeforeDomain: ReadonlySet<number> | undefined;
  if (landlock.apply && landlockNumbers) {
    try {
      landlockNative().restrictSelf(landlockNumbers, landlock, landlock.flags);
    } catch (e) {
      const why = e instanceof native.NativeError ? e.code : (e as Error).message;
      throw new LaunchError(
        `entering the Landlock domain failed: ${why}; QEMU was not started`,
        EXIT.software,
      );
    }
    threadsBeforeDomain = new Set(readdirSync('/proc/self/task').map(Number));
  }

  if (!armGate || abiName === null) {
    const errno = exec.run();
    // Still here: execve failed. Nothing ran; the filter dies with us.
    throw execFailed(binary.path, errno);
  }

  const abi = hostSyscalls ?? arch().getAbi(abiName);
  const nr = abi.syscalls.get(exec.syscall);
  if (nr === undefined) throw new LaunchError(`no ${exec.syscall} on ${abiName}`, EXIT.software);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { execThroughGate } = require('../src/native/gate') as Gate;
  const outcome = execThroughGate(
    exec,
    listener,
    {
      nr,
      arch: abi.auditArch,
      blockedSignals: state.signals.blocked,
      // Survives the trampoline's and Node's execs; a new thread starts without it.
      parentDeathSignal: native.getParentDeathSignal(),
      ...(threadsBeforeDomain ? { threadsOutsideDomain: threadsBeforeDomain } : {}),
    },
    GATE_TIMEOUT_MS,
    // Runs only if execve returned: report and leave (QEMU did not start).
    (errno) =>
      report(log, () => {
        if (outcome.kind === 'timeout' || errno === ENOSYS) {
          const others =
            outcome.refusedOthers > 0
              ? ` (it refused ${outcome.refusedOthers} notification${outcome.refusedOthers === 1 ? '' : 's'} that did not match our execve: thread, syscall, ABI or path)`
              : '';
          throw new LaunchError(
            `the exec gate got no notification for our execve within ${GATE_TIMEOUT_MS} ms${others}; QEMU was not started`,
            EXIT.software,
          );
        }
        if (outcome.kind === 'refused') {
          throw new LaunchError(
            `the exec gate refused our execve: ${outcome.reason}; QEMU was not started`,
            EXIT.software,
          );
        }
        throw execFailed(binary.path, errno);
      }),
  );
  // Back to the event loop: execve replaces this process, or the callback reports.
}

function execFailed(path: string, errno: number | undefined): LaunchError {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NativeError } = require('../src/native') as Native;
  const name = errno === undefined ? 'errno unknown' : new NativeError('execve', errno).code;
  const code: ExitCode = errno === 2 ? EXIT.notFound : EXIT.cannotExecute;
  return new LaunchError(`cannot execute ${path}: ${name}`, code);
}

/** Runs `body`; any error becomes one line on stderr and the exit code. */
function report(log: { current?: LauncherLog }, body: () => void): void {
  try {
    body();
  } catch (e) {
    const err =
      e instanceof LaunchError
        ? e
        : new LaunchError(
            `internal error: ${e instanceof Error ? e.message : String(e)}; QEMU was not started`,
            EXIT.software,
          );
    stderrLine(`qemu-sandboxed: ${err.message}`);
    log.current?.error(err.message, { exitCode: err.exitCode });
    exit(err.exitCode);
  }
}

export function main(): void {
  // A single threadpool thread: the gate's execve and the errno read after
  // it must run on the same thread (read by libuv when the pool starts, which
  // is only at the gate). QEMU's environment is the recorded one, not ours.
  process.env.UV_THREADPOOL_SIZE = '1';
  const log: { current?: LauncherLog } = {};
  report(log, () => run(log));
}

if (require.main === module) main();
