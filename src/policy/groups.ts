/**
 * The hand-written validator for filters/*.json. filters/schema.json says the
 * same thing as JSON Schema for editors and docs; this file is what the
 * product trusts (no schema library: one less dependency in a launcher that
 * runs before every VM). Errors name the file and the JSON path, e.g.
 * "filters/spawn.json: rules[3].unless.op: expected one of eq, in, notin, range, masked".
 */
import * as fs from 'fs';
import * as path from 'path';
import { ABI_NAMES, errnoValue, getAbi, isKnownSyscall } from '../arch';
import type { AbiName } from '../arch/types';
import { resolveConstant } from './constants';
import { CONDITION_OPS, GROUP_NAMES } from './types';
import type {
  AllowedNote,
  GroupDefinition,
  GroupName,
  GroupRule,
  RuleAction,
  RuleCondition,
} from './types';

/** A filters/ file (or the set of them) that does not follow the format. */
export class GroupValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GroupValidationError';
  }
}

type Json = Record<string, unknown>;

const SYSCALL_NAME = /^[a-z_][a-z0-9_]*$/;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isGroupName(s: unknown): s is GroupName {
  return typeof s === 'string' && (GROUP_NAMES as readonly string[]).includes(s);
}

function isAbiName(s: unknown): s is AbiName {
  return typeof s === 'string' && (ABI_NAMES as readonly string[]).includes(s);
}

class Checker {
  constructor(private readonly file: string) {}

  fail(where: string, msg: string): never {
    throw new GroupValidationError(`${this.file}: ${where}: ${msg}`);
  }

  keys(obj: Json, where: string, required: readonly string[], optional: readonly string[]): void {
    for (const k of required) if (!(k in obj)) this.fail(where, `missing "${k}"`);
    for (const k of Object.keys(obj)) {
      if (!required.includes(k) && !optional.includes(k)) this.fail(where, `unknown key "${k}"`);
    }
  }

  line(v: unknown, where: string): string {
    if (typeof v !== 'string' || v.trim() === '') this.fail(where, 'expected a non-empty string');
    if (/[\r\n]/.test(v)) this.fail(where, 'must be one line');
    if (v !== v.trim()) this.fail(where, 'must not start or end with spaces');
    return v;
  }

  constant(v: unknown, where: string, width: 32 | 64): bigint {
    let n: bigint;
    try {
      n = resolveConstant(v);
    } catch (e) {
      return this.fail(where, (e as Error).message);
    }
    if (n >= 1n << BigInt(width)) this.fail(where, `${v} does not fit in ${width} bits`);
    return n;
  }

  mask(v: unknown, where: string, width: 32 | 64): bigint {
    if (!Array.isArray(v) || v.length === 0) this.fail(where, 'expected a non-empty array');
    return v.reduce<bigint>((acc, x, i) => acc | this.constant(x, `${where}[${i}]`, width), 0n);
  }

  action(v: unknown, where: string): RuleAction {
    if (v === 'kill' || v === 'notify') return v;
    if (isObject(v)) {
      this.keys(v, where, ['errno'], []);
      const name = v.errno;
      if (typeof name !== 'string' || !/^E[A-Z0-9]+$/.test(name)) {
        this.fail(`${where}.errno`, 'expected an errno name such as "EPERM"');
      }
      // Must resolve on every ABI: the value is looked up per ABI at compile time.
      for (const abi of ABI_NAMES) {
        try {
          errnoValue(abi, name);
        } catch {
          this.fail(`${where}.errno`, `"${name}" is not an errno src/arch knows on ${abi}`);
        }
      }
      return { errno: name };
    }
    return this.fail(where, 'expected "kill", "notify" or {"errno": "ENAME"}');
  }

