/**
 * The launcher's launch records (one JSON line per launch, written by pino:
 * `{"level":30,"time":"...","pid":N,"name":"qemu-sandboxed","msg":"launch",...}`)
 * read back from wherever they landed: a QEMU_SANDBOXED_LOG file, or
 * libvirt's domain logs (/var/log/libvirt/qemu/NAME.log), which copy QEMU's
 * stderr and mix in lines of their own. The advisor and the metrics use them
 * to map kernel records to VMs: the launcher execs QEMU in place, so the
 * record's pid is QEMU's pid.
 */
import { parsePolicy } from '../policy/sandbox-option';
import type { SandboxPolicy } from '../policy/types';

/** One launch, as the advisor needs it. */
export interface LaunchSeen {
  /** ms since the epoch (the record's `time`). */
  readonly timeMs: number;
  /** QEMU's pid (the launcher's: it execs QEMU in place). */
  readonly pid: number;
  /** `-name guest=NAME`, or null. */
  readonly vm: string | null;
  readonly policyText: string;
  readonly policy: SandboxPolicy;
  /**
   * action=log as the dry run (every rule logged). A record without the
   * field comes from a launcher whose action=log still refused errno rules:
   * not a dry run, so not evidence.
   */
  readonly dryRun: boolean;
  /** The launcher's own executable, when the record says it. */
  readonly launcherExe: string | null;
  readonly binary: string | null;
  /** The host ABI the filter was compiled for (null with -sandbox off). */
  readonly abi: string | null;
  /** "FILE:LINE", for the evidence. */
  readonly source: string;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/**
 * Every launch record in `text`. A line counts when, from its first `{`, it
 * is a JSON object named qemu-sandboxed with msg "launch", a pid, a time and
 * a policy; every other line (libvirt's own, QEMU's stderr) is skipped.
 */
export function parseLaunchRecords(text: string, sourceName: string): LaunchSeen[] {
  const out: LaunchSeen[] = [];
  text.split('\n').forEach((line, i) => {
    const brace = line.indexOf('{');
    if (brace < 0 || !line.includes('"qemu-sandboxed"')) return;
    let j: unknown;
    try {
      j = JSON.parse(line.slice(brace));
    } catch {
      return;
    }
    if (j === null || typeof j !== 'object') return;
    const r = j as Record<string, unknown>;
    if (r.name !== 'qemu-sandboxed' || r.msg !== 'launch') return;
    const timeMs =
      typeof r.time === 'number' ? r.time : typeof r.time === 'string' ? Date.parse(r.time) : NaN;
    const policyText = str(r.policy);
    if (typeof r.pid !== 'number' || !Number.isFinite(timeMs) || policyText === null) return;
    let policy: SandboxPolicy;
    try {
      // The record holds the canonical string: "off", or "on" plus the keys that differ.
      policy = parsePolicy(policyText);
    } catch {
      return;
    }
    out.push({
      timeMs,
      pid: r.pid,
      vm: str(r.vm),
      policyText,
      policy,
      dryRun: r.dryRun === true,
      launcherExe: str(r.launcherExe),
      binary: str(r.binary),
      abi: str(r.abi),
      source: `${sourceName}:${i + 1}`,
    });
  });
  return out;
}

/**
 * How far before its launch record a kernel record may be stamped and still
 * belong to it: the filter is loaded just before the record is written, and
 * the audit stamp is read from a coarse clock.
 */
export const LAUNCH_SLACK_MS = 2000;

/** What a kernel record is, once matched against the launches. */
export type Attribution =
  | { readonly kind: 'vm'; readonly launch: LaunchSeen }
  /** The launcher's own calls (its exec of QEMU), made under the filter: not QEMU's. */
  | { readonly kind: 'launcher'; readonly launch: LaunchSeen }
  /** No launch with this pid before it: a VM's child, or another program. */
  | { readonly kind: 'unknown' };

/** Matches kernel records to launches by pid and time (the latest launch of that pid at or before it). */
export class LaunchIndex {
  private readonly byPid = new Map<number, LaunchSeen[]>();

  constructor(readonly launches: readonly LaunchSeen[]) {
    for (const l of launches) {
      const list = this.byPid.get(l.pid) ?? [];
      list.push(l);
      this.byPid.set(l.pid, list);
    }
    for (const list of this.byPid.values()) list.sort((a, b) => a.timeMs - b.timeMs);
  }

  attribute(rec: {
    readonly pid?: number;
    readonly timeMs?: number;
    readonly exe?: string;
  }): Attribution {
    if (rec.pid === undefined || rec.timeMs === undefined) return { kind: 'unknown' };
    const list = this.byPid.get(rec.pid) ?? [];
    let found: LaunchSeen | undefined;
    for (const l of list) if (l.timeMs - LAUNCH_SLACK_MS <= rec.timeMs) found = l;
    if (!found) return { kind: 'unknown' };
    if (found.launcherExe !== null && rec.exe === found.launcherExe) {
      return { kind: 'launcher', launch: found };
    }
    return { kind: 'vm', launch: found };
  }
}

/** How a VM is named in the advisor's and the metrics' output: its name, else its pid. */
export function vmLabel(l: LaunchSeen): string {
  return l.vm ?? `pid ${l.pid}`;
}
