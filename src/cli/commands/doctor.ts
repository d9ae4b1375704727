/**
 * `doctor [-- QEMU ARGS...]`: can this host run QEMU under our filter, which
 * QEMU would run, and would the launcher accept this command line? Exits 1
 * when something would make the launcher refuse to start, so scripts can
 * gate on it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectHostAbi, getHostAbi } from '../../arch';
import {
  extractSandbox,
  resolveSandboxPolicy,
  policyToString,
  DEFAULT_POLICY_STRING,
} from '../../policy';
import type { SiteConfig } from '../../policy';
import { filesFindings, preflight, type PreflightFinding } from '../../../launcher/preflight';
import { accessWords, extraFiles, planFiles } from '../../../launcher/files';
import { hostFileFacts } from '../../../launcher/file-facts';
import { planLandlock, FILES_ABI, SCOPE_ABI } from '../../../launcher/landlock';
import { checkKernelSupport } from '../../../launcher/kernel';
import { planNoNewPrivs } from '../../../launcher/no-new-privs';
import { compilePolicy } from '../../compiler';
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
    readonly landlock: LandlockInfo;
  };
  readonly config: {
    path: string | null;
    sandbox: string | null;
    binary: string | null;
    error: string | null;
  };
  readonly qemu: QemuInfo;
  readonly preflight: {
    policy: string;
    noNewPrivs: boolean;
    mode: 'enforce' | 'warn';
    findings: PreflightFinding[];
    verdict: 'ok' | 'refused' | 'warnings';
    /** files=deny: what the Landlock ruleset grants (null with files=allow). */
    files: FilesInfo | null;
  } | null;
  readonly problems: string[];
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

/** Reads /proc paths under a test root, like probeHost does. */
function procReader(root: string | undefined): (path: string) => string {
  return (p) => readFileSync(root === undefined ? p : join(root, p), 'latin1');
}

/** The kernel's Landlock ABI, asked the way the launcher asks it (one syscall through FFI). */
function landlockInfo(host: ReturnType<typeof getHostAbi>): LandlockInfo {
  const nr = (name: string): number => host.native.syscalls.get(name) ?? -1;
  const numbers = {
    createRuleset: nr('landlock_create_ruleset'),
    addRule: nr('landlock_add_rule'),
    restrictSelf: nr('landlock_restrict_self'),
  };
  if (numbers.createRuleset < 0) return { abi: 0, reason: 'no Landlock syscalls on this ABI' };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const native = require('../../native/landlock') as typeof import('../../native/landlock');
    const support = native.landlockSupport(numbers);
    return { abi: support.abi, reason: 'reason' in support ? support.reason : null };
  } catch (err) {
    return { abi: 0, reason: `cannot ask the kernel: ${oneLine(err)}` };
  }
}

