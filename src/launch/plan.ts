/**
 * The launch plan: everything the launcher decides before it changes any
 * state, from QEMU's command line, the site config and what the host offers.
 * One function, so that the launcher (which applies the plan) and
 * `qemu-sandbox doctor` (which prints it) cannot disagree.
 *
 *   config -> policy -> binary -> no-new-privs -> files=deny's paths ->
 *   preflight -> delegation to QEMU's own -sandbox -> filter -> kernel
 *   support -> Landlock domain -> how QEMU is exec'd
 *
 * Everything the plan learns from the host comes through LaunchHost
 * (host.ts is the real one), so tests can give it another. Input the
 * operator can fix throws LaunchError (or SandboxOptionError for the
 * -sandbox string); what the kernel lacks is collected in `unavailable`, so
 * that doctor names all of it, and the launcher refuses on the first.
 */
import type { AbiName } from '../arch/types';
import type { CompiledFilter } from '../compiler/types';
import { readPrecompiled } from '../compiler/precompiled';
import type { LandlockNumbers, LandlockSupport } from '../native/landlock';
import { CONFIG_ENV, ConfigError, loadConfig, type SiteConfig } from '../policy/config';
import { ExtraFilesError } from '../policy/extra-files';
import { extractSandbox, vmNameOf } from '../policy/qemu-args';
import { resolveLaunchPolicy, tighteningWarning, type LaunchPolicy } from '../policy/site-policy';
import type { SandboxPolicy } from '../policy/types';
import {
  chooseBinary,
  execByDescriptorKeepsName,
  resolveBinary,
  type ResolvedBinary,
} from './binary';
import { planDelegation, type Delegation } from './delegation';
import { EXIT, LaunchError } from './errors';
import type { FileFacts } from './files-common';
import type { FilesPlan } from './files-rules';
import { checkKernelSupport } from './kernel';
import { planLandlock, type LandlockPlan } from './landlock-plan';
import { planNoNewPrivs, type NoNewPrivsPlan } from './no-new-privs';
import { filesFindings, preflight, type PreflightFinding } from './preflight';

/** What the plan asks of the host. Reads only: nothing here changes the system. */
export interface LaunchHost {
  /** The environment QEMU will get (our own variables included: they are read). */
  readonly env: Readonly<Record<string, string>>;
  /** QEMU's working directory (exec in place: ours). */
  readonly cwd: string;
  /** QEMU's pid (exec in place: ours). */
  readonly pid: number;
  readonly uid: number;
  /** The trampoline's real path: a QEMU binary resolving to it would exec us again. */
  readonly self: string | undefined;
  /** Text of a /proc or /sys file (/proc/self/status, seccomp's actions_avail, osrelease). */
  readProc(path: string): string;
  /**
   * Opens the binary QEMU runs from (spawn=deny execs exactly this file) and
   * reads its `#!` line, or says it cannot be opened for reading
   * (execute-only: then it is no script either). Throws LaunchError when it
   * is gone or unreadable for another reason.
   */
  openBinary(path: string): { readonly fd: number | undefined; readonly interpreter?: string };
  /** Whether the binary accepts `-sandbox` (QEMU built with seccomp); may run it once. */
  qemuSupportsSandbox(binary: string): boolean;
  /** The kernel's Landlock ABI through these syscall numbers. */
  landlockSupport(numbers: LandlockNumbers | undefined): LandlockSupport;
  /** The filesystem as files=deny's analysis sees it. */
  fileFacts(): FileFacts;
  /** Called at the end of each phase (policy, binary, preflight, compile): the launcher times them. */
  mark?(phase: 'policy' | 'binary' | 'preflight' | 'compile'): void;
}

export interface LaunchInput {
  /** QEMU's arguments as the caller gave them, -sandbox included. */
  readonly args: readonly string[];
  readonly config: SiteConfig;
  /**
   * The name the trampoline was run as: qemu-system-x86_64-sandboxed picks
   * its target (doctor, run by hand, passes qemu-sandboxed).
   */
  readonly invokedAs: string;
}

