/**
 * `explain POLICY`: what the policy does, grouped by what happens to the
 * caller, in words. Built from the policy's active rules (src/policy) and the
 * compiler's kill-class value; the program itself is `compile`'s business.
 */
import { actionName } from '../../bpf';
import { killClassValue } from '../../compiler';
import { activeRules, policyToString, type Tightening } from '../../policy';
import type { ActiveRule } from '../../policy/types';
import { noNewPrivsRule } from '../../launch/no-new-privs';
import type { CliContext } from '../context';
import { toJson, wrapWords } from '../context';
import { readArch, readPolicy } from '../policy-input';
import { FILES_SWITCH, actionLabel, actionWords, conditionWords, killClassWords } from '../words';

export interface ExplainOptions {
  /** One -sandbox string; undefined: a launch without -sandbox. */
  readonly policy?: string;
  /** The VM's name (QEMU's -name guest=): its `vms` entry in the site config applies. */
  readonly vm?: string;
  readonly arch?: string;
  readonly json: boolean;
}

export interface ExplainJson {
  readonly policy: string;
  readonly base: string;
  /** The VM asked about, and its `vms` entry (null when it has none). */
  readonly vm: { readonly name: string; readonly policy: string | null } | null;
  /** The site minimum, and what it raised in this policy. */
  readonly minimum: {
    readonly policy: string;
    readonly origin: string;
    readonly requested: string;
    readonly tightened: readonly Tightening[];
  } | null;
  /** Where each key's value came from. */
  readonly origins: Readonly<Record<string, string>>;
  readonly enabled: boolean;
  readonly abi: string;
  readonly host: string;
  /** Per action label (kill, EPERM, ENOSYS, log, trap, notify): the unconditional rules, by group. */
  readonly actions: { label: string; words: string; groups: Record<string, string[]> }[];
  readonly argumentChecked: {
    syscall: string;
    group: string;
    action: string;
    unless: string;
    reason: string;
  }[];
  /** `action` is the seccomp action (KILL_PROCESS, LOG...), `words` what it does to the call. */
  readonly foreign: {
    abis: string[];
    /** ABIs whose numbers reach the filter with the native audit arch (x32 on x86_64). */
    numbers: string[];
    action: string;
    words: string;
  } | null;
  readonly noNewPrivs: { when: 'always' | 'without-cap-sys-admin'; why: string };
  readonly execGate: boolean;
  /** files=deny: a Landlock ruleset per launch, not seccomp rules. */
  readonly files: { mode: 'allow' | 'deny'; words: string };
  readonly warnings: readonly string[];
}

export function explain(ctx: CliContext, opts: ExplainOptions): ExplainJson {
  const arch = readArch(opts.arch);
  const p = readPolicy(opts.policy ?? '', ctx.env, opts.vm);
  const lp = p.launch;
  const base = {
    policy: p.canonical,
    base: p.base,
    vm: lp.vm === null ? null : { name: lp.vm, policy: lp.vmPolicy },
    minimum: lp.minimum
      ? {
          policy: lp.minimum.value,
          origin: lp.minimum.origin,
          requested: policyToString(lp.requested, { full: true }),
          tightened: lp.tightened,
        }
      : null,
    origins: lp.origins as Record<string, string>,
    abi: arch.abi.name,
    host: arch.host.native.name,
    warnings: p.warnings,
  };
  if (!p.policy.enable) {
    return {
      ...base,
      enabled: false,
      actions: [],
      argumentChecked: [],
      foreign: null,
      noNewPrivs: noNewPrivsRule('allow'),
      execGate: false,
      files: filesWords('allow'),
    };
  }
  const rules: readonly ActiveRule[] = activeRules(p.policy, arch.abi);
  const actions = new Map<
    string,
    { label: string; words: string; groups: Record<string, string[]> }
  >();
  const argumentChecked: ExplainJson['argumentChecked'] = [];
  for (const r of rules) {
    if (r.unless) {
      argumentChecked.push({
        syscall: r.syscall,
        group: r.group,
        action: actionLabel(r.action),
        unless: conditionWords(r.syscall, r.unless, arch.abi.cloneFlagsArg),
        reason: r.reason,
      });
      continue;
    }
    const label = actionLabel(r.action);
    let slot = actions.get(label);
    if (!slot) {
      slot = { label, words: actionWords(r.action), groups: {} };
      actions.set(label, slot);
    }
    (slot.groups[r.group] ??= []).push(r.syscall);
  }
  const kill = actionName(killClassValue(p.policy, arch.host.native));
  return {
    ...base,
    enabled: true,
    actions: [...actions.values()],
    argumentChecked,
    foreign: {
      abis: arch.host.secondary.map((a) => a.name),
      numbers: [...new Set(arch.host.native.foreignNumbers.map((f) => f.abi))],
      action: kill,
      words: killClassWords(p.policy.action),
    },
    noNewPrivs: noNewPrivsRule(p.policy.elevatePrivileges),
    execGate: rules.some((r) => r.action.type === 'notify'),
    files: filesWords(p.policy.files),
  };
}

