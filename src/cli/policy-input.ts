/**
 * POLICY and --arch arguments, resolved the way the launcher resolves them, so
 * `compile` shows exactly the program `qemu-sandboxed -sandbox POLICY` loads.
 */
import { getHostAbi, isHostAbiName, parseAbiName, detectHostAbi, HOST_ABI_NAMES } from '../arch';
import type { Abi, AbiName, HostAbi } from '../arch/types';
import { loadConfig, type SiteConfig } from '../policy/config';
import { policyToString } from '../policy/sandbox-option';
import { resolveLaunchPolicy, type LaunchPolicy } from '../policy/site-policy';
import type { SandboxPolicy } from '../policy/types';
import { InputError } from './errors';

export interface PolicyArg {
  /** As typed ('' when none was given: a launch without -sandbox). */
  readonly text: string;
  readonly policy: SandboxPolicy;
  /** Every key written out: means the same whatever default it is merged onto. */
  readonly canonical: string;
  /** The base POLICY was merged onto (the site config's `sandbox`, else "on"). */
  readonly base: string;
  readonly warnings: readonly string[];
  /** The whole resolution: the VM's entry, the minimum and what it raised, each key's origin. */
  readonly launch: LaunchPolicy;
}

export function siteConfig(env: NodeJS.ProcessEnv): SiteConfig {
  return loadConfig(env);
}

/**
 * POLICY resolved exactly like one `-sandbox POLICY` on the launcher's
 * command line: merged onto the site default (and `vms[vm]` when a VM name is
 * given), then raised to the site minimum. So `spawn=deny` alone means "the
 * default plus spawn=deny", and `off` disables everything unless the minimum
 * says otherwise.
 */
export function readPolicy(text: string, env: NodeJS.ProcessEnv, vm?: string): PolicyArg {
  const config = siteConfig(env);
  const launch = resolveLaunchPolicy({ config, sandboxValues: text === '' ? [] : [text], vm });
  return {
    text,
    policy: launch.policy,
    canonical: policyToString(launch.policy, { full: true }),
    base: launch.base,
    warnings: launch.warnings,
    launch,
  };
}

export interface ArchArg {
  /** The ABI asked for (may be a secondary one such as i386). */
  readonly abi: Abi;
  /** The host it belongs to: its own, or the one whose filter kills it. */
  readonly host: HostAbi;
  /** True when `abi` is a secondary ABI of `host` (every call is killed). */
  readonly foreign: boolean;
}

/** The host ABI whose kernel also accepts `name` as a secondary ABI. */
function hostOf(name: AbiName): HostAbi | undefined {
  for (const h of HOST_ABI_NAMES) {
    const host = getHostAbi(h);
    if (host.secondary.some((a) => a.name === name)) return host;
  }
  return undefined;
}

/** --arch: any supported ABI or alias; default the host's. */
export function readArch(text: string | undefined): ArchArg {
  let name: AbiName;
  try {
    name = text === undefined ? detectHostAbi() : parseAbiName(text);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  if (isHostAbiName(name)) {
    const host = getHostAbi(name);
    return { abi: host.native, host, foreign: false };
  }
  const host = hostOf(name);
  if (!host) throw new InputError(`ABI ${name} is neither a host ABI nor a secondary one`);
  return { abi: host.secondary.find((a) => a.name === name) ?? host.native, host, foreign: true };
}

/** For commands that produce a filter: a secondary ABI has none of its own. */
export function requireHostArch(arch: ArchArg, command: string): HostAbi {
  if (arch.foreign) {
    throw new InputError(
      `${arch.abi.name} is not a host ABI: QEMU runs as ${arch.host.native.name}, whose filter kills every ` +
        `${arch.abi.name} call (try: qemu-sandbox ${command} ... --arch ${arch.host.native.name})`,
    );
  }
  return arch.host;
}