/** The host ABI facts the exec needs: its syscall numbers and audit arch. */
export interface HostAbi {
  readonly name: AbiName;
  readonly auditArch: number;
  readonly syscalls: ReadonlyMap<string, number>;
}

export interface LaunchPlan {
  readonly launch: LaunchPolicy;
  readonly policy: SandboxPolicy;
  /** QEMU's arguments without -sandbox. */
  readonly qemuArgs: readonly string[];
  readonly sandboxOnCommandLine: boolean;
  /** Lines for stderr before QEMU starts (policy words, what the minimum raised). */
  readonly warnings: readonly string[];
  readonly binary: ResolvedBinary;
  /** Under spawn=deny: the opened binary the gate lets exec (close-on-exec). */
  readonly binaryFd: number | undefined;
  readonly noNewPrivs: NoNewPrivsPlan;
  /** files=deny: the paths QEMU may use (null with files=allow or -sandbox off). */
  readonly files: FilesPlan | null;
  readonly findings: readonly PreflightFinding[];
  /** ok: start; refused: preflight=enforce stops the launch; warnings: preflight=warn starts anyway. */
  readonly verdict: 'ok' | 'refused' | 'warnings';
  readonly delegation: Delegation;
  /** The host ABI and its filter (null under -sandbox off). */
  readonly abi: HostAbi | null;
  readonly filter: CompiledFilter | null;
  readonly filterSource: 'precompiled' | 'compiled' | null;
  readonly landlock: LandlockPlan;
  readonly landlockNumbers: LandlockNumbers | undefined;
  /** spawn=deny: the exec-once gate is armed, and the exec goes by descriptor or by path. */
  readonly execGate: boolean;
  readonly execBy: 'descriptor' | 'path' | null;
  /** What the kernel lacks for this policy (exit 69 each): the launcher refuses on any. */
  readonly unavailable: readonly LaunchError[];
}

/** The site config, or LaunchError(usage) naming the file and the way out. */
export function loadLaunchConfig(env: Readonly<Record<string, string>>): SiteConfig {
  try {
    return loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new LaunchError(
        `${e.message} (fix the file, or point ${CONFIG_ENV} at another)`,
        EXIT.usage,
      );
    }
    throw e;
  }
}

/** Required only when a policy needs them (start-up cost). */
function compilerModule(): typeof import('../compiler') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../compiler') as typeof import('../compiler');
}
function archModule(): typeof import('../arch') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../arch') as typeof import('../arch');
}
function landlockNumbersOf(syscalls: ReadonlyMap<string, number>): LandlockNumbers | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../native/landlock') as typeof import('../native/landlock')).landlockNumbers(
    syscalls,
  );
}

/**
 * Plans one launch. Throws SandboxOptionError for a bad -sandbox (its `help`
 * form included) and LaunchError for any other input that cannot launch.
 */
