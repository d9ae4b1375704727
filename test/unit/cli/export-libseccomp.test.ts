/**
 * `export --format oci` checked against the engine OCI runtimes use: the
 * exported JSON is handed to libseccomp (rule by rule, as runc does), its BPF
 * is run in src/bpf's interpreter next to our compiled program, and every
 * syscall of the ABI plus both sides of every argument check must get the
 * same verdict. The differences OCI cannot avoid are listed and asserted:
 * the exec gate (USER_NOTIF -> EPERM), names libseccomp 2.5 does not know
 * (it skips them, as runc does), and upper-half garbage in 32-bit arguments
 * (OCI denies; stricter).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { getHostAbi } from '../../../src/arch';
import { decodeProgram, runFilter } from '../../../src/bpf';
import { SECCOMP_RET } from '../../../src/bpf/types';
import { toOci, type OciSeccomp } from '../../../src/cli/export';
import { argCasesFor, compilePolicy } from '../../../src/compiler';
import { activeRules, parsePolicy } from '../../../src/policy';
import { errnoValue } from '../../../src/arch';
import { REPO_ROOT } from '../../helpers/cbuild';

const SOURCE = join(__dirname, 'fixtures', 'oci-libseccomp.c');

/** gcc ... -lseccomp, cached by source hash under .cache/c (ignored by git). */
function helper(): string {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const out = join(REPO_ROOT, '.cache', 'c', `oci-libseccomp-${hash}`);
  if (existsSync(out)) return out;
  mkdirSync(join(REPO_ROOT, '.cache', 'c'), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = execa.sync('gcc', ['-O2', '-Wall', '-Werror', '-o', tmp, SOURCE, '-lseccomp'], {
    reject: false,
  });
  if (r.exitCode !== 0)
    throw new Error(`gcc failed (libseccomp-dev installed? npm run setup): ${r.stderr}`);
  renameSync(tmp, out);
  return out;
}

/** The JSON as runc feeds it to libseccomp, one line per (rule, name). */
function directives(oci: OciSeccomp): string {
  const lines: string[] = [];
  for (const s of oci.syscalls) {
    const action = s.action.replace(/^SCMP_ACT_/, '');
    const args = (s.args ?? []).map(
      (a) => `${a.index} ${a.op.replace(/^SCMP_CMP_/, '')} ${a.value} ${a.valueTwo ?? 0}`,
    );
    for (const name of s.names)
      lines.push(`rule ${action} ${s.errnoRet ?? 0} ${name} ${args.length} ${args.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

const POLICIES = [
  'on',
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny',
  'on,spawn=deny,action=errno',
  'on,network=deny,resourcecontrol=deny,action=log',
];

test.each(POLICIES.map((p) => [p]))(
  'x86_64 %s: libseccomp from the OCI export agrees with our filter',
  async (text) => {
    const policy = parsePolicy(text);
    const host = getHostAbi('x86_64');
    const abi = host.native;
    const rules = activeRules(policy, abi);
    const oci = toOci({
      policyText: text,
      policy,
      host,
      rules,
      errnoFor: (n) => errnoValue('x86_64', n),
    });
    const r = await execa(helper(), [], { input: directives(oci), encoding: null, reject: false });
    expect([
      r.exitCode,
      r.stderr
        .toString()
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('unknown ')),
    ]).toEqual([0, []]);
    const unknown = new Set(
      r.stderr
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('unknown '))
        .map((l) => l.slice('unknown '.length)),
    );
    const theirs = decodeProgram(new Uint8Array(r.stdout), 'le');
    const ours = compilePolicy(policy, 'x86_64').program;

    const verdict = (program: typeof ours, nr: number, args: readonly bigint[]) =>
      runFilter(
        program,
        {
          nr,
          arch: abi.auditArch,
          instructionPointer: 0n,
          args: [...args, 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6),
        },
        'le',
      ).action >>> 0;
    const eperm = (SECCOMP_RET.ERRNO | 1) >>> 0;

    const differences: string[] = [];
    const cases: { nr: number; name: string; args: readonly bigint[] }[] = [];
    for (const [name, nr] of abi.syscalls) cases.push({ nr, name, args: [0n, 0n, 0n, 0n, 0n, 0n] });
    for (const rule of rules) {
      if (rule.unless)
        for (const args of argCasesFor(rule.unless))
          cases.push({ nr: rule.nr, name: rule.syscall, args });
    }
    for (const c of cases) {
      const a = verdict(ours, c.nr, c.args);
      const b = verdict(theirs, c.nr, c.args);
      if (a === b) continue;
      // The exec gate: OCI has no exec-once, the export says EPERM.
      if (a === SECCOMP_RET.USER_NOTIF && b === eperm) continue;
      // libseccomp 2.5 does not know the name: it skips the rule (as runc does).
      if (unknown.has(c.name) && b === SECCOMP_RET.ALLOW) continue;
      // 32-bit arguments with upper-half garbage: OCI compares 64 bits and denies.
      const rule = rules.find((x) => x.nr === c.nr && x.unless);
      const garbage = rule?.unless ? (c.args[rule.unless.arg] ?? 0n) >> 32n !== 0n : false;
      if (garbage && rule?.unless?.width === 32 && a === SECCOMP_RET.ALLOW) continue;
      differences.push(
        `${c.name}(${c.args.map((x) => `0x${x.toString(16)}`).join(',')}): ours 0x${a.toString(16)}, libseccomp 0x${b.toString(16)}`,
      );
    }
    expect(differences).toEqual([]);
    // When the policy checks arguments, the comparison covered both sides of each check.
    if (rules.some((x) => x.unless)) expect(cases.length).toBeGreaterThan(abi.syscalls.size);
  },
);
