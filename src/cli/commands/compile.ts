/**
 * `compile POLICY`: the program the launcher loads, in four shapes. The bytes
 * come from the compiler (CompiledFilter.bytes), never re-encoded here, so
 * `--format raw` is byte for byte what the launcher hands the kernel.
 */
import { writeFileSync } from 'node:fs';
import { disassemble } from '../../bpf';
import { cacheCoverage, pathStats, type CacheCoverage, type PathSummary } from '../../compiler';
import type { CompiledFilter } from '../../compiler/types';
import type { Abi, HostAbi } from '../../arch/types';
import type { CliContext } from '../context';
import { toJson } from '../context';
import { InputError, UsageError } from '../errors';
import { readArch, readPolicy, requireHostArch, type PolicyArg } from '../policy-input';
import { compileFor, disasmOptions } from '../program';

export const COMPILE_FORMATS = ['disasm', 'raw', 'c', 'json'] as const;
export type CompileFormat = (typeof COMPILE_FORMATS)[number];

export interface CompileOptions {
  readonly policy: string;
  readonly arch?: string;
  readonly format: CompileFormat;
  readonly output?: string;
}

function summary(s: PathSummary): string {
  return s.count ? `${s.min}/${s.mean.toFixed(1)}/${s.max}` : '-';
}

/**
 * What the kernel's action cache takes off the hot path. The program makes
 * every always-allowed call cacheable; whether the kernel keeps a bitmap for
 * the ABI (none on MIPS) and for which numbers (not ARM's private calls) is
 * the kernel's, so both are said when they differ.
 */
function cacheLine(abi: string, cache: CacheCoverage): string {
  const notCacheable = cache.uncachedAllowed.length
    ? `; NOT cacheable: ${cache.uncachedAllowed.join(' ')}`
    : '';
  if (cache.kernelCached === null) {
    return (
      `action cache: none (the kernel keeps no action cache on ${abi}: every syscall runs the filter); ` +
      `${cache.cached}/${cache.allowedTotal} always-allowed syscalls would be cacheable${notCacheable}`
    );
  }
  const beyond = cache.cached - cache.kernelCached;
  return (
    `action cache: ${cache.kernelCached}/${cache.allowedTotal} always-allowed syscalls cached (no BPF run)` +
    (beyond > 0 ? `; ${beyond} more are beyond the kernel's bitmap (they run the filter)` : '') +
    notCacheable
  );
}

/** The compiler's own measurements: what the kernel's action cache takes, and path lengths. */
function measurements(f: CompiledFilter): string[] {
  const cache = cacheCoverage(f);
  const paths = pathStats(f);
  return [
    cacheLine(f.abi, cache),
    `instructions executed min/mean/max: every syscall ${summary(paths.all)}, denied ${summary(paths.denied)}, ` +
      `argument-checked ${summary(paths.argChecked)}`,
  ];
}

function header(f: CompiledFilter, p: PolicyArg): string[] {
  return [
    `qemu-sandbox compile '${p.text}' --arch ${f.abi}`,
    `policy ${p.canonical}`,
    `${f.program.length} instructions, ${f.bytes.length} bytes, sha256 ${f.hash}`,
    ...measurements(f),
    `exec gate: ${f.needsExecGate ? 'yes (execve/execveat -> USER_NOTIF; the launcher answers its own exec)' : 'no'}`,
  ];
}

export function formatDisasm(f: CompiledFilter, p: PolicyArg, host: HostAbi): string {
  const text = disassemble(f.program, disasmOptions(host));
  return `${header(f, p)
    .map((l) => `; ${l}`)
    .join('\n')}\n${text}\n`;
}

function hex(n: number, width: number): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}

export function formatC(f: CompiledFilter, p: PolicyArg, host: HostAbi): string {
  const lines = disassemble(f.program, disasmOptions(host)).split('\n');
  const ident = `qemu_sandbox_${f.abi}`;
  const body = f.program.map((insn, i) => {
    const text = `\t{ ${hex(insn.code, 4)}, ${insn.jt}, ${insn.jf}, ${hex(insn.k >>> 0, 8)} },`;
    // The disassembly contains no "*/", so it is safe inside a comment.
    return `${text.padEnd(40)}/* ${lines[i].trim()} */`;
  });
  return [
    '/*',
    ...header(f, p).map((l) => ` * ${l}`),
    ' * Values are host-order numbers: a compiler for this ABI lays them out in its byte order.',
    ' */',
    '#include <linux/filter.h>',
    '',
    `static const struct sock_filter ${ident}_filter[] = {`,
    ...body,
    '};',
    '',
    `static const struct sock_fprog ${ident}_prog = {`,
    `\t.len = ${f.program.length},`,
    `\t.filter = (struct sock_filter *)${ident}_filter,`,
    '};',
    '',
  ].join('\n');
}

export interface CompileJson {
  readonly abi: string;
  readonly policy: string;
  readonly policyInput: string;
  readonly endian: 'le' | 'be';
  readonly auditArch: number;
  readonly length: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly needsExecGate: boolean;
  readonly cache: { allowedTotal: number; cached: number; uncachedAllowed: number[] };
  readonly paths: { all: PathSummary; denied: PathSummary; argChecked: PathSummary };
  readonly instructions: { code: number; jt: number; jf: number; k: number; text: string }[];
}

export function compileJson(f: CompiledFilter, p: PolicyArg, abi: Abi, host: HostAbi): CompileJson {
  const lines = disassemble(f.program, disasmOptions(host)).split('\n');
  return {
    abi: f.abi,
    policy: p.canonical,
    policyInput: p.text,
    endian: abi.endian,
    auditArch: abi.auditArch,
    length: f.program.length,
    bytes: f.bytes.length,
    sha256: f.hash,
    needsExecGate: f.needsExecGate,
    cache: cacheCoverage(f),
    paths: (({ all, denied, argChecked }) => ({ all, denied, argChecked }))(pathStats(f)),
    instructions: f.program.map((insn, i) => ({
      code: insn.code,
      jt: insn.jt,
      jf: insn.jf,
      k: insn.k >>> 0,
      text: lines[i].replace(/^\s*\d+:\s*/, ''),
    })),
  };
}

export function runCompile(ctx: CliContext, opts: CompileOptions): void {
  const host = requireHostArch(readArch(opts.arch), 'compile');
  const p = readPolicy(opts.policy, ctx.env);
  const f = compileFor(p, host);
  let out: string | Uint8Array;
  switch (opts.format) {
    case 'raw':
      if (opts.output === undefined && ctx.stdout.isTTY) {
        throw new UsageError(
          'refusing to write a binary filter to a terminal: use --output FILE or redirect stdout',
        );
      }
      out = f.bytes;
      if (f.needsExecGate) {
        // Found with bwrap: without the launcher's listener every execve fails
        // with ENOSYS, including the loader's own exec of the program.
        ctx.stderr.write(
          'qemu-sandbox: note: execve/execveat go to USER_NOTIF (spawn=deny); loaded by anything but ' +
            'qemu-sandboxed (e.g. bwrap --seccomp), every exec fails with ENOSYS, the first one included\n',
        );
      }
      break;
    case 'c':
      out = formatC(f, p, host);
      break;
    case 'json':
      out = toJson(compileJson(f, p, host.native, host));
      break;
    case 'disasm':
      out = formatDisasm(f, p, host);
      break;
  }
  if (opts.output !== undefined) {
    try {
      writeFileSync(opts.output, out);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new InputError(`cannot write ${opts.output}: ${e.code ?? e.message}`);
    }
  } else {
    ctx.stdout.write(out);
  }
}
