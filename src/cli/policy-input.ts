/**
 * POLICY and --arch arguments, resolved the way the launcher resolves them, so
 * `compile` shows exactly the program `qemu-sandboxed -sandbox POLICY` loads.
 */
import { getHostAbi, isHostAbiName, parseAbiName, detectHostAbi, HOST_ABI_NAMES } from '../arch';
import type { Abi, AbiName, HostAbi } from '../arch/types';
import { loadConfig, type SiteConfig } from '../policy/config';
import {
  DEFAULT_POLICY_STRING,
  policyToString,
  resolveSandboxPolicy,
} from '../policy/sandbox-option';
import type { SandboxPolicy } from '../policy/types';
import { InputError } from './errors';

export interface PolicyArg {
  /** As typed. */
  readonly text: string;
  readonly policy: SandboxPolicy;
  /** Every key written out: means the same whatever default it is merged onto. */
  readonly canonical: string;
  /** The base POLICY was merged onto (the site config's `sandbox`, else "on"). */
  readonly base: string;
  readonly warnings: readonly string[];
}

export function siteConfig(env: NodeJS.ProcessEnv): SiteConfig {
  return loadConfig(env);
}

/**
 * POLICY merged onto the site default, like one `-sandbox POLICY` on the
 * launcher's command line: `spawn=deny` alone means "the default plus
 * spawn=deny", and `off` disables everything.
 */
export function readPolicy(text: string, env: NodeJS.ProcessEnv): PolicyArg {
  const config = siteConfig(env);
  const base = config.sandbox ?? DEFAULT_POLICY_STRING;
  const resolved = resolveSandboxPolicy([text], {
    defaultString: base,
    defaultOrigin: config.path ? `sandbox in ${config.path}` : 'default policy',
  });
  return {
    text,
    policy: resolved.policy,
    canonical: policyToString(resolved.policy, { full: true }),
    base,
    warnings: resolved.warnings,
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
