/**
 * From a policy to the rules the compiler turns into BPF: which groups a
 * policy turns on, and each of their rules resolved for one ABI (syscall
 * number, errno value, clone's flags argument, kill-class action).
 */
import * as fs from 'fs';
import * as path from 'path';
import { errnoValue } from '../arch';
import type { Abi } from '../arch/types';
import { readGroupsDir } from './groups';
import { GROUP_NAMES } from './types';
import type {
  ActiveRule,
  ArgCondition,
  GroupDefinition,
  GroupName,
  GroupRule,
  ResolvedAction,
  RuleCondition,
  SandboxPolicy,
} from './types';

/**
 * The package root: the nearest directory above this file that holds
 * package.json. Works from src/policy (ts-jest) and dist/src/policy (built).
 */
export function packageRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}: cannot find filters/`);
    dir = up;
  }
}

/** Where the group files live by default: <package root>/filters. */
export function defaultFiltersDir(): string {
  return path.join(packageRoot(), 'filters');
}

const cache = new Map<string, readonly GroupDefinition[]>();

/**
 * Every group, validated, in GROUP_NAMES order. Cached per directory: the
 * launcher reads the files once per start, tests may point at fixtures.
 */
export function loadGroups(dir?: string): readonly GroupDefinition[] {
  const key = path.resolve(dir ?? defaultFiltersDir());
  const hit = cache.get(key);
  if (hit) return hit;
  const groups = Object.freeze(readGroupsDir(key));
  cache.set(key, groups);
  return groups;
}

/** One group by name. */
export function getGroup(name: GroupName, dir?: string): GroupDefinition {
  const g = loadGroups(dir).find((x) => x.name === name);
  if (!g) throw new Error(`no group "${name}"`);
  return g;
}

/**
 * Which groups a policy turns on, in GROUP_NAMES order: default whenever the
 * sandbox is on; obsolete for obsolete=deny; elevateprivileges for deny or
 * children; spawn, resourcecontrol and network for deny.
 */
export function enabledGroups(policy: SandboxPolicy): GroupName[] {
  if (!policy.enable) return [];
  const on: Record<GroupName, boolean> = {
    default: true,
    obsolete: policy.obsolete === 'deny',
    elevateprivileges: policy.elevatePrivileges !== 'allow',
    spawn: policy.spawn === 'deny',
    resourcecontrol: policy.resourceControl === 'deny',
    network: policy.network === 'deny',
  };
  return GROUP_NAMES.filter((g) => on[g]);
}

/** The -sandbox key that turns a group on, and the value that turns it off. */
export interface GroupSwitch {
  /** "enable" for the default group: only `-sandbox off` removes it. */
  readonly key:
    'enable' | 'obsolete' | 'elevateprivileges' | 'spawn' | 'resourcecontrol' | 'network';
  /** The values that turn the group on. */
  readonly onValues: readonly string[];
  /** The value that turns it off. */
  readonly offValue: string;
  /** The change to suggest, as you would write it: "spawn=allow", or "off". */
  readonly suggestion: string;
}

export const GROUP_SWITCHES: Readonly<Record<GroupName, GroupSwitch>> = {
  default: { key: 'enable', onValues: ['on'], offValue: 'off', suggestion: 'off' },
  obsolete: {
    key: 'obsolete',
    onValues: ['deny'],
    offValue: 'allow',
    suggestion: 'obsolete=allow',
  },
  elevateprivileges: {
    key: 'elevateprivileges',
    onValues: ['deny', 'children'],
    offValue: 'allow',
    suggestion: 'elevateprivileges=allow',
  },
  spawn: { key: 'spawn', onValues: ['deny'], offValue: 'allow', suggestion: 'spawn=allow' },
  resourcecontrol: {
    key: 'resourcecontrol',
    onValues: ['deny'],
    offValue: 'allow',
    suggestion: 'resourcecontrol=allow',
  },
  network: { key: 'network', onValues: ['deny'], offValue: 'allow', suggestion: 'network=allow' },
};

/**
 * The policy change that would stop `group` from denying anything: what the
 * CLI's `audit` prints next to a denied call. For the default group that is
 * `-sandbox off` (the whole filter), which is worth saying plainly.
 */
export function policyChangeToAllow(group: GroupName): string {
  return GROUP_SWITCHES[group].suggestion;
}

let owners: Map<string, GroupName> | undefined;
let ownersDir: string | undefined;

/** The group that names `syscall`, if any (from the default filters/). */
export function groupOf(syscall: string, dir?: string): GroupName | undefined {
  const key = path.resolve(dir ?? defaultFiltersDir());
  if (!owners || ownersDir !== key) {
    owners = new Map();
    for (const g of loadGroups(key)) for (const r of g.rules) owners.set(r.syscall, g.name);
    ownersDir = key;
  }
  return owners.get(syscall);
}

/** The rule for `syscall`, with its group, if some group names it. */
export function ruleOf(
  syscall: string,
  dir?: string,
): { group: GroupName; rule: GroupRule } | undefined {
  for (const g of loadGroups(dir)) {
    const rule = g.rules.find((r) => r.syscall === syscall);
    if (rule) return { group: g.name, rule };
  }
  return undefined;
}

/** What a kill-class rule becomes under `policy.action`. */
export function killClassAction(policy: SandboxPolicy, abi: Abi): ResolvedAction {
  switch (policy.action) {
    case 'kill':
      return { type: 'kill-process' };
    case 'trap':
      return { type: 'trap' };
    case 'errno':
      return { type: 'errno', errno: errnoValue(abi.name, 'EPERM'), errnoName: 'EPERM' };
    case 'log':
      return { type: 'log' };
  }
}

function resolveAction(rule: GroupRule, policy: SandboxPolicy, abi: Abi): ResolvedAction {
  const a = rule.action;
  if (a === 'kill') return killClassAction(policy, abi);
  if (a === 'notify') return { type: 'notify' };
  return { type: 'errno', errno: errnoValue(abi.name, a.errno), errnoName: a.errno };
}

/**
 * A condition for one ABI: "cloneFlags" becomes the ABI's index of clone's
 * flags, and on 32-bit ABIs the width becomes 32 (the kernel zero-extends
 * their registers, so the upper half of seccomp_data.args is always 0 and a
 * 64-bit compare would only cost instructions).
 */
export function resolveCondition(c: RuleCondition, abi: Abi): ArgCondition {
  const arg = c.arg === 'cloneFlags' ? abi.cloneFlagsArg : c.arg;
  const width = abi.bits === 32 ? 32 : c.width;
  return {
    arg,
    width,
    op: c.op,
    ...(c.values !== undefined ? { values: c.values } : {}),
    ...(c.min !== undefined ? { min: c.min } : {}),
    ...(c.max !== undefined ? { max: c.max } : {}),
    ...(c.allOf !== undefined ? { allOf: c.allOf } : {}),
    ...(c.noneOf !== undefined ? { noneOf: c.noneOf } : {}),
    ...(c.ignore !== undefined ? { ignore: c.ignore } : {}),
  };
}

/**
 * The rules `policy` puts in force on `abi`, group by group in GROUP_NAMES
 * order and file order within a group. Syscalls the ABI lacks are skipped
 * (umount on x86_64, fork on aarch64). A disabled policy has no rules.
 */
export function activeRules(policy: SandboxPolicy, abi: Abi, dir?: string): ActiveRule[] {
  const enabled = new Set(enabledGroups(policy));
  const out: ActiveRule[] = [];
  for (const g of loadGroups(dir)) {
    if (!enabled.has(g.name)) continue;
    for (const rule of g.rules) {
      const nr = abi.syscalls.get(rule.syscall);
      if (nr === undefined) continue;
      out.push({
        group: g.name,
        syscall: rule.syscall,
        nr,
        reason: rule.reason,
        action: resolveAction(rule, policy, abi),
        ...(rule.unless ? { unless: resolveCondition(rule.unless, abi) } : {}),
      });
    }
  }
  return out;
}
