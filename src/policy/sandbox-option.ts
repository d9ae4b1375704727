/**
 * The -sandbox grammar, parsed the way QEMU parses it.
 *
 * QEMU reads `-sandbox` with QemuOpts (util/qemu-option.c): a comma-separated
 * list of `key=value` items where `,,` escapes a comma inside a value, the
 * first item may omit `enable=` (the list's implied_opt_name), and a later item
 * without `=` is a short-form boolean (`foo` -> foo=on, `nofoo` -> foo=off,
 * deprecated since QEMU 6.0 with a warning). Unknown keys fail at parse time
 * with "Invalid parameter 'foo'"; `enable` is a QEMU_OPT_BOOL parsed by
 * qapi_bool_parse (on/yes/true/y, off/no/false/n, case-sensitive), failing
 * with "Parameter 'enable' expects 'on' or 'off'". The other keys are strings
 * that system/qemu-seccomp.c's parse_sandbox() checks only when the sandbox is
 * enabled, in a fixed order (obsolete, elevateprivileges, spawn,
 * resourcecontrol), failing with "invalid argument for <key>".
 *
 * DESIGN DECISION: the sandbox is ON by default, so the effective option set
 * is a merge, in this order, of
 *   1. the default string: `sandbox` from the site config, else
 *      DEFAULT_POLICY_STRING ("on");
 *   2. the layers between them: the per-VM string (`vms` in the site config);
 *   3. each `-sandbox` value from the command line, left to right;
 * merged like a QemuOptsList with merge_lists: one option set, the last value
 * of each key wins. A string from the config file (1 and 2) that says neither
 * on nor off means `on` plus its keys: `{"sandbox": "spawn=deny"}` must never
 * run QEMU without a filter because `enable` was left out (QEMU's absent
 * `enable` is off). The site `minimum` is applied after this merge, as a
 * floor (minimum.ts). Consequences, all deliberate:
 *   - a key given without `enable` inherits it from the default, so
 *     `-sandbox spawn=deny` means "the default policy, plus spawn=deny";
 *   - `-sandbox off` (or enable=off anywhere later) disables the filter;
 *   - `-sandbox ""` changes nothing (in QEMU it would be an empty, disabled
 *     option set; here there is nothing to merge);
 *   - stock QEMU creates one option set per `-sandbox` (its list has no
 *     merge_lists) and stacks one filter per enabled set; merging gives the
 *     same result for the keys a later `-sandbox` does not mention, and lets
 *     a later value override an earlier one, which stacking cannot;
 *   - `id=` is accepted as QEMU accepts it (its sandbox list has no
 *     merge_lists, so it takes ids): it must be an identifier ("Parameter
 *     'id' expects an identifier"), two -sandbox values may not share one
 *     ("Duplicate ID 'x' for sandbox"), and it changes nothing else;
 *   - when the merged result is disabled, the other values are not checked,
 *     exactly like parse_sandbox(), which returns early for enable=off.
 */
import type { SandboxPolicy } from './types';

/** The policy string used when neither the site config nor the command line sets one. */
export const DEFAULT_POLICY_STRING = 'on';

/** Every key -sandbox accepts: QEMU's five, then our three extensions. */
export const SANDBOX_KEYS = [
  'enable',
  'obsolete',
  'elevateprivileges',
  'spawn',
  'resourcecontrol',
  'network',
  'action',
  'preflight',
] as const;
export type SandboxKey = (typeof SANDBOX_KEYS)[number];

/** The string-valued keys, in the order their values are checked, with their values. */
const VALUE_KEYS: ReadonlyArray<readonly [Exclude<SandboxKey, 'enable'>, readonly string[]]> = [
  ['obsolete', ['allow', 'deny']],
  ['elevateprivileges', ['allow', 'deny', 'children']],
  ['spawn', ['allow', 'deny']],
  ['resourcecontrol', ['allow', 'deny']],
  ['network', ['allow', 'deny']],
  ['action', ['kill', 'trap', 'errno', 'log']],
  ['preflight', ['enforce', 'warn']],
];