function filesWords(mode: 'allow' | 'deny'): ExplainJson['files'] {
  return {
    mode,
    words:
      mode === 'deny'
        ? `deny: ${FILES_SWITCH.description.replace(/^files=deny: /, '')} (qemu-sandbox groups files)`
        : 'allow: QEMU may open every file its user can (files=deny confines it with Landlock)',
  };
}

export function runExplain(ctx: CliContext, opts: ExplainOptions): void {
  const e = explain(ctx, opts);
  if (opts.json) {
    ctx.stdout.write(toJson(e));
    return;
  }
  ctx.stdout.write(explainText(e, opts));
}

/** Where the policy came from: the site default, the VM's entry, the command line, the minimum. */
function originLines(e: ExplainJson, opts: ExplainOptions): string[] {
  const out: string[] = [];
  const layers = [`site default '${e.base}'`];
  if (e.vm && e.vm.policy !== null) layers.push(`vms.${e.vm.name} '${e.vm.policy}'`);
  if (opts.policy !== undefined) layers.push(`-sandbox '${opts.policy}'`);
  out.push(`policy ${e.policy}${opts.policy === e.policy ? '' : `  (${layers.join(' < ')})`}`);
  if (e.vm) {
    out.push(
      `vm     ${e.vm.name}: ${e.vm.policy === null ? 'no entry in "vms", the site default applies' : `vms entry '${e.vm.policy}'`}`,
    );
  }
  if (e.minimum) {
    const m = e.minimum;
    out.push(
      `minimum ${m.policy} (${m.origin}): ${
        m.tightened.length === 0
          ? 'nothing to raise'
          : `raised ${m.tightened.map((t) => `${t.key} ${t.from} -> ${t.to} (${t.source})`).join(', ')}`
      }`,
    );
  }
  return out;
}

export function explainText(e: ExplainJson, opts: ExplainOptions): string {
  const out = originLines(e, opts);
  out.push(`abi    ${e.abi === e.host ? e.abi : `${e.abi} (a foreign ABI of ${e.host})`}`);
  for (const w of e.warnings) out.push(`warning: ${w}`);
  if (!e.enabled) {
    out.push('', 'The sandbox is off: QEMU runs with no filter and no-new-privs untouched.');
    return `${out.join('\n')}\n`;
  }
  if (e.abi !== e.host) {
    out.push(
      '',
      `Every ${e.abi} call is ${e.foreign?.words ?? 'killed'} on a ${e.host} host: the arch check comes first.`,
    );
    out.push(
      `The rules below are what the groups name for ${e.abi}; they only apply if QEMU itself runs as ${e.abi}.`,
    );
  }
  let text = `${out.join('\n')}\n`;
  for (const a of e.actions) {
    const count = Object.values(a.groups).reduce((n, l) => n + l.length, 0);
    text += `\n${a.label} (${count}): the call ${a.words}\n`;
    for (const [group, names] of Object.entries(a.groups)) {
      text += `  ${group}:\n${wrapWords(names, 100, '    ')}`;
    }
  }
  if (e.argumentChecked.length) {
    text += `\nargument-checked (${e.argumentChecked.length})\n`;
    for (const c of e.argumentChecked) {
      text += `  ${c.syscall} (${c.group}): ${c.action} unless ${c.unless}\n`;
    }
  }
  if (e.foreign) {
    const what = [
      ...e.foreign.abis,
      ...e.foreign.numbers.filter((n) => !e.foreign?.abis.includes(n)),
    ];
    text += `\nforeign ABIs: ${what.length ? `${what.join(', ')} calls` : 'other audit arches'} -> ${e.foreign.action}`;
    text += ' (QEMU never uses them; a deny-list that let them through would be bypassed)\n';
  }
  text += `no-new-privs: ${e.noNewPrivs.why}\n`;
  text += `exec gate: ${
    e.execGate
      ? 'yes: execve/execveat go to USER_NOTIF; the launcher lets its own exec of QEMU through, then closes the listener and later execs fail with ENOSYS'
      : 'no'
  }\n`;
  text += `files: ${e.files.words}\n`;
  return text;
}
