/**
 * `audit [FILE|-] [--since TIME]`: "why did my VM die?" Each kernel seccomp
 * record becomes: when, which process, which ABI and syscall, what the filter
 * did, which of our groups denies that call, and the -sandbox change that
 * would allow it. Each Landlock denial (files=deny, and the scoping every
 * -sandbox on applies) becomes: when, QEMU's pid, the process refused, the
 * path and access, and the extra path that would allow it. With --suggest
 * (and the launch records), per VM the strictest policy it would have run
 * under without one denial (../suggest.ts); with --format prometheus, the
 * seccomp records as counters (../prometheus.ts).
 */
import {
  ABI_NAMES,
  X32_SYSCALL_BIT,
  detectHostAbi,
  getAbi,
  getHostAbi,
  parseAbiName,
} from '../../arch';
import type { Abi } from '../../arch/types';
import { activeRules, groupOf, policyChangeToAllow } from '../../policy';
import type { GroupName } from '../../policy/types';
import { describeCode, parseSeccompRecords, type SeccompRecord } from '../audit-record';
import { readInputFile, readKernelLog } from '../audit-source';
import { allowDenial, parseLandlockDenials } from '../landlock-record';
import type { CliContext } from '../context';
import { table, toJson } from '../context';
import { InputError, UsageError } from '../errors';
import { LaunchIndex, parseLaunchRecords, vmLabel, type LaunchSeen } from '../launch-records';
import { prometheusText, writeFileAtomic, type RecordSample } from '../prometheus';
import { suggestPolicies, type ObservedCall, type SuggestResult } from '../suggest';
import { readPolicy, type PolicyArg } from '../policy-input';
import { parseSince } from '../since';

/** What main.ts passes for a lone "-" argument: standard input. */
export const STDIN_ARG = '\u0000-';

export interface AuditOptions {
  readonly file?: string;
  readonly since?: string;
  readonly policy?: string;
  readonly json: boolean;
  /** The policy advisor: per VM, the strictest policy without one denial (needs launches). */
  readonly suggest?: boolean;
  /** table (default) or prometheus (the counters, for node_exporter's textfile collector). */
  readonly format?: AuditFormat;
  /** Files holding launch records (QEMU_SANDBOXED_LOG, libvirt's domain logs): pid -> VM. */
  readonly launches?: readonly string[];
  /** With --format prometheus: write here atomically instead of stdout. */
  readonly output?: string;
}