/** The policy `on` means: QEMU's defaults (obsolete denied) plus our defaults. */
export const DEFAULT_POLICY: SandboxPolicy = Object.freeze({
  enable: true,
  obsolete: 'deny',
  elevatePrivileges: 'allow',
  spawn: 'allow',
  resourceControl: 'allow',
  network: 'allow',
  action: 'kill',
  preflight: 'enforce',
});

/** `-sandbox off`. The other fields carry the defaults; nothing reads them. */
export const DISABLED_POLICY: SandboxPolicy = Object.freeze({ ...DEFAULT_POLICY, enable: false });

/**
 * A -sandbox value QEMU would refuse. `detail` is QEMU's own wording
 * ("Invalid parameter 'foo'"); `message` adds where it came from, the way QEMU
 * prefixes its location ("-sandbox foo=bar: Invalid parameter 'foo'").
 */
export class SandboxOptionError extends Error {
  readonly detail: string;
  /** The offending -sandbox value, when there is one. */
  readonly value?: string;
  /** Where the value came from: "-sandbox" or e.g. "sandbox in /etc/qemu-sandboxed/config.json". */
  readonly origin: string;
  /** True for `help`/`?`: `message` is the option list, not an error. */
  readonly help: boolean;

  constructor(
    detail: string,
    opts: { value?: string; origin?: string; help?: boolean; hint?: string } = {},
  ) {
    const origin = opts.origin ?? '-sandbox';
    const where = opts.value === undefined ? origin : `${origin} ${opts.value}`;
    // QEMU prints a hint (error_append_hint) on the line after the error.
    const hint = opts.hint === undefined ? '' : `\n${opts.hint}`;
    super(opts.help ? detail : `${where}: ${detail}${hint}`);
    this.name = 'SandboxOptionError';
    this.detail = detail;
    this.value = opts.value;
    this.origin = origin;
    this.help = opts.help ?? false;
  }
}

/** One `key=value` item of a parsed -sandbox string. */
export interface SandboxOptionItem {
  readonly key: SandboxKey;
  readonly value: string;
}

export interface ParsedSandboxOption {
  /** In order of appearance; a later item of the same key wins. */
  readonly items: readonly SandboxOptionItem[];
  /** The option set's `id=`, when given (the first one, as opts_parse_id() takes it). */
  readonly id?: string;
  /** QEMU's deprecation warnings (short-form booleans), one line each. */
  readonly warnings: readonly string[];
}

/** qapi_bool_parse (qapi/qapi-util.c): exact, case-sensitive spellings. */
const TRUE_WORDS = ['on', 'yes', 'true', 'y'];
const FALSE_WORDS = ['off', 'no', 'false', 'n'];

/** QEMU's is_help_option(). */
function isHelpOption(s: string): boolean {
  return s === 'help' || s === '?';
}

/**
 * get_opt_value(): reads up to the next lone comma; `,,` is a literal comma.
 * Returns the value and the index of the delimiter (or s.length).
 */
export function readOptValue(s: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start;
  for (;;) {
    const comma = s.indexOf(',', i);
    if (comma === -1) return { value: value + s.slice(i), end: s.length };
    if (s[comma + 1] === ',') {
      value += s.slice(i, comma + 1);
      i = comma + 2;
      continue;
    }
    return { value: value + s.slice(i, comma), end: comma };
  }
}

/** One raw item as QemuOpts' get_opt_name_value() splits it. */
export interface RawOptItem {
  readonly name: string;
  readonly value: string;
  /** Written without `=` after the first item: a short-form boolean (`foo`, `nofoo`). */
  readonly flag: boolean;
  /** The first item without `=`, named after the implied key. */
  readonly implied: boolean;
  /** A flag named help or `?`. */
  readonly help: boolean;
  /** QEMU's deprecation warning for a short-form boolean, if any. */
  readonly warning?: string;
}

/**
 * util/qemu-option.c get_opt_name_value() over a whole string: the common
 * splitter under the -sandbox grammar and parseKeyValueList().
 */