  condition(v: unknown, where: string): RuleCondition {
    if (!isObject(v)) this.fail(where, 'expected an object');
    const op = v.op;
    const opKeys: Record<string, readonly string[]> = {
      eq: ['value'],
      in: ['values'],
      notin: ['values'],
      range: ['min', 'max'],
      masked: ['allOf', 'noneOf', 'ignore'],
    };
    if (typeof op !== 'string' || !(CONDITION_OPS as readonly string[]).includes(op)) {
      this.fail(`${where}.op`, `expected one of ${CONDITION_OPS.join(', ')}`);
    }
    const required =
      op === 'masked' ? ['arg', 'width', 'op'] : ['arg', 'width', 'op', ...opKeys[op]];
    this.keys(v, where, required, op === 'masked' ? opKeys.masked : []);
    const arg = v.arg;
    if (
      arg !== 'cloneFlags' &&
      !(Number.isInteger(arg) && (arg as number) >= 0 && (arg as number) <= 5)
    ) {
      this.fail(`${where}.arg`, 'expected 0..5 or "cloneFlags"');
    }
    const width = v.width;
    if (width !== 32 && width !== 64) this.fail(`${where}.width`, 'expected 32 or 64');
    const base = { arg: arg as number | 'cloneFlags', width: width as 32 | 64 };
    if (op === 'eq') {
      return { ...base, op, values: [this.constant(v.value, `${where}.value`, width)] };
    }
    if (op === 'in' || op === 'notin') {
      const values = v.values;
      if (!Array.isArray(values) || values.length === 0) {
        this.fail(`${where}.values`, 'expected a non-empty array');
      }
      return {
        ...base,
        op,
        values: values.map((x, i) => this.constant(x, `${where}.values[${i}]`, width)),
      };
    }
    if (op === 'range') {
      // 32 bits only: every argument that needs a range (pids) is an int, and
      // a 64-bit range would take a two-word comparison for no rule's sake.
      if (width !== 32) this.fail(`${where}.width`, 'range compares 32 bits only');
      const min = this.constant(v.min, `${where}.min`, 32);
      const max = this.constant(v.max, `${where}.max`, 32);
      if (min > max) this.fail(where, 'min is above max: the condition could never hold');
      return { ...base, op, min, max };
    }
    if (v.allOf === undefined && v.noneOf === undefined) {
      this.fail(where, 'masked needs "allOf" and/or "noneOf"');
    }
    const allOf = v.allOf === undefined ? undefined : this.mask(v.allOf, `${where}.allOf`, width);
    const noneOf =
      v.noneOf === undefined ? undefined : this.mask(v.noneOf, `${where}.noneOf`, width);
    const ignore =
      v.ignore === undefined ? undefined : this.mask(v.ignore, `${where}.ignore`, width);
    if (allOf !== undefined && noneOf !== undefined && (allOf & noneOf) !== 0n) {
      this.fail(where, 'allOf and noneOf share bits: the condition could never hold');
    }
    if (ignore !== undefined && ((allOf ?? 0n) | (noneOf ?? 0n)) & ignore) {
      this.fail(
        where,
        'ignore shares bits with allOf or noneOf: a bit is either checked or ignored',
      );
    }
    return {
      ...base,
      op: 'masked',
      ...(allOf !== undefined ? { allOf } : {}),
      ...(noneOf !== undefined ? { noneOf } : {}),
      ...(ignore !== undefined ? { ignore } : {}),
    };
  }

  rule(v: unknown, where: string): GroupRule {
    if (!isObject(v)) this.fail(where, 'expected an object');
    this.keys(
      v,
      where,
      ['syscall', 'action', 'reason', 'origin'],
      ['unless', 'absentOn', 'qemuDifference'],
    );
    const syscall = v.syscall;
    if (typeof syscall !== 'string' || !SYSCALL_NAME.test(syscall)) {
      this.fail(`${where}.syscall`, 'expected a syscall name (lower case, digits, _)');
    }
    const action = this.action(v.action, `${where}.action`);
    const reason = this.line(v.reason, `${where}.reason`);
    if (v.origin !== 'qemu' && v.origin !== 'extension') {
      this.fail(`${where}.origin`, 'expected "qemu" or "extension"');
    }
    let absentOn: AbiName[] = [];
    if (v.absentOn !== undefined) {
      if (!Array.isArray(v.absentOn) || v.absentOn.length === 0) {
        this.fail(`${where}.absentOn`, 'expected a non-empty array of ABI names');
      }
      absentOn = v.absentOn.map((a, i) =>
        isAbiName(a) ? a : this.fail(`${where}.absentOn[${i}]`, `unknown ABI ${JSON.stringify(a)}`),
      );
    }
    let qemuDifference: string | undefined;
    if (v.qemuDifference !== undefined) {
      qemuDifference = this.line(v.qemuDifference, `${where}.qemuDifference`);
      if (v.origin !== 'qemu') {
        this.fail(`${where}.qemuDifference`, 'only for origin "qemu" rules');
      }
    }
    const rule: GroupRule = {
      syscall,
      action,
      reason,
      origin: v.origin,
      absentOn,
      ...(qemuDifference !== undefined ? { qemuDifference } : {}),
      ...(v.unless !== undefined ? { unless: this.condition(v.unless, `${where}.unless`) } : {}),
    };
    return rule;
  }

  allowed(v: unknown, where: string): AllowedNote {
    if (!isObject(v)) this.fail(where, 'expected an object');
    this.keys(v, where, ['syscall', 'reason'], []);
    if (typeof v.syscall !== 'string' || !SYSCALL_NAME.test(v.syscall)) {
      this.fail(`${where}.syscall`, 'expected a syscall name');
    }
    return { syscall: v.syscall, reason: this.line(v.reason, `${where}.reason`) };
  }
}

/**
 * Validates one parsed group file. `file` names it in errors; the group name
 * must match the file's base name (filters/spawn.json holds "spawn").
 */
