/**
 * Cross-check of every ABI's table against libseccomp's scmp_sys_resolver
 * (Debian package `seccomp`), an independent implementation of the same facts.
 *
 * Debian 12 ships libseccomp 2.5.4, older than our CSV, so the resolver may
 * not know a name (-1) or may think an ABI lacks it (__PNR_*: <= -10000):
 * those are counted as "unknown to this libseccomp", not as mismatches. On
 * i386, ppc64 and s390x it answers socket/ipc calls with negative pseudo
 * numbers (multiplexed through socketcall/ipc); for those we ask the reverse
 * question (our number -> name). But every syscall a filter group names, and
 * a fixed list of calls the product depends on, must be confirmed on every
 * ABI where our table has it.
 */
import { execFile, execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ABI_NAMES, getAbi } from '../../../src/arch';
import type { AbiName } from '../../../src/arch';

const RESOLVER = 'scmp_sys_resolver';

/** libseccomp's names for our ABIs. */
const RESOLVER_ARCH: Record<AbiName, string> = {
  x86_64: 'x86_64',
  i386: 'x86',
  x32: 'x32',
  aarch64: 'aarch64',
  arm: 'arm',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loongarch64: 'loongarch64',
  mips64el: 'mipsel64',
};

/**
 * loongarch64 arrived in libseccomp 2.6. When the resolver lacks it we check
 * loongarch64 against the resolver's riscv64 answers instead: both ABIs use
 * the asm-generic table unchanged (the CSV agrees on every name both have).
 */
const GENERIC_STAND_IN: Partial<Record<AbiName, AbiName>> = { loongarch64: 'riscv64' };

const FIXED_REQUIRED = (
  'reboot swapon swapoff syslog mount umount umount2 kexec_load kexec_file_load init_module ' +
  'finit_module delete_module setuid setgid fork vfork execve execveat clone clone3 setns ' +
  'unshare sched_setscheduler socket io_uring_setup'
).split(' ');

/**
 * Since Linux 5.1 (pidfd_send_signal, 424) every new syscall gets the same
 * number on every architecture (alpha and ia64 aside, which we do not
 * support), before the x32 bit or the mips base is added. libseccomp 2.5.4
 * predates calls such as statmount (6.8) or open_tree_attr (6.15); for a
 * required name it cannot resolve, we accept this rule instead: numbers >=
 * 424 that agree on every ABI that has the call. A per-ABI offset bug in the
 * generator, the failure that matters, breaks it.
 */
const UNIFIED_FROM = 424;

function baseNumber(abi: AbiName, nr: number): number {
  if (abi === 'x32') return (nr & ~0x40000000) >>> 0;
  if (abi === 'mips64el') return nr - 5000;
  return nr;
}

function followsUnifiedNumbering(name: string, present: readonly AbiName[]): boolean {
  const bases = new Set(
    present.map((abi) => baseNumber(abi, getAbi(abi).syscalls.get(name) as number)),
  );
  const [base] = [...bases];
  return present.length === ABI_NAMES.length && bases.size === 1 && base >= UNIFIED_FROM;
}

const FILTERS_DIR = path.resolve(__dirname, '../../../filters');

/**
 * Syscall names in filters/*.json, read at test time. The format belongs to
 * the filters' owner, so we collect every string under a "syscall" or
 * "syscalls" key, and fail if a file yields none (we would check nothing).
 */
function filterSyscalls(): { names: Set<string>; files: string[] } {
  const names = new Set<string>();
  const files = fs.existsSync(FILTERS_DIR)
    ? // Group files only: schema.json describes them and names no syscall.
      fs.readdirSync(FILTERS_DIR).filter((f) => f.endsWith('.json') && f !== 'schema.json')
    : [];
  for (const file of files) {
    const before = names.size;
    const walk = (v: unknown, key: string | undefined): void => {
      if (typeof v === 'string') {
        if (key === 'syscall' || key === 'syscalls') names.add(v);
      } else if (Array.isArray(v)) {
        for (const x of v) walk(x, key);
      } else if (v !== null && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) walk(x, k);
      }
    };
    walk(JSON.parse(fs.readFileSync(path.join(FILTERS_DIR, file), 'utf8')), undefined);
    const found = names.size - before;
    const mentionsSyscalls = /"syscalls?"\s*:/.test(
      fs.readFileSync(path.join(FILTERS_DIR, file), 'utf8'),
    );
    if (found === 0 && mentionsSyscalls) {
      throw new Error(`filters/${file}: no syscall names understood; update filterSyscalls()`);
    }
  }
  return { names, files };
}