export function splitQemuOpts(params: string, impliedKey?: string): RawOptItem[] {
  const out: RawOptItem[] = [];
  let firstname = impliedKey;
  let p = 0;
  while (p < params.length) {
    const rest = params.slice(p);
    const m = /[=,]/.exec(rest);
    const len = m ? m.index : rest.length;
    if (rest[len] !== '=') {
      if (firstname !== undefined) {
        // "foo,more" first: the whole item (with ,, escapes) is the implied key's value.
        const { value, end } = readOptValue(params, p);
        out.push({ name: firstname, value, flag: false, implied: true, help: false });
        p = end;
      } else {
        // Flag names are cut at the first comma: no ,, escaping in names (as in QEMU).
        let name = rest.slice(0, len);
        let value = 'on';
        let prefix = '';
        let help = false;
        if (name.startsWith('no')) {
          name = name.slice(2);
          value = 'off';
          prefix = 'no';
        } else {
          help = isHelpOption(name);
        }
        let warning: string | undefined;
        if (!help) {
          const fix =
            name === 'delay'
              ? `Please use nodelay=${prefix ? 'on' : 'off'} instead`
              : `Please use ${name}=${value} instead`;
          warning = `short-form boolean option '${prefix}${name}' deprecated; ${fix}`;
        }
        out.push({ name, value, flag: true, implied: false, help, warning });
        p += len;
      }
    } else {
      const name = rest.slice(0, len);
      const { value, end } = readOptValue(params, p + len + 1);
      out.push({ name, value, flag: false, implied: false, help: false });
      p = end;
    }
    firstname = undefined;
    if (params[p] === ',') p++;
  }
  return out;
}

function isSandboxKey(s: string): s is SandboxKey {
  return (SANDBOX_KEYS as readonly string[]).includes(s);
}

/** QEMU's "sandbox options:" help text, plus our keys, sorted like qemu_opts_print_help(). */
export function sandboxHelpText(): string {
  const lines = SANDBOX_KEYS.map((k) =>
    k === 'enable' ? `  ${k}=<bool (on/off)>` : `  ${k}=<str>`,
  ).sort();
  return ['sandbox options:', ...lines].join('\n');
}

/**
 * Parses one -sandbox value (syntax and keys only, like QemuOpts does at
 * option-parsing time). Values of the string keys are checked later, on the
 * merged result, by resolveSandboxPolicy().
 */
export function parseSandboxOption(value: string, origin = '-sandbox'): ParsedSandboxOption {
  const err = (detail: string): SandboxOptionError =>
    new SandboxOptionError(detail, { value, origin });
  // opts_parse_id() runs first, without the implied name: the first `id`
  // item is the id, and qemu_opts_create() checks its form before any key.
  const id = splitQemuOpts(value).find((i) => i.name === 'id')?.value;
  if (id !== undefined && !isQemuIdentifier(id)) {
    throw new SandboxOptionError(`Parameter 'id' expects an identifier`, {
      value,
      origin,
      hint: "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.",
    });
  }
  const items: SandboxOptionItem[] = [];
  const warnings: string[] = [];
  for (const raw of splitQemuOpts(value, 'enable')) {
    // opts_do_parse() skips id items: the id names the option set, it is no key.
    if (raw.name === 'id') continue;
    if (raw.help) {
      throw new SandboxOptionError(sandboxHelpText(), { value, origin, help: true });
    }
    if (!isSandboxKey(raw.name)) throw err(`Invalid parameter '${raw.name}'`);
    if (raw.name === 'enable' && ![...TRUE_WORDS, ...FALSE_WORDS].includes(raw.value)) {
      throw err("Parameter 'enable' expects 'on' or 'off'");
    }
    if (raw.warning) warnings.push(raw.warning);
    items.push({ key: raw.name, value: raw.value });
  }
  return id === undefined ? { items, warnings } : { items, warnings, id };
}

/** QEMU's id_wellformed() (util/id.c): an ASCII letter, then letters, digits, '-', '.', '_'. */
function isQemuIdentifier(id: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(id);
}

/** One source of -sandbox items: its string and how to name it ("-sandbox", "sandbox in FILE"...). */
export interface PolicySource {
  readonly value: string;
  readonly origin: string;
}