export function planLaunch(input: LaunchInput, host: LaunchHost): LaunchPlan {
  const { qemuArgs, sandboxValues } = extractSandbox(input.args);
  const launch = resolveLaunchPolicy({
    config: input.config,
    sandboxValues,
    vm: vmNameOf(qemuArgs),
  });
  const policy = launch.resolved.policy;
  const tightened = tighteningWarning(launch);
  const warnings = [...launch.resolved.warnings, ...(tightened === undefined ? [] : [tightened])];
  host.mark?.('policy');

  const binary = resolveBinary(
    chooseBinary({ env: host.env, configBinary: input.config.binary, invokedAs: input.invokedAs }),
    host.env.PATH,
    host.self,
  );
  const noNewPrivs = planNoNewPrivs(policy, host.readProc('/proc/self/status'));

  // Under spawn=deny the gate lets exactly one exec through, of this opened
  // file: a script would need a second one, so preflight reads its `#!` from it.
  const gated = policy.enable && policy.spawn === 'deny';
  const opened = gated ? host.openBinary(binary.path) : undefined;
  host.mark?.('binary');

  let files: FilesPlan | null = null;
  if (policy.enable && policy.files === 'deny') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const filesModule = require('./files') as typeof import('./files');
    let extras;
    try {
      extras = filesModule.extraFiles(input.config, host.env);
    } catch (e) {
      if (e instanceof ExtraFilesError) throw new LaunchError(e.message, EXIT.usage);
      throw e;
    }
    files = filesModule.planFiles(qemuArgs, {
      cwd: host.cwd,
      env: host.env,
      binary: binary.path,
      pid: host.pid,
      extras,
      facts: host.fileFacts(),
    });
  }
  const findings = [
    ...preflight(qemuArgs, policy, {
      noNewPrivs: noNewPrivs.inEffect,
      sandboxOnCommandLine: sandboxValues.length > 0,
      raisedByMinimum: new Set(launch.tightened.map((t) => t.key)),
      binary:
        opened?.fd !== undefined
          ? { path: binary.path, interpreter: opened.interpreter }
          : undefined,
    }),
    ...(files ? filesFindings(files.refusals) : []),
  ];
  const verdict =
    findings.length === 0 ? 'ok' : policy.preflight === 'warn' ? 'warnings' : 'refused';
  const common = {
    launch,
    policy,
    qemuArgs,
    sandboxOnCommandLine: sandboxValues.length > 0,
    warnings,
    binary,
    binaryFd: opened?.fd,
    noNewPrivs,
    files,
    findings,
    verdict,
  } as const;
  if (verdict === 'refused') {
    // Nothing will run: no QEMU probe for the delegation, no compile.
    return {
      ...common,
      delegation: { filterPolicy: policy, extraArgs: [] },
      abi: null,
      filter: null,
      filterSource: null,
      landlock: { apply: false, reason: 'preflight refused the command line' },
      landlockNumbers: undefined,
      execGate: false,
      execBy: null,
      unavailable: [],
    };
  }

  const delegation = planDelegation(
    policy,
    qemuArgs,
    () => host.qemuSupportsSandbox(binary.path),
    binary.path,
  );

  host.mark?.('preflight');

  const unavailable: LaunchError[] = [];
  let abi: HostAbi | null = null;
  let filter: CompiledFilter | null = null;
  let filterSource: LaunchPlan['filterSource'] = null;
  if (policy.enable) {
    // The build's compile cache when it applies (it checks filters/ and the
    // compiler are the ones it was built from); else the compiler, live.
    const cached = readPrecompiled(delegation.filterPolicy);
    if (cached) {
      abi = cached.host;
    } else {
      const arch = archModule();
      abi = arch.getAbi(arch.detectHostAbi());
    }
    if (cached?.filter) {
      filter = cached.filter;
      filterSource = 'precompiled';
    } else {
      filter = compilerModule().compilePolicy(delegation.filterPolicy, abi.name);
      filterSource = 'compiled';
    }
    try {
      checkKernelSupport(filter.program, (p) => host.readProc(p));
    } catch (e) {
      if (!(e instanceof LaunchError)) throw e;
      unavailable.push(e);
    }
  }

  const landlockNumbers = abi === null ? undefined : landlockNumbersOf(abi.syscalls);
  const landlock = planLandlock(
    policy,
    policy.enable ? host.landlockSupport(landlockNumbers) : { abi: 0 },
    files?.rules ?? [],
  );
  if (!landlock.apply && landlock.missing) {
    unavailable.push(new LaunchError(`${landlock.reason}; QEMU was not started`, EXIT.unavailable));
  }

  host.mark?.('compile');

  const execGate = filter?.needsExecGate === true;
  const execBy = !execGate
    ? null
    : opened?.fd !== undefined &&
        execByDescriptorKeepsName(host.readProc('/proc/sys/kernel/osrelease'))
      ? 'descriptor'
      : 'path';

  return {
    ...common,
    delegation,
    abi,
    filter,
    filterSource,
    landlock,
    landlockNumbers,
    execGate,
    execBy,
    unavailable,
  };
}
