/**
 * `doctor [-- QEMU ARGS...]`: can this host run QEMU under our filter, which
 * QEMU would run, and would the launcher accept this command line? Exits 1
 * when something would make the launcher refuse to start, so scripts can
 * gate on it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { detectHostAbi, getHostAbi } from '../../arch';
import {
  extractSandbox,
  parsePolicy,
  policyToString,
  resolveLaunchPolicy,
  tighteningWords,
  vmNameOf,
} from '../../policy';
import type { LaunchPolicy, SiteConfig, Tightening } from '../../policy';
import type { PreflightFinding } from '../../launch/preflight';
import { accessWords } from '../../launch/files';
import { LaunchError } from '../../launch/errors';
import { realLaunchHost } from '../../launch/host';
import { planLaunch, type LaunchPlan } from '../../launch/plan';
import { landlockNumbers, landlockSupport } from '../../native/landlock';
import { FILES_ABI, landlockRecord, planLandlock } from '../../launch/landlock-plan';
import { resolveQemuBinary } from '../qemu-binary';
import type { CliContext } from '../context';
import { table, toJson } from '../context';
import { InputError, oneLine } from '../errors';
import { probeHost, type HostSupport } from '../host';
import { siteConfig } from '../policy-input';

export interface DoctorOptions {
  readonly qemuArgs: readonly string[];
  readonly json: boolean;
  /** Tests: a fake /proc root and kernel release. */
  readonly procRoot?: string;
  readonly release?: string;
}

export interface QemuInfo {
  readonly binary: string | null;
  /** Which rule chose it: QEMU_SANDBOXED_BINARY, config, qemu-system-<host>. */
  readonly source: string;
  /** Host-wide mode: the qemu-system-* path the launcher stands in for (binary is the diverted QEMU). */
  readonly divertedFrom?: string;
  readonly version: string | null;
  /** `-sandbox on -version` succeeds: QEMU was built with seccomp and its kernel probe passed. */
  readonly ownSandbox: boolean | null;
  readonly error: string | null;
}

/** The kernel's Landlock ABI (0 when it has none, with why). */
export interface LandlockInfo {
  readonly abi: number;
  readonly reason: string | null;
}

/** files=deny's plan for the command line: the rules as words, and the files made first. */
export interface FilesInfo {
  readonly rules: { path: string; access: string; why: string }[];
  readonly prepare: { action: string; path: string }[];
}

export interface DoctorJson {
  readonly host: HostSupport & {
    readonly abi: string;
    readonly secondaryAbis: string[];
    /** The Landlock domain the launcher gives QEMU under -sandbox on, or why none. */
    readonly landlock: string;
    /** The kernel's Landlock ABI (0 with why): files=deny needs ABI 3. */
    readonly landlockAbi: LandlockInfo;
  };
  readonly config: {
    path: string | null;
    sandbox: string | null;
    minimum: string | null;
    vms: Record<string, string> | null;
    binary: string | null;
    error: string | null;
  };
  /**
   * The effective policy of a launch without -sandbox: for any VM (`site`),
   * and for each VM the config names; null when the config is unusable.
   */
  readonly policies: {
    site: EffectivePolicy;
    vms: Record<string, EffectivePolicy>;
  } | null;
  readonly qemu: QemuInfo;
  readonly preflight: {
    policy: string;
    /** The VM's name from -name in QEMU ARGS, if any. */
    vm: string | null;
    /** What the site minimum raised in this command line's policy. */
    tightened: Tightening[];
    noNewPrivs: boolean;
    mode: 'enforce' | 'warn';
    findings: PreflightFinding[];
    verdict: 'ok' | 'refused' | 'warnings';
    /** Why the launcher would not start QEMU beyond preflight's findings, with its exit code. */
    refusal: { message: string; exitCode: number } | null;
    /** files=deny: what the Landlock ruleset grants (null with files=allow). */
    files: FilesInfo | null;
  } | null;
  readonly problems: string[];
}

export interface EffectivePolicy {
  /** Every key written out, or "off". */
  readonly policy: string;
  /** What the merge gave before the minimum. */
  readonly requested: string;
  readonly tightened: Tightening[];
}

function effective(lp: LaunchPolicy): EffectivePolicy {
  return {
    policy: policyToString(lp.policy, { full: true }),
    requested: policyToString(lp.requested, { full: true }),
    tightened: [...lp.tightened],
  };
}

/**
 * The effective policies of launches without -sandbox, and the problems
 * among them: a policy that ends up off runs QEMU with no filter.
 */
