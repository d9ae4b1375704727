/**
 * The policy advisor behind `audit --suggest`: from kernel records made
 * under the dry run (action=log: every rule logs instead of denying) and the
 * launch records that say which VM had which pid and policy, the strictest
 * policy each VM would have run under without one denial.
 *
 * The strictest policy: every opt-in group (obsolete, elevateprivileges,
 * spawn, resourcecontrol, network) set to deny, unless a recorded call of
 * that VM falls in it. A call falls in a group when the group was in force
 * in the launch that made it and one of the group's rules names the call:
 * under the dry run the filter logs exactly the calls enforcement would
 * deny, conditions included, so a record is a call the group's condition did
 * not exempt. Kernel records carry no arguments, so a call two groups name
 * (ioctl: default and network) counts for both.
 *
 * DESIGN DECISION: a call whose rule answers ENOSYS when enforced (clone3,
 * io_uring_setup, the new mount API) does not make its group allow. ENOSYS is
 * what a kernel without the call answers, and callers fall back: glibc's
 * pthread_create retries with clone, QEMU's fd monitor goes back to epoll.
 * Every QEMU on a recent glibc makes both calls (seen on QEMU 7.2 under TCG),
 * so counting them would suggest spawn=allow and network=allow for every VM.
 * They are listed as the group's fallbacks instead. (A VM that needs the call
 * itself, such as a drive with aio=io_uring, then fails at start, loudly.)
 *
 * Fail closed: a group counts as "no call" only when it was in force in every
 * dry-run launch of the VM; a group the dry run did not include keeps allow
 * (no evidence either way), and a VM without a dry-run launch gets no
 * suggestion. Records lost before they were read (the kernel log's rate
 * limit, a rotated log) cannot be seen here: the caller warns about what it
 * can detect.
 */
import { getAbi, isHostAbiName } from '../arch';
import type { Abi } from '../arch/types';
import { GROUP_SWITCHES, activeRules, enabledGroups } from '../policy/rules';
import type { GroupName, SandboxPolicy } from '../policy/types';
import type { Attribution, LaunchSeen } from './launch-records';
import { vmLabel } from './launch-records';

/** A kernel record reduced to what the advisor needs. */
export interface ObservedCall {
  /** The ABI the record's arch says (x86_64, i386...), or null when unknown. */
  readonly abi: string | null;
  /** The syscall's name on that ABI, or null when it has none. */
  readonly syscall: string | null;
  readonly nr: number | null;
  /** What the filter did: log, kill-process, errno 1... */
  readonly action: string;
  readonly attribution: Attribution;
}

/** The opt-in groups, each with its -sandbox key (GROUP_SWITCHES). */
export const OPT_IN_GROUPS: readonly Exclude<GroupName, 'default'>[] = [
  'obsolete',
  'elevateprivileges',
  'spawn',
  'resourcecontrol',
  'network',
];

export interface CallCount {
  readonly syscall: string;
  readonly count: number;
}

export interface SuggestedSetting {
  /** The -sandbox key: obsolete, elevateprivileges, spawn, resourcecontrol, network. */
  readonly key: string;
  readonly value: 'allow' | 'deny';
  /** "recorded": calls of the group; "clean": in force, no call; "unobserved": not in force in every dry run. */
  readonly basis: 'recorded' | 'clean' | 'unobserved';
  /** The recorded calls that fall in the group, most frequent first. */
  readonly evidence: readonly CallCount[];
  /** Recorded calls the group answers ENOSYS, as a kernel without them would: the caller falls back. */
  readonly fallbacks: readonly CallCount[];
}

export interface VmSuggestion {
  /** The VM's name, or "pid N" for a launch without -name. */
  readonly vm: string;
  /** Whether the VM has a name (only a named VM can have a `vms` entry). */
  readonly named: boolean;
  readonly launches: number;
  readonly dryRunLaunches: number;
  /** Records attributed to the VM (the launcher's own exec left out). */
  readonly records: number;
  /** The `vms` entry to use, every group key written and action=kill; null without a dry run. */
  readonly policy: string | null;
  readonly settings: readonly SuggestedSetting[];
  /** Calls the default group (always on) denies: no policy short of off avoids them. */
  readonly alwaysDenied: readonly CallCount[];
  /** Calls of another ABI (i386, x32 on x86_64): denied by every policy. */
  readonly foreignAbi: number;
  /** Calls no group of ours names: another filter (QEMU's own -sandbox...) logged them. */
  readonly otherFilter: readonly CallCount[];
  readonly notes: readonly string[];
}

