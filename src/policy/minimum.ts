/**
 * The site minimum: a floor under every launch's policy. Whatever the
 * command line says (`-sandbox off` included), each key the minimum names
 * ends up at least as strict as the minimum's value; the keys it does not
 * name are left alone. A minimum always means `on` (a floor of `off` would be
 * no floor at all, so the config refuses it).
 *
 * DESIGN DECISION, the strictness of each key (weakest first):
 *   enable             off < on
 *   obsolete, spawn, resourcecontrol, network
 *                      allow < deny
 *   elevateprivileges  allow < deny < children. In QEMU (system/qemu-seccomp.c)
 *                      `children` is `deny` plus PR_SET_NO_NEW_PRIVS, a strict
 *                      superset. This launcher sets no-new-privileges for
 *                      both, so the two load the same filter today; ranking by
 *                      QEMU's meaning keeps a `children` floor honest should
 *                      `deny` ever stop setting it, at the price of a
 *                      recorded (harmless) deny -> children raise.
 *   action             log < errno < trap < kill. log lets the call run;
 *                      errno refuses it and QEMU goes on; trap raises SIGSYS,
 *                      which kills QEMU unless it installed a handler (code
 *                      that took QEMU over could); kill always ends it.
 *   preflight          warn < enforce. enforce refuses a command line the
 *                      policy would break at run time; warn lets it start.
 */
import {
  POLICY_FIELDS,
  SANDBOX_KEYS,
  SandboxOptionError,
  buildPolicy,
  checkConfigString,
  isTrueWord,
  policyValue,
  type PolicySource,
  type ResolvedSandbox,
  type SandboxKey,
} from './sandbox-option';
import type { SandboxPolicy } from './types';

/** Each key's values from weakest to strictest (see the design decision above). */
export const STRICTNESS: Readonly<Record<SandboxKey, readonly string[]>> = {
  enable: ['off', 'on'],
  obsolete: ['allow', 'deny'],
  elevateprivileges: ['allow', 'deny', 'children'],
  spawn: ['allow', 'deny'],
  resourcecontrol: ['allow', 'deny'],
  network: ['allow', 'deny'],
  action: ['log', 'errno', 'trap', 'kill'],
  preflight: ['warn', 'enforce'],
};

/** A parsed minimum: the string, where it came from, and the value of each key it names. */
export interface SandboxMinimum {
  readonly value: string;
  /** e.g. "minimum in /etc/qemu-sandboxed/config.json". */
  readonly origin: string;
  /** Always has enable=on; the other keys only when the string names them. */
  readonly keys: ReadonlyMap<SandboxKey, string>;
}

/** One key the minimum raised. */
export interface Tightening {
  readonly key: SandboxKey;
  readonly from: string;
  readonly to: string;
  /** Where the weaker value came from: "-sandbox", "sandbox in FILE", "built-in default"... */
  readonly source: string;
}

/** How to name a key's value that no source set. */
export const BUILT_IN_DEFAULT = 'built-in default';

/**
 * Parses and checks a minimum string. Throws SandboxOptionError (QEMU's
 * wording, prefixed with `origin`) for a malformed one or one that says off.
 */
export function parseMinimum(value: string, origin: string): SandboxMinimum {
  const parsed = checkConfigString(value, origin);
  const keys = new Map<SandboxKey, string>();
  for (const item of parsed.items) keys.set(item.key, item.value);
  const enable = keys.get('enable');
  if (enable !== undefined && !isTrueWord(enable)) {
    throw new SandboxOptionError(
      'a minimum of off would be no floor at all: remove the key, or name what every launch must have (e.g. "on,spawn=deny")',
      { value, origin },
    );
  }
  keys.set('enable', 'on');
  return { value, origin, keys };
}

function rank(key: SandboxKey, value: string): number {
  return STRICTNESS[key].indexOf(value);
}

/**
 * The resolved policy raised to the minimum. A policy that was off is turned
 * on with the merged keys it had (so they are checked now, and an invalid one
 * is blamed on its source), then each named key is raised when weaker.
 */
export function applyMinimum(
  resolved: ResolvedSandbox,
  minimum: SandboxMinimum,
): { readonly resolved: ResolvedSandbox; readonly tightened: readonly Tightening[] } {
  const options = new Map(resolved.options);
  const setBy = new Map(resolved.setBy);
  const floor: PolicySource = { value: minimum.value, origin: minimum.origin };
  const tightened: Tightening[] = [];
  const sourceOf = (key: SandboxKey): string => setBy.get(key)?.origin ?? BUILT_IN_DEFAULT;

  let policy: SandboxPolicy = resolved.policy;
  if (!policy.enable) {
    tightened.push({ key: 'enable', from: 'off', to: 'on', source: sourceOf('enable') });
    options.set('enable', 'on');
    setBy.set('enable', floor);
    policy = buildPolicy(options, setBy);
  }
  const raised: Record<string, string> = {};
  for (const [key, want] of minimum.keys) {
    if (key === 'enable') continue;
    const have = policyValue(policy, key);
    if (rank(key, have) >= rank(key, want)) continue;
    tightened.push({ key, from: have, to: want, source: sourceOf(key) });
    raised[POLICY_FIELDS[key]] = want;
    options.set(key, want);
    setBy.set(key, floor);
  }
  if (Object.keys(raised).length > 0) policy = Object.freeze({ ...policy, ...raised });
  const sources = new Map<SandboxKey, string>(
    [...setBy].map(([k, s]) => [k, `${s.origin} ${s.value}`]),
  );
  return {
    resolved: { policy, options, setBy, sources, warnings: resolved.warnings },
    tightened,
  };
}

/** Every key of an enabled policy (only `enable` for an off one) -> where its value came from. */
export function keyOrigins(resolved: ResolvedSandbox): Partial<Record<SandboxKey, string>> {
  const keys: readonly SandboxKey[] = resolved.policy.enable ? SANDBOX_KEYS : ['enable'];
  const out: Partial<Record<SandboxKey, string>> = {};
  for (const k of keys) out[k] = resolved.setBy.get(k)?.origin ?? BUILT_IN_DEFAULT;
  return out;
}

/** "spawn allow -> deny (-sandbox)" for each raised key, joined with ", ". */
export function tighteningWords(tightened: readonly Tightening[]): string {
  return tightened.map((t) => `${t.key} ${t.from} -> ${t.to} (${t.source})`).join(', ');
}