/** The merged option set: the last value of each key, plus where it came from. */
export interface ResolvedSandbox {
  readonly policy: SandboxPolicy;
  /** The last value of every key that some source set. */
  readonly options: ReadonlyMap<SandboxKey, string>;
  /** Which source set each key's winning value, as "ORIGIN VALUE". */
  readonly sources: ReadonlyMap<SandboxKey, string>;
  /** Which source set each key's winning value (keys no source set are absent). */
  readonly setBy: ReadonlyMap<SandboxKey, PolicySource>;
  readonly warnings: readonly string[];
}

export interface ResolveOptions {
  /** The base string; the site config's `sandbox`, else DEFAULT_POLICY_STRING. */
  readonly defaultString?: string;
  /** How to name the base string in errors, e.g. "sandbox in /etc/qemu-sandboxed/config.json". */
  readonly defaultOrigin?: string;
  /**
   * The base string comes from the config file: without on/off it means `on`
   * plus its keys (see the design decision above).
   */
  readonly defaultImpliesOn?: boolean;
  /**
   * Config-file strings merged after the base and before the command line
   * (the per-VM policy); each means `on` plus its keys unless it says on/off.
   */
  readonly layers?: readonly PolicySource[];
}

/** The words `enable` accepts as on (qapi_bool_parse). */
export function isTrueWord(s: string): boolean {
  return TRUE_WORDS.includes(s);
}

/**
 * The effective policy of a command line: the default string merged with the
 * layers and each -sandbox value in order (see the design decision at the top
 * of this file). Throws SandboxOptionError with QEMU's wording.
 */
export function resolveSandboxPolicy(
  sandboxValues: readonly string[],
  opts: ResolveOptions = {},
): ResolvedSandbox {
  const base = opts.defaultString ?? DEFAULT_POLICY_STRING;
  const baseOrigin = opts.defaultOrigin ?? 'default policy';
  const sources: Array<PolicySource & { impliesOn: boolean }> = [
    { value: base, origin: baseOrigin, impliesOn: opts.defaultImpliesOn === true },
    ...(opts.layers ?? []).map((l) => ({ ...l, impliesOn: true })),
    ...sandboxValues.map((value) => ({ value, origin: '-sandbox', impliesOn: false })),
  ];
  const options = new Map<SandboxKey, string>();
  const from = new Map<SandboxKey, PolicySource>();
  const warnings: string[] = [];
  const ids = new Set<string>();
  for (const src of sources) {
    const parsed = parseSandboxOption(src.value, src.origin);
    if (parsed.id !== undefined) {
      // qemu_opts_create(..., fail_if_exists): each -sandbox is its own option set.
      if (ids.has(parsed.id)) {
        throw new SandboxOptionError(`Duplicate ID '${parsed.id}' for sandbox`, {
          value: src.value,
          origin: src.origin,
        });
      }
      ids.add(parsed.id);
    }
    const source: PolicySource = { value: src.value, origin: src.origin };
    if (src.impliesOn && !parsed.items.some((i) => i.key === 'enable')) {
      options.set('enable', 'on');
      from.set('enable', source);
    }
    for (const item of parsed.items) {
      options.set(item.key, item.value);
      from.set(item.key, source);
    }
    for (const w of parsed.warnings) warnings.push(`${src.origin} ${src.value}: ${w}`);
  }
  const sourceNames = new Map<SandboxKey, string>(
    [...from].map(([k, s]) => [k, `${s.origin} ${s.value}`]),
  );
  return {
    policy: buildPolicy(options, from),
    options,
    sources: sourceNames,
    setBy: from,
    warnings,
  };
}

/**
 * The policy an option set describes: DISABLED_POLICY unless `enable` is on;
 * otherwise every value checked (the first bad one blamed on the source that
 * set it, from `setBy`) and the unset keys taken from DEFAULT_POLICY.
 */