function sitePolicies(config: SiteConfig, problems: string[]): DoctorJson['policies'] {
  const where = config.path === undefined ? '' : ` in ${config.path}`;
  const site = resolveLaunchPolicy({ config, sandboxValues: [] });
  if (!site.policy.enable) {
    problems.push(
      `the site default policy is off ("sandbox"${where}): every launch without -sandbox runs QEMU with no filter; ` +
        'set "sandbox" to "on" (plus any keys), and add a "minimum" such as "on" so that no command line can turn it off',
    );
  }
  const vms: Record<string, EffectivePolicy> = {};
  for (const name of config.vms?.keys() ?? []) {
    const lp = resolveLaunchPolicy({ config, sandboxValues: [], vm: name });
    vms[name] = effective(lp);
    if (!lp.policy.enable) {
      problems.push(
        `vms.${name}${where} is off: VM ${name} runs with no filter unless its command line turns -sandbox on; ` +
          'add a "minimum" such as "on" to forbid that',
      );
    }
  }
  return { site: effective(site), vms };
}

/** QEMU's own -sandbox: vl.c parses `-sandbox on` (only registered when built with seccomp and the kernel probe passes) before `-version` exits. */
export function probeQemu(binary: string): {
  version: string | null;
  ownSandbox: boolean;
  error: string | null;
} {
  const r = spawnSync(binary, ['-sandbox', 'on', '-version'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (r.error)
    return {
      version: null,
      ownSandbox: false,
      error: `cannot run ${binary}: ${(r.error as NodeJS.ErrnoException).code}`,
    };
  if (r.status === 0)
    return { version: r.stdout.split('\n')[0].trim() || null, ownSandbox: true, error: null };
  const v = spawnSync(binary, ['-version'], { encoding: 'utf8', timeout: 20_000 });
  return {
    version: v.status === 0 ? v.stdout.split('\n')[0].trim() || null : null,
    ownSandbox: false,
    error: v.status === 0 ? null : `${binary} -version failed: ${(v.stderr || '').split('\n')[0]}`,
  };
}

/** The environment as the launcher reads it (unset variables left out). */
function envMap(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * The launcher's own plan (src/launch/plan.ts) for QEMU ARGS on this host:
 * what it would decide, and why it would refuse. Only a bad -sandbox string
 * is an input error of doctor's.
 */
function planPreflight(
  ctx: CliContext,
  opts: DoctorOptions,
  config: SiteConfig,
  problems: string[],
): NonNullable<DoctorJson['preflight']> {
  const env = envMap(ctx.env);
  const host = realLaunchHost({
    env,
    ...(opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {}),
  });
  let plan: LaunchPlan;
  try {
    plan = planLaunch({ args: opts.qemuArgs, config, invokedAs: 'qemu-sandboxed' }, host);
  } catch (err) {
    if (!(err instanceof LaunchError)) throw new InputError(oneLine(err));
    problems.push(`the launcher would refuse to start QEMU (exit ${err.exitCode}): ${err.message}`);
    const extracted = extractSandbox(opts.qemuArgs);
    const launch = resolveLaunchPolicy({
      config,
      sandboxValues: extracted.sandboxValues,
      vm: vmNameOf(extracted.qemuArgs),
    });
    return {
      policy: policyToString(launch.policy, { full: true }),
      vm: launch.vm,
      tightened: [...launch.tightened],
      noNewPrivs: false,
      mode: launch.policy.preflight,
      findings: [],
      verdict: 'refused',
      refusal: { message: err.message, exitCode: err.exitCode },
      files: null,
    };
  }
  // The plan opened the binary under spawn=deny for the exec; doctor execs nothing.
  if (plan.binaryFd !== undefined) closeSync(plan.binaryFd);
  if (plan.verdict === 'refused')
    problems.push(
      `preflight refuses this command line (${plan.findings.length} finding${plan.findings.length === 1 ? '' : 's'})`,
    );
  for (const u of plan.unavailable) problems.push(u.message);
  const files: FilesInfo | null = plan.files && {
    rules: plan.files.entries.map((e) => ({
      path: e.path,
      access: accessWords(e.access),
      why: e.why,
    })),
    prepare: plan.files.prepare.map((p) => ({
      action: p.kind === 'create' ? 'create empty' : `remove the stale ${p.type}`,
      path: p.path,
    })),
  };
  const refusal = plan.verdict === 'refused' ? null : (plan.unavailable[0] ?? null);
  return {
    policy: policyToString(plan.policy, { full: true }),
    vm: plan.launch.vm,
    tightened: [...plan.launch.tightened],
    noNewPrivs: plan.noNewPrivs.inEffect,
    mode: plan.policy.preflight,
    findings: [...plan.findings],
    verdict: refusal ? 'refused' : plan.verdict,
    refusal: refusal && { message: refusal.message, exitCode: refusal.exitCode },
    files,
  };
}

export function doctor(ctx: CliContext, opts: DoctorOptions): DoctorJson {
  const problems: string[] = [];
  const support = probeHost(opts.procRoot, opts.release);
  const abiName = detectHostAbi();
  const host = getHostAbi(abiName);
  // The launcher's own decision (src/launch/landlock-plan.ts) on this kernel.
  const landlockKernel = landlockSupport(landlockNumbers(host.native.syscalls));
  const landlock = landlockRecord(planLandlock({ enable: true }, landlockKernel));
  const landlockAbi: LandlockInfo = {
    abi: landlockKernel.abi,
    reason: 'reason' in landlockKernel ? landlockKernel.reason : null,
  };

  if (!support.seccomp)
    problems.push('the kernel has no seccomp (CONFIG_SECCOMP): the launcher cannot filter');
  else if (!support.seccompFilter)
    problems.push('the kernel has no seccomp filter mode (CONFIG_SECCOMP_FILTER, or Linux < 4.14)');
  else {
    if (!support.killProcess)
      problems.push(
        'no SECCOMP_RET_KILL_PROCESS (Linux >= 4.14): kill rules cannot kill the whole process',
      );
    if (!support.userNotif)
      problems.push(
        'no SECCOMP_RET_USER_NOTIF (Linux >= 5.0): spawn=deny cannot arm the exec gate',
      );
    if (!support.log)
      problems.push('no SECCOMP_RET_LOG (Linux >= 4.14): action=log is unavailable');
  }

  let config: SiteConfig = {};
  let configError: string | null = null;
  let policies: DoctorJson['policies'] = null;
  try {
    config = siteConfig(ctx.env);
    policies = sitePolicies(config, problems);
  } catch (err) {
    configError = oneLine(err);
    problems.push(configError);
  }

  let qemu: QemuInfo;
  try {
    const found = resolveQemuBinary(ctx.env, config);
    const probe = probeQemu(found.path);
    qemu = {
      binary: found.path,
      source: found.source,
      ...(found.divertedFrom !== undefined ? { divertedFrom: found.divertedFrom } : {}),
      ...probe,
    };
    if (probe.error) problems.push(probe.error);
  } catch (err) {
    qemu = { binary: null, source: 'none', version: null, ownSandbox: null, error: oneLine(err) };
    problems.push(oneLine(err));
  }

  let pf: DoctorJson['preflight'] = null;
  if (opts.qemuArgs.length) pf = planPreflight(ctx, opts, config, problems);

  return {
    host: {
      ...support,
      abi: abiName,
      secondaryAbis: host.secondary.map((a) => a.name),
      landlock,
      landlockAbi,
    },
    config: {
      path: config.path ?? null,
      sandbox: config.sandbox ?? null,
      minimum: config.minimum ?? null,
      vms: config.vms ? Object.fromEntries(config.vms) : null,
      binary: config.binary ?? null,
      error: configError,
    },
    policies,
    qemu,
    preflight: pf,
    problems,
  };
}

function filesWords(l: LandlockInfo): string {
  if (l.abi >= FILES_ABI) return `available (Landlock ABI ${l.abi})`;
  return l.abi === 0
    ? `unavailable: ${l.reason ?? 'no Landlock'}`
    : `unavailable: Landlock ABI ${l.abi} (needs ${FILES_ABI}, Linux 6.2)`;
}

/** A full policy string in its short form ("on" plus what differs from the default). */
function shortPolicy(full: string): string {
  return full === 'off' ? 'off' : policyToString(parsePolicy(full, ''));
}

function yn(v: boolean | null | undefined, yes = 'yes', no = 'NO'): string {
  return v === null || v === undefined ? 'unknown' : v ? yes : no;
}

export function formatDoctor(d: DoctorJson): string {
  const h = d.host;
  const rows: string[][] = [
    [
      'kernel',
      `${h.kernel} (${h.abi}${h.secondaryAbis.length ? `; foreign ABIs ${h.secondaryAbis.join(', ')} are killed` : ''})`,
    ],
    ['seccomp filter', yn(h.seccompFilter)],
    ['actions_avail', h.actionsAvail.join(' ') || 'none'],
    ['KILL_PROCESS', yn(h.killProcess, 'yes (kill rules kill the whole process)')],
    ['USER_NOTIF', yn(h.userNotif, 'yes (spawn=deny exec gate)')],
    ['LOG', yn(h.log, 'yes (action=log)')],
    [
      'action cache',
      yn(
        h.actionCache,
        'yes (Linux >= 5.11: allowed calls run no BPF)',
        'no (Linux < 5.11: every call runs the filter)',
      ),
    ],
    [
      'no-new-privs',
      `${yn(h.noNewPrivs, 'supported')}; ${h.noNewPrivsSet ? 'already set on this process' : 'not set'}; ` +
        `CAP_SYS_ADMIN ${h.capSysAdmin ? 'yes: set only for elevateprivileges=deny|children' : 'no: the launcher must set it'}`,
    ],
    [
      'landlock',
      h.landlock.startsWith('none')
        ? `${h.landlock} (QEMU can signal, and write /proc/PID/mem of, other processes of its user)`
        : `${h.landlock} for QEMU under -sandbox on`,
    ],
    ['files=deny', filesWords(h.landlockAbi)],
    [
      'this process',
      h.currentSeccompMode === 2 ? 'already under a seccomp filter (filters stack)' : 'no filter',
    ],
  ];
  let text = `host\n${table(rows, '  ')}`;
  const c = d.config;
  text += `config\n${table(
    [
      ['file', c.error ?? c.path ?? 'none (built-in default "on")'],
      ...(c.sandbox !== null ? [['sandbox', c.sandbox]] : []),
      ...Object.entries(c.vms ?? {}).map(([name, v]) => [`vms.${name}`, v]),
      ...(c.minimum !== null ? [['minimum', c.minimum]] : []),
      ...(c.binary !== null ? [['binary', c.binary]] : []),
    ],
    '  ',
  )}`;
  if (d.policies) {
    // Effective policies of launches without -sandbox: site default < vms.NAME, then the minimum.
    const row = (label: string, e: EffectivePolicy): string[] => [
      label,
      shortPolicy(e.policy) +
        (e.tightened.length ? `  (raised by the minimum: ${tighteningWords(e.tightened)})` : ''),
    ];
    text += `policy without -sandbox\n${table(
      [
        row('site default', d.policies.site),
        ...Object.entries(d.policies.vms).map(([name, e]) => row(`vm ${name}`, e)),
      ],
      '  ',
    )}`;
  }
  const q = d.qemu;
  text += `qemu\n${table(
    [
      ['binary', q.binary ? `${q.binary} (${q.source})` : (q.error ?? 'not found')],
      ...(q.divertedFrom !== undefined
        ? [['host-wide', `${q.divertedFrom} is the launcher; QEMU was diverted to ${q.binary}`]]
        : []),
      ['version', q.version ?? 'unknown'],
      [
        'own -sandbox',
        q.binary ? yn(q.ownSandbox, 'yes (QEMU can stack its own filter)', 'no') : 'unknown',
      ],
    ],
    '  ',
  )}`;
  if (d.preflight) {
    const p = d.preflight;
    text += `preflight\n${table(
      [
        ['policy', p.policy],
        ...(p.vm !== null ? [['vm', p.vm]] : []),
        ...(p.tightened.length ? [['minimum', `raised ${tighteningWords(p.tightened)}`]] : []),
        ['no-new-privs', p.noNewPrivs ? 'will be set' : 'will not be set'],
        [
          'verdict',
          p.verdict === 'ok'
            ? 'ok: the launcher would start QEMU'
            : p.verdict === 'refused'
              ? 'REFUSED'
              : 'warnings (preflight=warn: starts anyway)',
        ],
      ],
      '  ',
    )}`;
    for (const f of p.findings)
      text += `  - '${f.arg}' (${f.setting}): ${f.message}\n    fix: ${f.fix}\n`;
    if (p.refusal) text += `  - ${p.refusal.message} (exit ${p.refusal.exitCode})\n`;
    if (p.files) {
      text += `files=deny: QEMU may use (${p.files.rules.length} rules)\n`;
      text += table(
        p.files.rules.map((r) => [r.access, r.path, `# ${r.why}`]),
        '  ',
      );
      for (const x of p.files.prepare) text += `  the launcher will first ${x.action} ${x.path}\n`;
    }
  }
  text += d.problems.length
    ? `problems\n${d.problems.map((p) => `  - ${p}\n`).join('')}`
    : 'no problems found\n';
  return text;
}

export function runDoctor(ctx: CliContext, opts: DoctorOptions): void {
  const d = doctor(ctx, opts);
  ctx.stdout.write(opts.json ? toJson(d) : formatDoctor(d));
  if (d.problems.length) throw new DoctorProblems(d.problems.length);
}

/** Exit 1 after the report: the report itself already said what is wrong. */
export class DoctorProblems extends Error {
  override readonly name = 'DoctorProblems';
  constructor(count: number) {
    super(`${count} problem${count === 1 ? '' : 's'} found`);
  }
}