/** Runs the resolver once per query inside a shell loop (no Node spawn per call), 2 shells at a time. */
async function resolveBatch(queries: Array<[string, string]>): Promise<string[]> {
  const script = 'while read -r a q; do scmp_sys_resolver -a "$a" "$q" || echo ERROR; done';
  const half = Math.ceil(queries.length / 2);
  const chunks = [queries.slice(0, half), queries.slice(half)];
  const outputs = await Promise.all(
    chunks.map(
      (chunk) =>
        new Promise<string[]>((resolve, reject) => {
          const child = execFile('sh', ['-c', script], { maxBuffer: 1 << 24 }, (err, stdout) => {
            if (err) return reject(err);
            const lines = stdout.split('\n').slice(0, -1);
            if (lines.length !== chunk.length) {
              return reject(
                new Error(`resolver: ${chunk.length} queries, ${lines.length} answers`),
              );
            }
            resolve(lines);
          });
          child.stdin?.end(chunk.map(([a, q]) => `${a} ${q}\n`).join(''));
        }),
    ),
  );
  return outputs.flat();
}

type Verdict = 'agree' | 'agree-reverse' | 'mismatch' | 'unknown-name' | 'absent-in-libseccomp';

interface AbiResult {
  abi: AbiName;
  checkedAs: string;
  counts: Record<Verdict, number>;
  mismatches: string[];
  unconfirmed: Map<string, Verdict>;
  /** Names our table lacks (PNR in the CSV) but this libseccomp gives a number. */
  missingFromOurs: string[];
}

function resolverMissing(): boolean {
  try {
    execFileSync(RESOLVER, ['-a', 'x86_64', 'read'], { stdio: 'pipe' });
    return false;
  } catch {
    return true;
  }
}

/** An arch this libseccomp lacks gets the usage text and a non-zero exit. */
function archSupported(arch: string): boolean {
  const r = spawnSync(RESOLVER, ['-a', arch, 'read'], { encoding: 'utf8' });
  return r.status === 0 && /^-?\d+$/.test(r.stdout.trim());
}