export function doctor(ctx: CliContext, opts: DoctorOptions): DoctorJson {
  const problems: string[] = [];
  const support = probeHost(opts.procRoot, opts.release);
  const abiName = detectHostAbi();
  const host = getHostAbi(abiName);
  const landlock = landlockInfo(host);

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
  try {
    config = siteConfig(ctx.env);
  } catch (err) {
    configError = oneLine(err);
    problems.push(configError);
  }

  let qemu: QemuInfo;
  try {
    const found = resolveQemuBinary(ctx.env, config);
    const probe = probeQemu(found.path);
    qemu = { binary: found.path, source: found.source, ...probe };
    if (probe.error) problems.push(probe.error);
  } catch (err) {
    qemu = { binary: null, source: 'none', version: null, ownSandbox: null, error: oneLine(err) };
    problems.push(oneLine(err));
  }

  let pf: DoctorJson['preflight'] = null;
  if (opts.qemuArgs.length) {
    let extracted;
    try {
      extracted = extractSandbox(opts.qemuArgs);
      const resolved = resolveSandboxPolicy(extracted.sandboxValues, {
        defaultString: config.sandbox ?? DEFAULT_POLICY_STRING,
        defaultOrigin: config.path ? `sandbox in ${config.path}` : 'default policy',
      });
      const policy = resolved.policy;
      // The launcher's own decision (issue 4): set for elevateprivileges=deny|children and
      // whenever the kernel requires it, and in effect too when our caller already set it.
      const noNewPrivs = planNoNewPrivs(
        policy,
        procReader(opts.procRoot)('/proc/self/status'),
      ).inEffect;
      const findings = preflight(extracted.qemuArgs, policy, {
        noNewPrivs,
        sandboxOnCommandLine: extracted.sandboxValues.length > 0,
      });
      // files=deny: the launcher's own plan for this command line, on this host's files.
      let files: FilesInfo | null = null;
      if (policy.enable && policy.files === 'deny') {
        const plan = planFiles(extracted.qemuArgs, {
          cwd: process.cwd(),
          env: ctx.env,
          binary: qemu.binary ?? 'qemu-system-x86_64',
          pid: process.pid,
          extras: extraFiles(config, ctx.env),
          facts: hostFileFacts(),
        });
        findings.push(...filesFindings(plan.refusals));
        files = {
          rules: plan.entries.map((e) => ({
            path: e.path,
            access: accessWords(e.access),
            why: e.why,
          })),
          prepare: plan.prepare.map((p) => ({
            action: p.kind === 'create' ? 'create empty' : `remove the stale ${p.type}`,
            path: p.path,
          })),
        };
        const ll = planLandlock(policy, {
          abi: landlock.abi,
          reason: landlock.reason ?? undefined,
        });
        if (!ll.apply && ll.missing) problems.push(ll.reason);
      }
      const verdict =
        findings.length === 0 ? 'ok' : policy.preflight === 'warn' ? 'warnings' : 'refused';
      if (verdict === 'refused')
        problems.push(
          `preflight refuses this command line (${findings.length} finding${findings.length === 1 ? '' : 's'})`,
        );
      if (policy.enable) {
        // The launcher's own check on the program it would load: names what this kernel lacks.
        try {
          checkKernelSupport(compilePolicy(policy, abiName).program, procReader(opts.procRoot));
        } catch (err) {
          problems.push(oneLine(err));
        }
      }
      pf = {
        policy: policyToString(policy, { full: true }),
        noNewPrivs,
        mode: policy.preflight,
        findings,
        verdict,
        files,
      };
    } catch (err) {
      throw new InputError(oneLine(err));
    }
  }

  return {
    host: {
      ...support,
      abi: abiName,
      secondaryAbis: host.secondary.map((a) => a.name),
      landlock,
    },
    config: {
      path: config.path ?? null,
      sandbox: config.sandbox ?? null,
      binary: config.binary ?? null,
      error: configError,
    },
    qemu,
    preflight: pf,
    problems,
  };
}

function landlockWords(l: LandlockInfo): string {
  if (l.abi === 0) return `none: ${l.reason ?? 'unknown'} (files=deny cannot run)`;
  const what = [
    l.abi >= SCOPE_ABI
      ? 'scopes signals and abstract sockets'
      : `no scoping (needs ABI ${SCOPE_ABI})`,
    l.abi >= FILES_ABI ? 'files=deny can run' : `files=deny cannot run (needs ABI ${FILES_ABI})`,
  ];
  return `ABI ${l.abi}: ${what.join('; ')}`;
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
      'this process',
      h.currentSeccompMode === 2 ? 'already under a seccomp filter (filters stack)' : 'no filter',
    ],
    ['Landlock', landlockWords(h.landlock)],
  ];
  let text = `host\n${table(rows, '  ')}`;
  const c = d.config;
  text += `config\n${table(
    [
      ['file', c.error ?? c.path ?? 'none (built-in default "on")'],
      ...(c.sandbox !== null ? [['sandbox', c.sandbox]] : []),
      ...(c.binary !== null ? [['binary', c.binary]] : []),
    ],
    '  ',
  )}`;
  const q = d.qemu;
  text += `qemu\n${table(
    [
      ['binary', q.binary ? `${q.binary} (${q.source})` : (q.error ?? 'not found')],
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
