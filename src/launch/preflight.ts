/**
 * Preflight: refuse, before anything runs, a QEMU command line that the
 * chosen -sandbox policy would break at run time. A filter that kills QEMU
 * when a guest first touches SMB, or when the VM shuts down and QEMU runs
 * /etc/qemu-ifdown, can take weeks to show; a refusal at start costs nothing.
 *
 * Each finding names the argument, the policy setting it collides with, what
 * would break and how to fix it: what an option needs is QEMU knowledge
 * (preflight-table.ts), which setting breaks a need is policy knowledge
 * (preflight-collision.ts), and the words come from both
 * (preflight-message.ts). `preflight=warn` turns refusals into warnings
 * (the launcher decides; this module only finds and formats).
 */
import * as fs from 'fs';
import { parseQemuArgs } from '../policy/qemu-args';
import { Opts } from './opts';
import type { GroupName, SandboxPolicy } from '../policy/types';
import type { FilesRefusal } from './files-common';
import { collision, libvirtProbeSource } from './preflight-collision';
import { findingWords } from './preflight-message';
import type { HostFacts, Need } from './preflight-need';
import { OPTION_NEEDS, defaultNicNeeds, scriptBinaryNeeds } from './preflight-table';

export interface PreflightContext {
  /** Whether the launcher will set no-new-privileges (setuid helpers then fail). */
  readonly noNewPrivs: boolean;
  /**
   * The command line had its own -sandbox: then a probe-shaped command line
   * is not libvirt's capability probe (libvirt gives that one none).
   */
  readonly sandboxOnCommandLine?: boolean;
  /**
   * The keys the site minimum raised: for libvirt's capability probe the fix
   * is then in "minimum", not in the site default.
   */
  readonly raisedByMinimum?: ReadonlySet<string>;
  /** For the default tap scripts; fs.existsSync unless a test injects one. */
  readonly fileExists?: (p: string) => boolean;
  /**
   * The QEMU binary that will be exec'd and, when it is a script, its `#!`
   * line: the kernel then execs the interpreter, which execs the real QEMU,
   * a second exec that spawn=deny refuses (ENOSYS) after ours.
   */
  readonly binary?: { readonly path: string; readonly interpreter?: string };
}

export interface PreflightFinding {
  /** The argument as written (option and value), e.g. "-netdev bridge,id=n0". */
  readonly arg: string;
  /**
   * The filter group that breaks it, no-new-privs (not a group: a process
   * flag), or files (files=deny's Landlock ruleset, not a seccomp group).
   */
  readonly group: GroupName | 'no-new-privs' | 'files';
  /** The setting at fault, e.g. "spawn=deny", "network=deny", "no-new-privileges". */
  readonly setting: string;
  /** One line: what would break, and when. */
  readonly message: string;
  /** One line: how to make the command line and the policy agree. */
  readonly fix: string;
}

/**
 * libvirt probes every QEMU binary's capabilities with `-S -no-user-config
 * -nodefaults -nographic -machine none,accel=... -qmp unix:... -pidfile F
 * -daemonize` and no -sandbox (qemuProcessQMPLaunch), so for it the site
 * default policy applies, not libvirt's per-domain -sandbox string. Only
 * -machine none with -S and -qmp counts: no guest ever runs there.
 */
export function isLibvirtCapabilityProbe(qemuArgs: readonly string[]): boolean {
  const seen = new Set<string>();
  for (const a of parseQemuArgs(qemuArgs)) {
    if (a.name === 'machine' || a.name === 'M') {
      if (new Opts(a.value ?? '', 'type').get('type') === 'none') seen.add('machine none');
    } else seen.add(a.name);
  }
  return ['machine none', 'S', 'qmp', 'daemonize'].every((n) => seen.has(n));
}

/** The options that make the probe: only their needs are the probe's (other options are not libvirt's). */
const PROBE_OPTIONS: ReadonlySet<string> = new Set(['machine', 'M', 'S', 'qmp', 'daemonize']);

/**
 * The command line's conflicts with `policy`. Empty when the policy is off:
 * `-sandbox off` loads no filter and sets nothing.
 */
export function preflight(
  qemuArgs: readonly string[],
  policy: SandboxPolicy,
  ctx: PreflightContext,
): PreflightFinding[] {
  if (!policy.enable) return [];
  const findings: PreflightFinding[] = [];
  const host: HostFacts = { fileExists: ctx.fileExists ?? fs.existsSync };
  const libvirtProbe = ctx.sandboxOnCommandLine !== true && isLibvirtCapabilityProbe(qemuArgs);
  /** `onProbe`: the needs are those of libvirt's probe (its own options, not the binary or QEMU's defaults). */
  const find = (arg: string, needs: readonly Need[], onProbe: boolean): void => {
    for (const need of needs) {
      const c = collision(need.kind, policy, ctx.noNewPrivs);
      if (c === undefined) continue;
      const probe = onProbe ? libvirtProbeSource(c, ctx.raisedByMinimum) : undefined;
      findings.push({ arg, group: c.group, setting: c.setting, ...findingWords(need, c, probe) });
    }
  };

  const args = parseQemuArgs(qemuArgs);
  for (const arg of args) {
    const row = OPTION_NEEDS.get(arg.name);
    if (row === undefined) continue;
    const written = arg.positional ? '' : qemuArgs[arg.index];
    const text = arg.value === undefined ? written : `${written} ${arg.value}`.trim();
    const needs = row.detect({ name: arg.name, value: arg.value ?? '' }, host);
    find(shorten(text), needs, libvirtProbe && PROBE_OPTIONS.has(arg.name));
  }
  find(
    '(no -nic/-net/-netdev/-nodefaults)',
    defaultNicNeeds(new Set(args.map((a) => a.name))),
    false,
  );
  if (ctx.binary) find(ctx.binary.path, scriptBinaryNeeds(ctx.binary.interpreter), false);
  return findings;
}

/** files=deny's refusals (src/launch/files.ts) as preflight findings. */
export function filesFindings(refusals: readonly FilesRefusal[]): PreflightFinding[] {
  return refusals.map((r) => ({
    arg: r.arg,
    group: 'files' as const,
    setting: 'files=deny',
    message: r.message,
    fix: r.fix,
  }));
}

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * One line per finding, for stderr. In enforce mode the last line says how
 * to start anyway; in warn mode each line says the launch goes on.
 */
export function preflightReport(
  findings: readonly PreflightFinding[],
  mode: 'enforce' | 'warn',
): string[] {
  if (findings.length === 0) return [];
  const lead = mode === 'enforce' ? 'refused' : 'warning';
  const lines = findings.map(
    (f) =>
      `qemu-sandboxed: preflight ${lead}: '${f.arg}' (${f.setting}): ${f.message}; fix: ${f.fix}`,
  );
  if (mode === 'enforce') {
    lines.push(
      `qemu-sandboxed: not starting QEMU (${findings.length} preflight refusal${findings.length === 1 ? '' : 's'}); ` +
        'with preflight=warn in -sandbox QEMU starts, and these features fail at run time instead',
    );
  } else {
    lines.push(
      'qemu-sandboxed: starting anyway (preflight=warn): these features will fail at run time',
    );
  }
  return lines;
}