describe('every ABI vs scmp_sys_resolver', () => {
  const results = new Map<AbiName, AbiResult>();
  let setupError: Error | undefined;

  beforeAll(async () => {
    if (resolverMissing()) {
      setupError = new Error(
        `${RESOLVER} not found: install Debian package seccomp (npm run setup)`,
      );
      return;
    }
    // Which libseccomp arch answers for which ABI.
    const archOf = new Map<AbiName, string>();
    for (const abi of ABI_NAMES) {
      if (archSupported(RESOLVER_ARCH[abi])) archOf.set(abi, RESOLVER_ARCH[abi]);
      else {
        const stand = GENERIC_STAND_IN[abi];
        if (!stand || !archSupported(RESOLVER_ARCH[stand])) {
          setupError = new Error(
            `${RESOLVER} does not know ${RESOLVER_ARCH[abi]} and has no stand-in`,
          );
          return;
        }
        archOf.set(abi, RESOLVER_ARCH[stand]);
      }
    }

    // Pass 1: every name of every table.
    const queries: Array<[AbiName, string]> = [];
    for (const abi of ABI_NAMES)
      for (const name of getAbi(abi).syscalls.keys()) queries.push([abi, name]);
    const answers = await resolveBatch(queries.map(([abi, n]) => [archOf.get(abi) as string, n]));

    // Pass 3 (asked now, in the same batch style): names some ABI has but this
    // one lacks. libseccomp must agree that they are absent.
    const absentQueries: Array<[AbiName, string]> = [];
    const allNames = new Set(ABI_NAMES.flatMap((abi) => [...getAbi(abi).syscalls.keys()]));
    for (const abi of ABI_NAMES) {
      // A stand-in arch answers for names both ABIs have, not for what one lacks
      // (loongarch64 has no getrlimit; riscv64 has).
      if (archOf.get(abi) !== RESOLVER_ARCH[abi]) continue;
      for (const name of allNames) {
        if (!getAbi(abi).syscalls.has(name)) absentQueries.push([abi, name]);
      }
    }
    const absentAnswers = await resolveBatch(
      absentQueries.map(([abi, n]) => [archOf.get(abi) as string, n]),
    );

    // Pass 2: the reverse question for multiplexed pseudo numbers.
    const reverse: Array<[AbiName, string]> = [];
    queries.forEach(([abi, name], i) => {
      const r = Number(answers[i]);
      if (r < -1 && r > -10000) reverse.push([abi, name]);
    });
    const reverseAnswers = await resolveBatch(
      reverse.map(([abi, n]) => [archOf.get(abi) as string, String(getAbi(abi).syscalls.get(n))]),
    );
    const reverseOf = new Map(reverse.map(([abi, n], i) => [`${abi} ${n}`, reverseAnswers[i]]));

    for (const abi of ABI_NAMES) {
      const own = RESOLVER_ARCH[abi] === archOf.get(abi);
      results.set(abi, {
        abi,
        checkedAs: own
          ? RESOLVER_ARCH[abi]
          : `${archOf.get(abi)} (stand-in: ${RESOLVER_ARCH[abi]} unknown to this libseccomp)`,
        counts: {
          agree: 0,
          'agree-reverse': 0,
          mismatch: 0,
          'unknown-name': 0,
          'absent-in-libseccomp': 0,
        },
        mismatches: [],
        unconfirmed: new Map(),
        missingFromOurs: [],
      });
    }
    absentQueries.forEach(([abi, name], i) => {
      const r = Number(absentAnswers[i]);
      // Only a real number counts: libseccomp gives socketcall/ipc pseudo numbers
      // (-101, -201...) for recv, semop... on every arch, multiplexed or not.
      if (!Number.isNaN(r) && r >= 0) {
        results.get(abi)?.missingFromOurs.push(`${name} (${absentAnswers[i].trim()})`);
      }
    });
    queries.forEach(([abi, name], i) => {
      const res = results.get(abi) as AbiResult;
      const ours = getAbi(abi).syscalls.get(name) as number;
      const answer = answers[i].trim();
      let verdict: Verdict;
      if (!/^-?\d+$/.test(answer)) verdict = 'mismatch';
      else {
        const r = Number(answer);
        if (r >= 0) verdict = r === ours ? 'agree' : 'mismatch';
        else if (r === -1) verdict = 'unknown-name';
        else if (r <= -10000) verdict = 'absent-in-libseccomp';
        else
          verdict = reverseOf.get(`${abi} ${name}`)?.trim() === name ? 'agree-reverse' : 'mismatch';
      }
      res.counts[verdict]++;
      if (verdict === 'mismatch')
        res.mismatches.push(`${name}: ours ${ours}, resolver "${answer}"`);
      if (verdict !== 'agree' && verdict !== 'agree-reverse') res.unconfirmed.set(name, verdict);
    });

    const lines = [...results.values()].map(
      (r) =>
        `${r.abi} (as ${r.checkedAs}): ${getAbi(r.abi).syscalls.size} names, ${r.counts.agree} agree, ` +
        `${r.counts['agree-reverse']} agree by reverse lookup, ${r.counts.mismatch} differ, ` +
        `${r.missingFromOurs.length} absent here but known there, ` +
        `${r.counts['unknown-name'] + r.counts['absent-in-libseccomp']} unknown to this libseccomp ` +
        `[${[...r.unconfirmed]
          .filter(([, v]) => v !== 'mismatch')
          .map(([n]) => n)
          .join(' ')}]`,
    );
    console.log(lines.join('\n'));
  }, 120_000);

  test.each(ABI_NAMES.map((a) => [a]))('%s: no name resolves to a different number', (abi) => {
    if (setupError) throw setupError;
    const r = results.get(abi) as AbiResult;
    expect(r.mismatches).toEqual([]);
    // Names we leave absent, libseccomp leaves absent too.
    expect(r.missingFromOurs).toEqual([]);
    // Most of the table must really have been compared, or the check is hollow.
    expect(r.counts.agree + r.counts['agree-reverse']).toBeGreaterThan(
      getAbi(abi).syscalls.size * 0.8,
    );
  });

  test('the unified-numbering fallback accepts only post-5.1 calls numbered alike everywhere', () => {
    expect(followsUnifiedNumbering('statmount', ABI_NAMES)).toBe(true);
    expect(followsUnifiedNumbering('openat', ABI_NAMES)).toBe(false); // old: numbers differ
    const has = (n: string): AbiName[] => ABI_NAMES.filter((a) => getAbi(a).syscalls.has(n));
    expect(followsUnifiedNumbering('uretprobe', has('uretprobe'))).toBe(false); // x86-only
  });

  test('every syscall named by filters/*.json and the fixed list is confirmed on every ABI that has it', () => {
    if (setupError) throw setupError;
    const { names: fromFilters, files } = filterSyscalls();
    const required = new Set([...FIXED_REQUIRED, ...fromFilters]);
    console.log(
      `required names: ${required.size} (${FIXED_REQUIRED.length} fixed, ${fromFilters.size} from ` +
        `${files.length} filters/*.json file(s)${files.length ? ': ' + files.join(' ') : ''})`,
    );
    const problems: string[] = [];
    const byUnifiedRule: string[] = [];
    for (const name of required) {
      const present = ABI_NAMES.filter((abi) => getAbi(abi).syscalls.has(name));
      if (present.length === 0) problems.push(`${name}: in no table (typo in a filter group?)`);
      const unconfirmed = present.filter((abi) => results.get(abi)?.unconfirmed.has(name));
      const tooOld = unconfirmed.every(
        (abi) => results.get(abi)?.unconfirmed.get(name) !== 'mismatch',
      );
      if (unconfirmed.length > 0 && tooOld && followsUnifiedNumbering(name, present)) {
        byUnifiedRule.push(name);
        continue;
      }
      for (const abi of unconfirmed)
        problems.push(`${abi} ${name}: ${results.get(abi)?.unconfirmed.get(name)}`);
    }
    if (byUnifiedRule.length > 0) {
      console.log(
        `unknown to this libseccomp, confirmed by the unified numbering of syscalls >= ${UNIFIED_FROM} ` +
          `instead: ${byUnifiedRule.join(' ')}`,
      );
    }
    expect(problems).toEqual([]);
  });
});
