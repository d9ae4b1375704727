/**
 * `groups`: every group of filters/ as it applies to one ABI, like
 * `systemd-analyze syscall-filter`: the switch that turns it on, each syscall
 * with its action and reason, the calls it deliberately leaves allowed, and
 * finally the syscalls of the ABI that no group names.
 */
import { DEFAULT_POLICY, GROUP_SWITCHES, activeRules, loadGroups } from '../../policy';
import type { ActiveRule, SandboxPolicy } from '../../policy/types';
import type { CliContext } from '../context';
import { table, toJson, wrapWords } from '../context';
import { InputError } from '../errors';
import { readArch } from '../policy-input';
import { FILES_SWITCH, actionLabel, conditionWords } from '../words';

export interface GroupsOptions {
  /** Only this group; the ungrouped list is then left out. */
  readonly group?: string;
  readonly arch?: string;
  readonly json: boolean;
}

/** Every group on, action=kill: each rule resolved as its group would apply it. */
const ALL_GROUPS: SandboxPolicy = Object.freeze({
  ...DEFAULT_POLICY,
  enable: true,
  obsolete: 'deny',
  elevatePrivileges: 'deny',
  spawn: 'deny',
  resourceControl: 'deny',
  network: 'deny',
  action: 'kill',
});

export interface GroupsJson {
  readonly abi: string;
  readonly groups: {
    name: string;
    description: string;
    enabledBy: string;
    syscalls: {
      name: string;
      nr: number | null;
      action: string;
      unless: string | null;
      reason: string;
    }[];
    allowed: { name: string; reason: string }[];
  }[];
  /** files=deny: a Landlock ruleset, not a seccomp group (absent when another group is asked for). */
  readonly files: {
    name: string;
    description: string;
    enabledBy: string;
    allows: string[];
    refuses: string[];
  } | null;
  readonly ungrouped: string[];
}

export function groups(opts: GroupsOptions): GroupsJson {
  const { abi } = readArch(opts.arch);
  const resolved = new Map<string, ActiveRule>();
  for (const r of activeRules(ALL_GROUPS, abi)) resolved.set(`${r.group}/${r.syscall}`, r);
  const named = new Set<string>();
  const out: GroupsJson['groups'] = [];
  for (const g of loadGroups()) {
    const sw = GROUP_SWITCHES[g.name];
    const enabledBy =
      sw.key === 'enable'
        ? 'always on'
        : `on with ${sw.onValues.map((v) => `${sw.key}=${v}`).join(' or ')}`;
    const syscalls: GroupsJson['groups'][number]['syscalls'] = [];
    for (const rule of g.rules) {
      named.add(rule.syscall);
      const r = resolved.get(`${g.name}/${rule.syscall}`);
      syscalls.push({
        name: rule.syscall,
        nr: r ? r.nr : null,
        action: r ? actionLabel(r.action) : `absent on ${abi.name}`,
        unless: r?.unless ? conditionWords(r.syscall, r.unless, abi.cloneFlagsArg) : null,
        reason: rule.reason,
      });
    }
    out.push({
      name: g.name,
      description: g.description,
      enabledBy,
      syscalls,
      allowed: g.allowed.map((a) => ({ name: a.syscall, reason: a.reason })),
    });
  }
  const ungrouped = [...abi.syscalls.keys()].filter((n) => !named.has(n)).sort();
  const files = {
    name: FILES_SWITCH.name,
    description: FILES_SWITCH.description,
    enabledBy: FILES_SWITCH.enabledBy,
    allows: [...FILES_SWITCH.allows],
    refuses: [...FILES_SWITCH.refuses],
  };
  if (opts.group === FILES_SWITCH.name) return { abi: abi.name, groups: [], files, ungrouped: [] };
  if (opts.group !== undefined) {
    const one = out.filter((g) => g.name === opts.group);
    if (one.length === 0) {
      throw new InputError(
        `unknown group '${opts.group}'; groups: ${[...out.map((g) => g.name), FILES_SWITCH.name].join(', ')}`,
      );
    }
    return { abi: abi.name, groups: one, files: null, ungrouped: [] };
  }
  return { abi: abi.name, groups: out, files, ungrouped };
}

export function runGroups(ctx: CliContext, opts: GroupsOptions): void {
  const g = groups(opts);
  if (opts.json) {
    ctx.stdout.write(toJson(g));
    return;
  }
  const blocks: string[] = [];
  for (const grp of g.groups) {
    let text = `${grp.name}: ${grp.enabledBy}\n`;
    text += wrapWords(grp.description.split(/\s+/), 100, '    # ');
    const present = grp.syscalls.filter((s) => s.nr !== null);
    const absent = grp.syscalls.filter((s) => s.nr === null);
    const rows: string[][] = [];
    for (const s of present) {
      rows.push([s.name, s.action, `# ${s.reason}`]);
      // A condition is too long for a column: it goes on its own line under the call.
      if (s.unless) rows.push(['', `  unless ${s.unless}`]);
    }
    text += table(rows, '    ');
    if (absent.length) {
      text += wrapWords(
        [`(absent on ${g.abi}:`, ...absent.map((s) => s.name)],
        100,
        '    ',
      ).replace(/\n$/, ')\n');
    }
    if (grp.allowed.length) {
      text += '    deliberately allowed:\n';
      text += table(
        grp.allowed.map((a) => [a.name, `# ${a.reason}`]),
        '      ',
      );
    }
    blocks.push(text);
  }
  if (g.files) {
    let text = `${g.files.name}: ${g.files.enabledBy}\n`;
    text += wrapWords(g.files.description.split(/\s+/), 100, '    # ');
    text += table(
      [
        ...g.files.allows.map((a, i) => [i === 0 ? 'allows' : '', a]),
        ...g.files.refuses.map((a, i) => [i === 0 ? 'refuses' : '', a]),
      ],
      '    ',
    );
    blocks.push(text);
  }
  if (opts.group === undefined) {
    blocks.push(
      `not in any group (${g.ungrouped.length} syscalls of ${g.abi}, always allowed)\n` +
        wrapWords(g.ungrouped, 100, '    '),
    );
  }
  // One blank line between blocks, none at the end.
  ctx.stdout.write(blocks.join('\n'));
}
