/**
 * The policy of one launch, from the site config and the command line, in
 * one place for the launcher and the CLI (explain, compile, doctor...):
 *
 *   1. `sandbox` from the config (else "on"),
 *   2. `vms[NAME]` for the VM's name (QEMU's `-name guest=NAME`), if any,
 *   3. each `-sandbox` of the command line, in order,
 *      merged as QEMU merges option sets (the last value of each key wins;
 *      a config string without on/off means `on` plus its keys);
 *   4. then `minimum` as a floor: each key it names is raised to its value
 *      when weaker, `-sandbox off` included (minimum.ts).
 *
 * So the command line overrides the site and per-VM defaults, and nothing
 * overrides the minimum.
 */
import type { SiteConfig } from './config';
import { vmOrigin } from './config';
import {
  BUILT_IN_DEFAULT,
  applyMinimum,
  keyOrigins,
  parseMinimum,
  tighteningWords,
  type SandboxMinimum,
  type Tightening,
} from './minimum';
import {
  DEFAULT_POLICY_STRING,
  resolveSandboxPolicy,
  type PolicySource,
  type ResolvedSandbox,
  type SandboxKey,
} from './sandbox-option';
import type { SandboxPolicy } from './types';

export interface LaunchPolicyInput {
  readonly config: SiteConfig;
  /** The command line's -sandbox values, in order. */
  readonly sandboxValues: readonly string[];
  /** The VM's name (vmNameOf the QEMU arguments), if it has one. */
  readonly vm?: string;
}

export interface LaunchPolicy {
  /** The effective option set and policy, after the minimum. */
  readonly resolved: ResolvedSandbox;
  readonly policy: SandboxPolicy;
  /** The policy the merge gave, before the minimum. */
  readonly requested: SandboxPolicy;
  /** The site default string (config `sandbox`, else "on"). */
  readonly base: string;
  readonly vm: string | null;
  /** The `vms` entry that applied, when the VM has one. */
  readonly vmPolicy: string | null;
  readonly minimum: SandboxMinimum | null;
  /** What the minimum raised (empty when nothing). */
  readonly tightened: readonly Tightening[];
  /** Each key of the effective policy (only `enable` when off) -> where its value came from. */
  readonly origins: Partial<Record<SandboxKey, string>>;
  readonly warnings: readonly string[];
}

/** "sandbox in /etc/qemu-sandboxed/config.json", or just "sandbox" for a config without a file. */
export function configOrigin(config: SiteConfig, key: string): string {
  return config.path === undefined ? key : `${key} in ${config.path}`;
}

/** The VM's entry in `vms`, looked up without reaching Object.prototype. */
export function vmPolicyOf(config: SiteConfig, vm: string | undefined): string | undefined {
  return vm === undefined ? undefined : config.vms?.get(vm);
}

/**
 * The effective policy of a launch. Throws SandboxOptionError (QEMU's
 * wording, naming the source) for a bad string.
 */
export function resolveLaunchPolicy(input: LaunchPolicyInput): LaunchPolicy {
  const { config } = input;
  const base = config.sandbox ?? DEFAULT_POLICY_STRING;
  const vmPolicy = vmPolicyOf(config, input.vm);
  const layers: PolicySource[] =
    vmPolicy === undefined || input.vm === undefined
      ? []
      : [{ value: vmPolicy, origin: configOrigin(config, vmOrigin(input.vm)) }];
  const merged = resolveSandboxPolicy(input.sandboxValues, {
    defaultString: base,
    defaultOrigin:
      config.sandbox === undefined ? BUILT_IN_DEFAULT : configOrigin(config, 'sandbox'),
    defaultImpliesOn: true,
    layers,
  });
  const minimum =
    config.minimum === undefined
      ? null
      : parseMinimum(config.minimum, configOrigin(config, 'minimum'));
  const floored = minimum ? applyMinimum(merged, minimum) : { resolved: merged, tightened: [] };
  return {
    resolved: floored.resolved,
    policy: floored.resolved.policy,
    requested: merged.policy,
    base,
    vm: input.vm ?? null,
    vmPolicy: vmPolicy ?? null,
    minimum,
    tightened: floored.tightened,
    origins: keyOrigins(floored.resolved),
    warnings: merged.warnings,
  };
}

/**
 * The one stderr line for a launch the minimum tightened, or undefined when
 * it only raised keys nobody set (the minimum then acts as the default, as
 * the operator meant it to, and the launch record alone says so).
 */
export function tighteningWarning(lp: LaunchPolicy): string | undefined {
  if (!lp.minimum || !lp.tightened.some((t) => t.source !== BUILT_IN_DEFAULT)) return undefined;
  return `the ${lp.minimum.origin} raised this launch's policy: ${tighteningWords(lp.tightened)}`;
}