export interface SuggestResult {
  readonly vms: readonly VmSuggestion[];
  /** One policy for every recorded VM at once (the union of their evidence); null without a dry run. */
  readonly fleet: {
    readonly policy: string | null;
    readonly settings: readonly SuggestedSetting[];
  };
  /** Records of processes that are no launch (a VM's children, other programs). */
  readonly unattributed: readonly CallCount[];
  /** Records of the launcher's own exec under the filter, left out. */
  readonly launcherRecords: number;
}

/** A Map of counts as CallCounts, most frequent first, then by name. */
function counted(m: ReadonlyMap<string, number>): CallCount[] {
  return [...m]
    .map(([syscall, count]) => ({ syscall, count }))
    .sort((a, b) => b.count - a.count || a.syscall.localeCompare(b.syscall));
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** A group naming a syscall, and whether every rule of it for that call answers ENOSYS when enforced. */
interface Naming {
  readonly group: GroupName;
  readonly enosys: boolean;
}

const groupsCache = new Map<string, ReadonlyMap<string, readonly Naming[]>>();
/** syscall name -> the groups in force under `policy` on `abi` whose rules name it. */
function groupsNaming(policy: SandboxPolicy, abi: Abi): ReadonlyMap<string, readonly Naming[]> {
  const key = `${JSON.stringify(policy)}/${abi.name}`;
  let m = groupsCache.get(key);
  if (!m) {
    const built = new Map<string, Naming[]>();
    for (const r of activeRules(policy, abi)) {
      const a = r.enforced ?? r.action;
      const enosys = a.type === 'errno' && a.errnoName === 'ENOSYS';
      const list = built.get(r.syscall) ?? [];
      const i = list.findIndex((n) => n.group === r.group);
      if (i < 0) list.push({ group: r.group, enosys });
      else list[i] = { group: r.group, enosys: list[i].enosys && enosys };
      built.set(r.syscall, list);
    }
    groupsCache.set(key, (m = built));
  }
  return m;
}

/** The groups a launch's filter had in force (the dry run included). */
function inForce(policy: SandboxPolicy): ReadonlySet<GroupName> {
  return new Set(enabledGroups(policy));
}

interface Tally {
  readonly launches: LaunchSeen[];
  records: number;
  readonly byGroup: Map<GroupName, Map<string, number>>;
  readonly fallbacks: Map<GroupName, Map<string, number>>;
  readonly alwaysDenied: Map<string, number>;
  foreignAbi: number;
  readonly otherFilter: Map<string, number>;
}

function newTally(): Tally {
  return {
    launches: [],
    records: 0,
    byGroup: new Map(),
    fallbacks: new Map(),
    alwaysDenied: new Map(),
    foreignAbi: 0,
    otherFilter: new Map(),
  };
}

/** The settings from a tally: deny unless recorded, allow when not observed (fail closed). */
function settingsOf(t: Tally): SuggestedSetting[] {
  const dry = t.launches.filter((l) => l.dryRun && l.policy.enable);
  return OPT_IN_GROUPS.map((g): SuggestedSetting => {
    const key = GROUP_SWITCHES[g].key;
    const evidence = counted(t.byGroup.get(g) ?? new Map());
    const fallbacks = counted(t.fallbacks.get(g) ?? new Map());
    if (evidence.length > 0) return { key, value: 'allow', basis: 'recorded', evidence, fallbacks };
    const covered = dry.length > 0 && dry.every((l) => inForce(l.policy).has(g));
    return covered
      ? { key, value: 'deny', basis: 'clean', evidence, fallbacks }
      : { key, value: 'allow', basis: 'unobserved', evidence, fallbacks };
  });
}

/** The `vms` string: every group key written (so the site default cannot change it), enforcing. */
export function policyOfSettings(settings: readonly SuggestedSetting[]): string {
  return ['on', ...settings.map((s) => `${s.key}=${s.value}`), 'action=kill'].join(',');
}

function tallyCall(t: Tally, c: ObservedCall, launch: LaunchSeen): void {
  t.records++;
  if (c.abi === null || launch.abi === null || c.abi !== launch.abi || !isHostAbiName(launch.abi)) {
    // Another ABI than the filter's own (i386, x32): the arch check denies it under any policy.
    t.foreignAbi++;
    return;
  }
  const name = c.syscall ?? `#${c.nr ?? '?'}`;
  const groups = groupsNaming(launch.policy, getAbi(launch.abi)).get(name) ?? [];
  if (groups.length === 0) {
    bump(t.otherFilter, name);
    return;
  }
  for (const { group: g, enosys } of groups) {
    if (g === 'default') {
      // The default group's ENOSYS answers (the new mount API) are fallbacks too: no denial to report.
      if (!enosys) bump(t.alwaysDenied, name);
      continue;
    }
    const into = enosys ? t.fallbacks : t.byGroup;
    let m = into.get(g);
    if (!m) into.set(g, (m = new Map()));
    bump(m, name);
  }
}

/**
 * Per VM (by name; a launch without one by its pid), the strictest policy
 * with its evidence; plus one policy for the whole fleet. `launches` are the
 * launches of the period (a dry-run launch without records is a clean one).
 * Only calls attributed to a dry-run launch count: under enforcement an
 * errno rule leaves no record, so silence there proves nothing.
 */
export function suggestPolicies(
  calls: readonly ObservedCall[],
  launches: readonly LaunchSeen[],
): SuggestResult {
  const vms = new Map<string, Tally>();
  const fleet = newTally();
  const tallyOf = (l: LaunchSeen): Tally => {
    const key = vmLabel(l);
    let t = vms.get(key);
    if (!t) vms.set(key, (t = newTally()));
    return t;
  };
  const seen = new Set<LaunchSeen>();
  const addLaunch = (l: LaunchSeen): void => {
    if (seen.has(l)) return;
    seen.add(l);
    tallyOf(l).launches.push(l);
    fleet.launches.push(l);
  };
  for (const l of launches) addLaunch(l);
  const unattributed = new Map<string, number>();
  let launcherRecords = 0;
  const skipped = new Map<string, number>();
  for (const c of calls) {
    const a = c.attribution;
    if (a.kind === 'unknown') {
      bump(unattributed, c.syscall ?? `#${c.nr ?? '?'}`);
      continue;
    }
    if (a.kind === 'launcher') {
      launcherRecords++;
      continue;
    }
    addLaunch(a.launch);
    if (!a.launch.dryRun) {
      bump(skipped, vmLabel(a.launch));
      continue;
    }
    tallyCall(tallyOf(a.launch), c, a.launch);
    tallyCall(fleet, c, a.launch);
  }

  const out: VmSuggestion[] = [];
  for (const [vm, t] of [...vms].sort((a, b) => a[0].localeCompare(b[0]))) {
    const dryRunLaunches = t.launches.filter((l) => l.dryRun && l.policy.enable).length;
    const settings = settingsOf(t);
    const notes: string[] = [];
    if (dryRunLaunches === 0) {
      notes.push(
        'no dry-run launch (action=log): no suggestion; enforcing launches leave no record of errno denials',
      );
    }
    const n = skipped.get(vm);
    if (n !== undefined)
      notes.push(`${n} record(s) of enforcing launches left out (not a dry run)`);
    const unobserved = settings.filter((s) => s.basis === 'unobserved' && dryRunLaunches > 0);
    if (unobserved.length > 0) {
      notes.push(
        `not in force in every dry-run launch, left allow: ${unobserved.map((s) => s.key).join(', ')} ` +
          '(dry-run with them set to deny to find out)',
      );
    }
    if (
      settings.some((s) => s.key === 'spawn' && s.basis === 'recorded') &&
      unattributed.size > 0
    ) {
      notes.push(
        "it started processes: their records carry their own pids, which no launch names; review the unattributed records (a child's calls run under this VM's filter)",
      );
    }
    const alwaysDenied = counted(t.alwaysDenied);
    if (alwaysDenied.length > 0 || t.foreignAbi > 0) {
      notes.push(
        'it made calls every policy denies (the default group, another ABI): it would be denied even so',
      );
    }
    const named = t.launches.some((l) => l.vm !== null);
    if (!named) notes.push('no -name: a `vms` entry needs the VM to be named (-name guest=NAME)');
    out.push({
      vm,
      named,
      launches: t.launches.length,
      dryRunLaunches,
      records: t.records,
      policy: dryRunLaunches > 0 ? policyOfSettings(settings) : null,
      settings,
      alwaysDenied,
      foreignAbi: t.foreignAbi,
      otherFilter: counted(t.otherFilter),
      notes,
    });
  }
  const fleetSettings = settingsOf(fleet);
  const anyDry = fleet.launches.some((l) => l.dryRun && l.policy.enable);
  return {
    vms: out,
    fleet: { policy: anyDry ? policyOfSettings(fleetSettings) : null, settings: fleetSettings },
    unattributed: counted(unattributed),
    launcherRecords,
  };
}