export const AUDIT_FORMATS = ['table', 'prometheus'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export interface AuditEntry {
  readonly time: string | null;
  readonly pid: number | null;
  readonly auid: number | null;
  readonly uid: number | null;
  readonly gid: number | null;
  readonly ses: number | null;
  readonly comm: string | null;
  readonly exe: string | null;
  readonly arch: string | null;
  readonly abi: string | null;
  readonly syscall: { readonly nr: number | null; readonly name: string | null };
  /** What the filter did: kill-process, kill-thread, trap, errno N, log, ... */
  readonly action: string;
  /** The raw SECCOMP_RET_* value (`code=`). */
  readonly code: number | null;
  readonly signal: number | null;
  readonly compat: number | null;
  /** Instruction pointer of the call, hex. */
  readonly ip: string | null;
  /** Our group that names this call, if any. */
  readonly group: GroupName | null;
  /** Whether the --policy (default: the site default) denies this call on this ABI. */
  readonly deniedByPolicy: boolean | null;
  /** The -sandbox change that allows the call, or why there is none. */
  readonly allowWith: string;
  readonly raw: string;
}

/** One Landlock denial, explained. */
export interface LandlockEntry {
  readonly time: string | null;
  /** The VM (`-name`, else `pid N`) from the --launches records, or null without them. */
  readonly vm: string | null;
  /** The process that entered the domain: the launcher, so QEMU's pid (exec in place). */
  readonly qemuPid: number | null;
  /** The process refused (QEMU, or a child of it). */
  readonly pid: number | null;
  readonly comm: string | null;
  readonly exe: string | null;
  readonly syscall: { readonly nr: number | null; readonly name: string | null };
  readonly blockers: readonly string[];
  readonly path: string | null;
  /** The extra path access that allows it (ro, rw), or null when none can. */
  readonly access: 'ro' | 'rw' | null;
  readonly allowWith: string;
  readonly raw: string;
}

export interface AuditJson {
  readonly source: string;
  readonly policy: string;
  readonly since: string | null;
  readonly records: AuditEntry[];
  readonly landlock: LandlockEntry[];
}

/** The ABI of a record: its audit arch, and on x86_64 the x32 syscall bit. */
export function abiOfRecord(r: SeccompRecord): Abi | undefined {
  if (r.arch === undefined) {
    if (r.archName === undefined) return undefined;
    try {
      return getAbi(parseAbiName(r.archName));
    } catch {
      return undefined;
    }
  }
  const candidates = ABI_NAMES.map(getAbi).filter((a) => a.auditArch === r.arch);
  if (candidates.length === 0) return undefined;
  const x32 =
    r.syscall !== undefined &&
    r.syscall !== -1 &&
    (r.syscall & X32_SYSCALL_BIT) !== 0 &&
    r.syscall >= 0;
  return candidates.find((a) => (a.syscallBit !== undefined) === x32) ?? candidates[0];
}

function hexArch(arch: number | undefined, name: string | undefined): string | null {
  if (arch !== undefined) return arch.toString(16).padStart(8, '0');
  return name ?? null;
}

/** The numbers a policy denies on an ABI, computed once per (policy, ABI): logs hold thousands of records. */
const deniedCache = new WeakMap<PolicyArg, Map<string, ReadonlySet<number>>>();
function deniedNumbers(policy: PolicyArg, abi: Abi): ReadonlySet<number> {
  let byAbi = deniedCache.get(policy);
  if (!byAbi) deniedCache.set(policy, (byAbi = new Map()));
  let set = byAbi.get(abi.name);
  if (!set) byAbi.set(abi.name, (set = new Set(activeRules(policy.policy, abi).map((r) => r.nr))));
  return set;
}

export function explainRecord(
  r: SeccompRecord,
  policy: PolicyArg,
  hostName = detectHostAbi(),
): AuditEntry {
  const abi = abiOfRecord(r);
  const nr =
    r.syscall ?? (r.syscallName !== undefined ? abi?.syscalls.get(r.syscallName) : undefined);
  const name = (nr !== undefined ? abi?.names.get(nr) : undefined) ?? r.syscallName ?? null;
  const host = getHostAbi(hostName);
  const foreign = abi !== undefined && host.secondary.some((s) => s.name === abi.name);
  let group: GroupName | null = null;
  let deniedByPolicy: boolean | null = null;
  let allowWith: string;
  if (!abi) {
    allowWith = `unknown audit arch ${hexArch(r.arch, r.archName)}: not a supported ABI`;
  } else if (foreign) {
    // Whatever the record's action (action=log lets them through), no group switch allows them.
    allowWith = `none short of -sandbox off: ${abi.name} is a foreign ABI on ${host.native.name}, which QEMU never uses`;
    deniedByPolicy = policy.policy.enable;
  } else if (name === null) {
    allowWith = `none: ${nr} is not a syscall of ${abi.name}`;
  } else {
    group = groupOf(name) ?? null;
    deniedByPolicy = deniedNumbers(policy, abi).has(nr ?? -1);
    if (group === null) {
      allowWith =
        "not one of our groups: another filter denied it (QEMU's own -sandbox, a container runtime, systemd)";
    } else {
      const change = policyChangeToAllow(group);
      allowWith =
        change === 'off'
          ? '-sandbox off (the default group is always on: no finer switch)'
          : change;
    }
  }
  return {
    time: r.timeMs !== undefined ? new Date(r.timeMs).toISOString() : null,
    pid: r.pid ?? null,
    auid: r.auid ?? null,
    uid: r.uid ?? null,
    gid: r.gid ?? null,
    ses: r.ses ?? null,
    comm: r.comm ?? null,
    exe: r.exe ?? null,
    arch: hexArch(r.arch, r.archName),
    abi: abi?.name ?? null,
    syscall: { nr: nr ?? null, name },
    action: describeCode(r.code),
    code: r.code ?? null,
    signal: r.sig ?? null,
    compat: r.compat ?? null,
    ip: r.ip !== undefined ? `0x${r.ip.toString(16)}` : null,
    group,
    deniedByPolicy,
    allowWith,
    raw: r.raw,
  };
}

async function readInput(
  ctx: CliContext,
  file: string | undefined,
): Promise<{ text: string; source: string }> {
  if (file === STDIN_ARG || file === '-')
    return { text: (await ctx.readStdin()).toString('utf8'), source: 'stdin' };
  if (file !== undefined) return { text: readInputFile(file), source: file };
  return readKernelLog();
}

interface ReadRecords {
  readonly source: string;
  readonly text: string;
  readonly sinceMs: number | undefined;
  readonly policy: PolicyArg;
  readonly records: readonly SeccompRecord[];
}

async function readRecords(ctx: CliContext, opts: AuditOptions): Promise<ReadRecords> {
  const sinceMs = opts.since !== undefined ? parseSince(opts.since, ctx.now()) : undefined;
  const policy = readPolicy(opts.policy ?? '', ctx.env);
  const input = await readInput(ctx, opts.file);
  const records = parseSeccompRecords(input.text).filter(
    // A record without a time cannot be placed: keep it only without --since.
    (r) => sinceMs === undefined || (r.timeMs !== undefined && r.timeMs >= sinceMs),
  );
  return { source: input.source, text: input.text, sinceMs, policy, records };
}

export async function audit(ctx: CliContext, opts: AuditOptions): Promise<AuditJson> {
  const { source, text, sinceMs, policy, records } = await readRecords(ctx, opts);
  const host = getAbi(detectHostAbi());
  const denials = parseLandlockDenials(text).filter(
    (d) => sinceMs === undefined || (d.timeMs !== undefined && d.timeMs >= sinceMs),
  );
  // QEMU's pid (the domain's owner) and the time name the launch, so the VM.
  const index = opts.launches?.length ? new LaunchIndex(readLaunches(opts.launches)) : undefined;
  const vmOf = (d: (typeof denials)[number]): string | null => {
    if (!index || d.domainPid === undefined) return null;
    const a = index.attribute({ pid: d.domainPid, timeMs: d.timeMs });
    return a.kind === 'unknown' ? null : vmLabel(a.launch);
  };
  return {
    source,
    policy: policy.canonical,
    since: sinceMs !== undefined ? new Date(sinceMs).toISOString() : null,
    records: records.map((r) => explainRecord(r, policy)),
    landlock: denials.map((d) => {
      const allow = allowDenial(d);
      return {
        time: d.timeMs !== undefined ? new Date(d.timeMs).toISOString() : null,
        vm: vmOf(d),
        qemuPid: d.domainPid ?? null,
        pid: d.pid ?? null,
        comm: d.comm ?? null,
        exe: d.exe ?? null,
        syscall: {
          nr: d.syscall ?? null,
          name: d.syscall !== undefined ? (host.names.get(d.syscall) ?? null) : null,
        },
        blockers: d.blockers,
        path: d.path ?? null,
        access: allow.access,
        allowWith: allow.words,
        raw: d.raw,
      };
    }),
  };
}

/** Every launch record in the --launches files. */
function readLaunches(files: readonly string[]): LaunchSeen[] {
  return files.flatMap((f) => parseLaunchRecords(readInputFile(f), f));
}

/**
 * Signs in the input that the kernel dropped records (without auditd its
 * printk rate limit does, and auditd's backlog can overflow): the advisor
 * then may see too few calls and suggest too strict a policy.
 */
export function lostRecordWarnings(text: string): string[] {
  const out: string[] = [];
  const suppressed = text
    .split('\n')
    .filter((l) => /kauditd_printk_skb: \d+ callbacks suppressed/.test(l));
  if (suppressed.length > 0) {
    out.push(
      `the kernel log dropped audit records (${suppressed.length} "kauditd_printk_skb: N callbacks suppressed" line(s)): ` +
        'calls may be missing, so a suggested deny may be too strict; collect with auditd (/var/log/audit/audit.log) instead',
    );
  }
  if (/audit: (backlog limit exceeded|audit_lost=\d+)/.test(text)) {
    out.push('the audit backlog overflowed (records lost): a suggested deny may be too strict');
  }
  return out;
}

export interface SuggestJson extends SuggestResult {
  readonly source: string;
  readonly since: string | null;
  readonly launchFiles: readonly string[];
  readonly warnings: readonly string[];
}

/** `audit --suggest`: the records, matched to launches, through the advisor. */
export async function auditSuggest(ctx: CliContext, opts: AuditOptions): Promise<SuggestJson> {
  const files = opts.launches ?? [];
  if (files.length === 0) {
    throw new InputError(
      '--suggest needs the launch records, to know which VM each pid was and its policy: ' +
        "--launches FILE (QEMU_SANDBOXED_LOG's file, or libvirt's /var/log/libvirt/qemu/*.log)",
    );
  }
  const r = await readRecords(ctx, opts);
  const all = readLaunches(files);
  const index = new LaunchIndex(all);
  const calls: ObservedCall[] = r.records.map((rec) => {
    const e = explainRecord(rec, r.policy);
    return {
      abi: e.abi,
      syscall: e.syscall.name,
      nr: e.syscall.nr,
      action: e.action,
      attribution: index.attribute(rec),
    };
  });
  // Launches of the period (a clean dry run has no records but counts), and
  // any earlier launch still making records in it.
  const launches = all.filter((l) => r.sinceMs === undefined || l.timeMs >= r.sinceMs);
  const result = suggestPolicies(calls, launches);
  const warnings = lostRecordWarnings(r.text);
  if (all.length === 0) warnings.push(`no launch record in ${files.join(', ')}`);
  return {
    source: r.source,
    since: r.sinceMs !== undefined ? new Date(r.sinceMs).toISOString() : null,
    launchFiles: files,
    warnings,
    ...result,
  };
}

/** `audit --format prometheus`: one sample per record, by VM (when launches are given), group, syscall, action. */
export async function auditMetrics(ctx: CliContext, opts: AuditOptions): Promise<string> {
  const r = await readRecords(ctx, opts);
  const index = new LaunchIndex(readLaunches(opts.launches ?? []));
  const samples: RecordSample[] = [];
  for (const rec of r.records) {
    const a = index.attribute(rec);
    // The launcher's own exec of QEMU is no call of QEMU's.
    if (a.kind === 'launcher') continue;
    const e = explainRecord(rec, r.policy);
    samples.push({
      vm: a.kind === 'vm' ? vmLabel(a.launch) : '',
      group: e.group ?? '',
      syscall: e.syscall.name ?? (e.syscall.nr !== null ? `#${e.syscall.nr}` : ''),
      action: e.action,
    });
  }
  return prometheusText(samples);
}

function writeSuggest(ctx: CliContext, s: SuggestJson): void {
  const out: string[] = [];
  for (const w of s.warnings) out.push(`warning: ${w}`);
  if (s.vms.length === 0)
    out.push(`no launches in ${s.launchFiles.join(', ')}${s.since ? ` since ${s.since}` : ''}`);
  const entries: Record<string, string> = {};
  for (const vm of s.vms) {
    out.push(
      `VM ${vm.vm}: ${vm.launches} launch${vm.launches === 1 ? '' : 'es'} (${vm.dryRunLaunches} dry run), ${vm.records} record${vm.records === 1 ? '' : 's'}`,
    );
    out.push(`  suggested: ${vm.policy ?? '(none: no dry-run launch)'}`);
    if (vm.policy !== null && vm.named) entries[vm.vm] = vm.policy;
    const rows = [['KEY', 'VALUE', 'BECAUSE']];
    for (const st of vm.settings) {
      const because =
        st.basis === 'recorded'
          ? st.evidence.map((c) => `${c.syscall} x${c.count}`).join(', ')
          : st.basis === 'clean'
            ? `no call it would refuse in ${vm.dryRunLaunches} dry-run launch${vm.dryRunLaunches === 1 ? '' : 'es'}`
            : 'not in force in every dry run: no evidence';
      const fallbacks =
        st.fallbacks.length === 0
          ? ''
          : `; ENOSYS, as from an older kernel (the caller falls back): ${st.fallbacks.map((c) => `${c.syscall} x${c.count}`).join(', ')}`;
      rows.push([st.key, st.value, because + fallbacks]);
    }
    out.push(table(rows, '  ').trimEnd());
    if (vm.alwaysDenied.length > 0) {
      out.push(
        `  denied by every policy (default group): ${vm.alwaysDenied.map((c) => `${c.syscall} x${c.count}`).join(', ')}`,
      );
    }
    if (vm.foreignAbi > 0)
      out.push(`  calls of another ABI (denied by every policy): ${vm.foreignAbi}`);
    if (vm.otherFilter.length > 0) {
      out.push(
        `  not ours (another filter): ${vm.otherFilter.map((c) => `${c.syscall} x${c.count}`).join(', ')}`,
      );
    }
    for (const n of vm.notes) out.push(`  note: ${n}`);
  }
  if (s.fleet.policy !== null) out.push(`fleet (every recorded VM at once): ${s.fleet.policy}`);
  if (s.unattributed.length > 0) {
    out.push(
      `records of processes no launch names (children of VMs, other programs): ${s.unattributed.map((c) => `${c.syscall} x${c.count}`).join(', ')}`,
    );
  }
  if (Object.keys(entries).length > 0) {
    out.push('for the site config:');
    out.push(JSON.stringify({ vms: entries }, null, 2));
  }
  ctx.stdout.write(`${out.join('\n')}\n`);
}

export async function runAudit(ctx: CliContext, opts: AuditOptions): Promise<void> {
  if (opts.policy === '')
    throw new InputError('--policy is empty: give a -sandbox string such as on,spawn=deny');
  const format = opts.format ?? 'table';
  if (opts.output !== undefined && format !== 'prometheus') {
    throw new UsageError(
      '--output is for --format prometheus (the textfile collector reads a file)',
    );
  }
  if (format === 'prometheus') {
    if (opts.json || opts.suggest) {
      throw new UsageError('--format prometheus writes counters: not with --json or --suggest');
    }
    const text = await auditMetrics(ctx, opts);
    if (opts.output === undefined) ctx.stdout.write(text);
    else {
      try {
        writeFileAtomic(opts.output, text);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new InputError(`cannot write ${opts.output}: ${err.code ?? err.message}`);
      }
    }
    return;
  }
  if (opts.suggest) {
    const s = await auditSuggest(ctx, opts);
    if (opts.json) ctx.stdout.write(toJson(s));
    else writeSuggest(ctx, s);
    return;
  }
  const a = await audit(ctx, opts);
  if (opts.json) {
    ctx.stdout.write(toJson(a));
    return;
  }
  const where = `${a.source}${a.since ? ` since ${a.since}` : ''}`;
  if (a.records.length === 0) {
    ctx.stdout.write(`no seccomp records in ${where}\n`);
  } else {
    const rows = [['TIME', 'PID', 'COMM', 'ABI', 'SYSCALL', 'ACTION', 'GROUP', 'ALLOW WITH']];
    for (const e of a.records) {
      rows.push([
        e.time ?? '-',
        e.pid?.toString() ?? '-',
        e.comm ?? '-',
        e.abi ?? e.arch ?? '-',
        e.syscall.name ?? (e.syscall.nr !== null ? `#${e.syscall.nr}` : '-'),
        e.action,
        e.group ?? '-',
        e.allowWith,
      ]);
    }
    ctx.stdout.write(table(rows));
  }
  if (a.landlock.length === 0) {
    // Landlock writes its records only while audit is enabled: say so once.
    ctx.stdout.write(
      `no Landlock records in ${where} (the kernel writes them only while audit is enabled: auditd, or auditctl -e 1)\n`,
    );
    return;
  }
  const rows = [
    ['TIME', 'VM', 'QEMU PID', 'PID', 'COMM', 'SYSCALL', 'REFUSED', 'PATH', 'ALLOW WITH'],
  ];
  for (const e of a.landlock) {
    rows.push([
      e.time ?? '-',
      e.vm ?? '-',
      e.qemuPid?.toString() ?? '-',
      e.pid?.toString() ?? '-',
      e.comm ?? '-',
      e.syscall.name ?? (e.syscall.nr !== null ? `#${e.syscall.nr}` : '-'),
      e.blockers.join(','),
      e.path ?? '-',
      e.allowWith,
    ]);
  }
  ctx.stdout.write(`Landlock denials\n${table(rows)}`);
}