export function buildPolicy(
  options: ReadonlyMap<SandboxKey, string>,
  setBy: ReadonlyMap<SandboxKey, PolicySource>,
): SandboxPolicy {
  const enableWord = options.get('enable');
  // qemu_opt_get_bool(opts, "enable", false): absent means off, as in QEMU.
  if (enableWord === undefined || !TRUE_WORDS.includes(enableWord)) return DISABLED_POLICY;
  checkValues(options, setBy);
  const get = <T extends string>(key: SandboxKey, dflt: T): T => (options.get(key) as T) ?? dflt;
  return Object.freeze({
    enable: true,
    obsolete: get('obsolete', DEFAULT_POLICY.obsolete),
    elevatePrivileges: get('elevateprivileges', DEFAULT_POLICY.elevatePrivileges),
    spawn: get('spawn', DEFAULT_POLICY.spawn),
    resourceControl: get('resourcecontrol', DEFAULT_POLICY.resourceControl),
    network: get('network', DEFAULT_POLICY.network),
    action: get('action', DEFAULT_POLICY.action),
    preflight: get('preflight', DEFAULT_POLICY.preflight),
  });
}

/** parse_sandbox()'s checks of the string keys, in its order, whatever `enable` says. */
export function checkValues(
  options: ReadonlyMap<SandboxKey, string>,
  setBy: ReadonlyMap<SandboxKey, PolicySource>,
): void {
  for (const [key, allowed] of VALUE_KEYS) {
    const v = options.get(key);
    if (v !== undefined && !allowed.includes(v)) {
      const src = setBy.get(key);
      throw new SandboxOptionError(`invalid argument for ${key}`, {
        value: src?.value,
        origin: src?.origin,
      });
    }
  }
}

/**
 * A config-file string checked on its own: its syntax, and every value even
 * when it says `off` (a value that only fails once some other source turns
 * the sandbox on would fail far from the file that holds it).
 */
export function checkConfigString(value: string, origin: string): ParsedSandboxOption {
  const parsed = parseSandboxOption(value, origin);
  const options = new Map<SandboxKey, string>();
  for (const item of parsed.items) options.set(item.key, item.value);
  const source: PolicySource = { value, origin };
  checkValues(options, new Map([...options.keys()].map((k) => [k, source])));
  return parsed;
}

/** The SandboxPolicy field of each -sandbox key. */
export const POLICY_FIELDS = {
  enable: 'enable',
  obsolete: 'obsolete',
  elevateprivileges: 'elevatePrivileges',
  spawn: 'spawn',
  resourcecontrol: 'resourceControl',
  network: 'network',
  action: 'action',
  preflight: 'preflight',
} as const satisfies Record<SandboxKey, keyof SandboxPolicy>;

/** A policy's value for one key, in -sandbox words ("on"/"off" for enable). */
export function policyValue(policy: SandboxPolicy, key: SandboxKey): string {
  if (key === 'enable') return policy.enable ? 'on' : 'off';
  return policy[POLICY_FIELDS[key]] as string;
}

/**
 * A policy from one string, merged onto a default like a single `-sandbox`
 * would be (what the CLI's POLICY arguments mean). With defaultString "" the
 * string stands alone, exactly as stock QEMU would read it.
 */
export function parsePolicy(
  s: string,
  defaultString: string = DEFAULT_POLICY_STRING,
): SandboxPolicy {
  return resolveSandboxPolicy([s], { defaultString }).policy;
}

/**
 * The canonical string of a policy: "off", or "on" followed by the keys that
 * differ from DEFAULT_POLICY in SANDBOX_KEYS order. With `full`, every key is
 * written, so the string means the same whatever default it is merged onto.
 * parsePolicy(policyToString(p)) equals p; with full, for any default.
 */
export function policyToString(policy: SandboxPolicy, opts: { full?: boolean } = {}): string {
  if (!policy.enable) return 'off';
  const pairs: Array<[SandboxKey, string, string]> = [
    ['obsolete', policy.obsolete, DEFAULT_POLICY.obsolete],
    ['elevateprivileges', policy.elevatePrivileges, DEFAULT_POLICY.elevatePrivileges],
    ['spawn', policy.spawn, DEFAULT_POLICY.spawn],
    ['resourcecontrol', policy.resourceControl, DEFAULT_POLICY.resourceControl],
    ['network', policy.network, DEFAULT_POLICY.network],
    ['action', policy.action, DEFAULT_POLICY.action],
    ['preflight', policy.preflight, DEFAULT_POLICY.preflight],
  ];
  const parts = ['on'];
  for (const [key, value, dflt] of pairs) {
    if (opts.full || value !== dflt) parts.push(`${key}=${value}`);
  }
  return parts.join(',');
}