export function validateGroupFile(data: unknown, file: string): GroupDefinition {
  // Explicitly typed, so TypeScript narrows after `c.fail(...)` (returns never).
  const c: Checker = new Checker(file);
  if (!isObject(data)) c.fail('(top)', 'expected a JSON object');
  c.keys(data, '(top)', ['group', 'description', 'rules'], ['$schema', 'allowed']);
  const name = data.group;
  if (!isGroupName(name)) c.fail('group', `expected one of ${GROUP_NAMES.join(', ')}`);
  const base = path.basename(file, '.json');
  if (base !== name) c.fail('group', `"${name}" does not match the file name ${base}.json`);
  const description = c.line(data.description, 'description');
  if (!Array.isArray(data.rules) || data.rules.length === 0) {
    c.fail('rules', 'expected a non-empty array');
  }
  const rules = data.rules.map((r, i) => c.rule(r, `rules[${i}]`));
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    if (seen.has(r.syscall)) c.fail(`rules[${i}].syscall`, `"${r.syscall}" appears twice`);
    seen.add(r.syscall);
  });
  let allowed: AllowedNote[] = [];
  if (data.allowed !== undefined) {
    if (!Array.isArray(data.allowed)) c.fail('allowed', 'expected an array');
    allowed = data.allowed.map((a, i) => c.allowed(a, `allowed[${i}]`));
    allowed.forEach((a, i) => {
      if (seen.has(a.syscall))
        c.fail(`allowed[${i}]`, `"${a.syscall}" is also a rule of this group`);
    });
  }
  return Object.freeze({ name, description, rules, allowed, file });
}

/**
 * Checks the whole set against each other and against src/arch: every group
 * present once, no syscall in two groups, nothing listed as deliberately
 * allowed that the default group denies, every name known to some
 * ABI (catches typos), and `absentOn` true to the tables: a name missing on
 * x86_64 must say so, and a listed ABI must really lack it.
 */
export function validateGroupSet(groups: readonly GroupDefinition[]): void {
  const names = groups.map((g) => g.name);
  for (const n of GROUP_NAMES) {
    if (!names.includes(n))
      throw new GroupValidationError(`group "${n}" is missing (filters/${n}.json)`);
  }
  if (new Set(names).size !== names.length) {
    throw new GroupValidationError(`a group is defined twice: ${names.join(', ')}`);
  }
  // A syscall belongs to one group, unless every rule for it has a condition:
  // then each group takes away its own uses (ioctl: TIOCSTI always, TUNSETIFF
  // under network=deny), and the compiler checks them in turn.
  // Two rules with one condition: whichever the kernel's precedence puts
  // first decides every call the other would, so the other is dead (the
  // compiler refuses such a pair too).
  const owner = new Map<string, GroupName>();
  const conditional = new Map<string, boolean>();
  const conditions = new Map<string, { group: GroupName; text: string }[]>();
  const conditionText = (c: unknown): string =>
    JSON.stringify(c, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  for (const g of groups) {
    for (const r of g.rules) {
      const prev = owner.get(r.syscall);
      if (prev && (prev === g.name || !conditional.get(r.syscall) || !r.unless)) {
        throw new GroupValidationError(
          `${g.file}: "${r.syscall}" is already in group "${prev}": a syscall belongs to one group, ` +
            'unless each of its rules has a condition',
        );
      }
      const text = conditionText(r.unless);
      const same = (conditions.get(r.syscall) ?? []).find((x) => x.text === text);
      if (same) {
        throw new GroupValidationError(
          `${g.file}: "${r.syscall}" has the same condition as in group "${same.group}": one of the two rules could never decide a call`,
        );
      }
      conditions.set(r.syscall, [...(conditions.get(r.syscall) ?? []), { group: g.name, text }]);
      if (!prev) owner.set(r.syscall, g.name);
      conditional.set(r.syscall, r.unless !== undefined);
    }
  }
  const x86 = getAbi('x86_64');
  for (const g of groups) {
    for (const a of g.allowed) {
      // A note may point at an opt-in group ("only network=deny takes it
      // away"), but the default group is on whenever any group is.
      if (owner.get(a.syscall) === 'default') {
        throw new GroupValidationError(
          `${g.file}: "${a.syscall}" is listed as allowed but the default group denies it`,
        );
      }
      if (!isKnownSyscall(a.syscall)) {
        throw new GroupValidationError(
          `${g.file}: allowed "${a.syscall}" is no syscall of any ABI`,
        );
      }
    }
    for (const r of g.rules) {
      if (!isKnownSyscall(r.syscall)) {
        throw new GroupValidationError(
          `${g.file}: "${r.syscall}" is no syscall of any ABI we know`,
        );
      }
      if (!x86.syscalls.has(r.syscall) && !r.absentOn.includes('x86_64')) {
        throw new GroupValidationError(
          `${g.file}: "${r.syscall}" does not exist on x86_64; say so with "absentOn": ["x86_64"]`,
        );
      }
      for (const abi of r.absentOn) {
        if (getAbi(abi).syscalls.has(r.syscall)) {
          throw new GroupValidationError(
            `${g.file}: "${r.syscall}" is listed as absent on ${abi} but ${abi} has it`,
          );
        }
      }
    }
  }
}

/** Reads and validates every filters/<group>.json in `dir`. */
export function readGroupsDir(dir: string): GroupDefinition[] {
  const groups = GROUP_NAMES.map((name) => {
    const file = path.join(dir, `${name}.json`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new GroupValidationError(`${file}: cannot read: ${(e as Error).message}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new GroupValidationError(`${file}: malformed JSON: ${(e as Error).message}`);
    }
    return validateGroupFile(data, file);
  });
  validateGroupSet(groups);
  return groups;
}
