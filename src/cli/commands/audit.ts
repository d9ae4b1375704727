/**
 * `audit [FILE|-] [--since TIME]`: "why did my VM die?" Each kernel seccomp
 * record becomes: when, which process, which ABI and syscall, what the filter
 * did, which of our groups denies that call, and the -sandbox change that
 * would allow it. Each Landlock denial (files=deny, and the scoping every
 * -sandbox on applies) becomes: when, QEMU's pid, the process refused, the
 * path and access, and the extra path that would allow it.
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
import { InputError } from '../errors';
import { readPolicy, type PolicyArg } from '../policy-input';
import { parseSince } from '../since';

/** What main.ts passes for a lone "-" argument: standard input. */
export const STDIN_ARG = '\u0000-';

export interface AuditOptions {
  readonly file?: string;
  readonly since?: string;
  readonly policy?: string;
  readonly json: boolean;
}

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

export async function audit(ctx: CliContext, opts: AuditOptions): Promise<AuditJson> {
  const sinceMs = opts.since !== undefined ? parseSince(opts.since, ctx.now()) : undefined;
  const policy = readPolicy(opts.policy ?? '', ctx.env);
  const input = await readInput(ctx, opts.file);
  const records = parseSeccompRecords(input.text).filter(
    // A record without a time cannot be placed: keep it only without --since.
    (r) => sinceMs === undefined || (r.timeMs !== undefined && r.timeMs >= sinceMs),
  );
  const host = getAbi(detectHostAbi());
  const denials = parseLandlockDenials(input.text).filter(
    (d) => sinceMs === undefined || (d.timeMs !== undefined && d.timeMs >= sinceMs),
  );
  return {
    source: input.source,
    policy: policy.canonical,
    since: sinceMs !== undefined ? new Date(sinceMs).toISOString() : null,
    records: records.map((r) => explainRecord(r, policy)),
    landlock: denials.map((d) => {
      const allow = allowDenial(d);
      return {
        time: d.timeMs !== undefined ? new Date(d.timeMs).toISOString() : null,
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

export async function runAudit(ctx: CliContext, opts: AuditOptions): Promise<void> {
  if (opts.policy === '')
    throw new InputError('--policy is empty: give a -sandbox string such as on,spawn=deny');
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
  const rows = [['TIME', 'QEMU PID', 'PID', 'COMM', 'SYSCALL', 'REFUSED', 'PATH', 'ALLOW WITH']];
  for (const e of a.landlock) {
    rows.push([
      e.time ?? '-',
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
