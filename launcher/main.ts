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
import { readFileSync, readdirSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { EXIT, LaunchError, type ExitCode } from '../src/launch/errors';
import { realLaunchHost } from '../src/launch/host';
import { landlockRecord } from '../src/launch/landlock-plan';
import { loadLaunchConfig, planLaunch, type LaunchPlan } from '../src/launch/plan';
import { preflightReport } from '../src/launch/preflight';
import { parseQemuArgs } from '../src/policy/qemu-args';
import { SandboxOptionError, policyToString } from '../src/policy/sandbox-option';
import type { LaunchPolicy } from '../src/policy/site-policy';
import { environmentMap, qemuEnvironment } from './env';
import { createLog, type LauncherLog } from './log';
import { prepareFiles } from './prepare-files';
import { restoreDescriptors, restoreLimits, restoreSignals } from './restore';
import { cmdlineArgs, parseTrampolineArgs } from './state';

// The native calls and the gate are required only on the paths that need
// them (start-up cost), as the plan requires the compiler and the tables.
type Native = typeof import('../src/native');
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

  // Everything is decided here, before any state changes (src/launch/plan.ts).
  let plan: LaunchPlan;
  try {
    plan = planLaunch(
      { args: strings, config: loadLaunchConfig(env), invokedAs: state.invokedAs },
      {
        ...realLaunchHost({ env }),
        mark: (phase) => {
          marks[phase] = ms();
        },
      },
    );
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
  const { policy, binary, filter, landlock } = plan;
  for (const w of plan.warnings) stderrLine(`qemu-sandboxed: warning: ${w}`);
  if (plan.findings.length > 0) {
    const mode = plan.verdict === 'refused' ? 'enforce' : 'warn';
    for (const l of preflightReport(plan.findings, mode, plan.dryRun)) stderrLine(l);
    if (plan.verdict === 'refused') {
      log.current.error('preflight refused', { findings: plan.findings });
      exit(EXIT.usage);
    }
    log.current.warn('preflight warnings', { findings: plan.findings });
  }
  if (plan.unavailable.length > 0) throw plan.unavailable[0];

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const native = require('../src/native') as Native;
  // The compile cache's host facts spare loading src/arch in the native calls.
  if (plan.abi) native.useHostSyscalls(plan.abi);
  const armGate = plan.execGate;
  const args = [
    ...qemuRawArgs(state.args, strings),
    ...plan.delegation.extraArgs.map((s) => Buffer.from(s)),
  ];
  const exec = native.prepareExec(
    binary.path,
    [Buffer.from(binary.path), ...args],
    qemuEnvironment(state.environ),
    plan.execBy === 'descriptor' ? plan.binaryFd : undefined,
  );

  // ---- from here on the process is being turned into QEMU ----
  restoreDescriptors(state.fds);
  restoreLimits(state);
  if (plan.noNewPrivs.set) native.setNoNewPrivs();

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
    ...policyRecord(plan.launch),
    abi: plan.abi?.name ?? null,
    binary: binary.path,
    binarySource: binary.source,
    ...(binary.divertedFrom !== undefined ? { divertedFrom: binary.divertedFrom } : {}),
    filterLength: filter ? filter.program.length : null,
    filterHash: filter ? filter.hash : null,
    filterSource: plan.filterSource,
    noNewPrivs: plan.noNewPrivs.inEffect,
    execGate: armGate,
    ...(plan.execBy ? { execBy: plan.execBy } : {}),
    qemuSandbox: plan.delegation.extraArgs.length > 0 ? plan.delegation.extraArgs[1] : null,
    landlock: landlockRecord(landlock),
    elapsedMs: ms(),
    marks,
    dryRun: plan.dryRun,
    launcherExe: process.execPath,
  });

  // Signal dispositions and this thread's mask as the caller had them. Last,
  // because a default SIGPIPE could kill us while logging; and before the
  // gate's threadpool thread starts, so that it inherits the mask.
  restoreSignals(state.signals);

  // The domain goes on this thread, last: the exec'ing thread's domain is
  // what QEMU inherits. Under the gate the exec runs on a threadpool thread
  // that does not exist yet (libuv starts it at the gate), so it is created
  // inside the domain; the gate refuses a thread that existed before.
  // Everything the rest of the launch loads is loaded now: under files=deny
  // the domain may not let this process read its own modules any more.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gate = armGate ? (require('../src/native/gate') as Gate) : undefined;
  let threadsBeforeDomain: ReadonlySet<number> | undefined;
  const landlockNumbers = plan.landlockNumbers;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const landlockNative = (): Landlock => require('../src/native/landlock') as Landlock;
  if (landlock.apply && landlockNumbers) {
    try {
      // The files QEMU would create, made now so that the rules can name them.
      if (plan.files) prepareFiles(plan.files.prepare);
    } catch (e) {
      throw new LaunchError(
        `files=deny: preparing QEMU's files failed: ${(e as Error).message}; QEMU was not started`,
        EXIT.software,
      );
    }
    try {
      landlockNative().restrictSelf(landlockNumbers, landlock, landlock.flags, landlock.rules);
    } catch (e) {
      const native2 = landlockNative();
      const why =
        e instanceof native2.LandlockRuleError
          ? `${e.path}: ${e.call} ${e.code}`
          : e instanceof native.NativeError
            ? e.code
            : (e as Error).message;
      throw new LaunchError(
        `entering the Landlock domain failed: ${why}; QEMU was not started`,
        EXIT.software,
      );
    }
    threadsBeforeDomain = new Set(readdirSync('/proc/self/task').map(Number));
  }

  if (!armGate || plan.abi === null || gate === undefined) {
    const errno = exec.run();
    // Still here: execve failed. Nothing ran; the filter dies with us.
    throw execFailed(binary.path, errno);
  }

  const abi = plan.abi;
  const nr = abi.syscalls.get(exec.syscall);
  if (nr === undefined) throw new LaunchError(`no ${exec.syscall} on ${abi.name}`, EXIT.software);
  const outcome = gate.execThroughGate(
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
