/**
 * The symbolic constants of filters/*.json, checked against an independent
 * source on this machine: the kernel UAPI and glibc headers.
 */
import * as fs from 'fs';
import {
  ADDRESS_FAMILIES,
  CLONE_FLAGS,
  SCHED_POLICIES,
  cloneFlagNames,
  constantNames,
  resolveConstant,
} from '../../../src/policy';

function defines(file: string, re: RegExp): Map<string, bigint> {
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} missing: install Debian packages linux-libc-dev and libc6-dev (npm run setup)`,
    );
  }
  const out = new Map<string, bigint>();
  for (const m of fs.readFileSync(file, 'utf8').matchAll(re)) out.set(m[1], BigInt(m[2]));
  return out;
}

test('clone flags and scheduling policies match /usr/include/linux/sched.h', () => {
  const h = defines(
    '/usr/include/linux/sched.h',
    /^#define\s+((?:CLONE|SCHED)_\w+|CSIGNAL)\s+(0x[0-9a-fA-F]+|\d+)\b/gm,
  );
  for (const [name, v] of Object.entries({ ...CLONE_FLAGS, ...SCHED_POLICIES })) {
    const alias: Record<string, string> = { SCHED_OTHER: 'SCHED_NORMAL' };
    const want = h.get(alias[name] ?? name);
    // SCHED_EXT (Linux 6.12) is newer than some installed headers: checked by value below.
    if (name === 'SCHED_EXT' && want === undefined) continue;
    expect([name, v]).toEqual([name, want]);
  }
  expect(SCHED_POLICIES.SCHED_EXT).toBe(7n);
});

test('address families match glibc bits/socket.h (AF_x = PF_x)', () => {
  const h = defines(
    '/usr/include/x86_64-linux-gnu/bits/socket.h',
    /^#define\s+PF_(\w+)\s+(\d+)\b/gm,
  );
  h.set('UNIX', h.get('LOCAL')!);
  for (const [name, v] of Object.entries(ADDRESS_FAMILIES)) {
    expect([name, v]).toEqual([name, h.get(name.slice(3))]);
  }
});

test('resolveConstant: numbers, names, hex; refusals', () => {
  expect(resolveConstant(5)).toBe(5n);
  expect(resolveConstant('SCHED_IDLE')).toBe(5n);
  expect(resolveConstant('AF_NETLINK')).toBe(16n);
  expect(resolveConstant('CLONE_IO')).toBe(0x80000000n);
  expect(resolveConstant('0x100000000')).toBe(0x100000000n);
  expect(() => resolveConstant(-1)).toThrow('-1 is not a non-negative integer');
  expect(() => resolveConstant(1.5)).toThrow('not a non-negative integer');
  expect(() => resolveConstant('CLONE_NOPE')).toThrow('unknown constant "CLONE_NOPE"');
  expect(() => resolveConstant(true)).toThrow('expected a number or a constant name');
});

test('names for explain output', () => {
  expect(constantNames(5n, 'sched')).toEqual(['SCHED_IDLE']);
  expect(constantNames(1n, 'af')).toEqual(['AF_UNIX', 'AF_LOCAL']);
  expect(cloneFlagNames(0x003d0f00n)).toEqual([
    'CLONE_VM',
    'CLONE_FS',
    'CLONE_FILES',
    'CLONE_SIGHAND',
    'CLONE_THREAD',
    'CLONE_SYSVSEM',
    'CLONE_SETTLS',
    'CLONE_PARENT_SETTID',
    'CLONE_CHILD_CLEARTID',
  ]);
  expect(cloneFlagNames(0x100000011n)).toEqual(['0x100000011']);
});
