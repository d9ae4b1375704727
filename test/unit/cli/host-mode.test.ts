/**
 * `qemu-sandbox host`: the status parser and its rendering, and the real
 * launcher/host on this machine, where the package is a checkout (not the
 * Debian package): status reads dpkg's diversions, enable refuses and
 * changes nothing. Diverting for real is tested in a Debian root
 * (test/package/host-mode.test.ts): never on this machine's own /usr/bin.
 */
import { readFileSync } from 'node:fs';
import execa from 'execa';
import { parsePorcelain, renderStatus } from '../../../src/cli/commands/host-mode';
import { json, run } from './run';

const PORCELAIN = `mode enabled
diverted x86_64 /usr/bin/qemu-system-x86_64 /usr/bin/qemu-system-x86_64.distrib
link x86_64 /usr/bin/qemu-system-x86_64-sandboxed
program aarch64 /usr/bin/qemu-system-aarch64
script i386 /usr/bin/qemu-system-i386
alias amd64 /usr/bin/qemu-system-amd64 qemu-system-x86_64
stale arm /usr/bin/qemu-system-arm /usr/bin/qemu-system-arm.distrib
`;

test('parses the engine status and names what an operator must fix', () => {
  const s = parsePorcelain(PORCELAIN);
  expect(s.enabled).toBe(true);
  expect(s.targets).toEqual([
    { target: 'aarch64', path: '/usr/bin/qemu-system-aarch64', state: 'not-diverted' },
    {
      target: 'amd64',
      path: '/usr/bin/qemu-system-amd64',
      state: 'alias',
      aliasOf: 'qemu-system-x86_64',
    },
    {
      target: 'arm',
      path: '/usr/bin/qemu-system-arm',
      state: 'stale',
      divertedTo: '/usr/bin/qemu-system-arm.distrib',
    },
    { target: 'i386', path: '/usr/bin/qemu-system-i386', state: 'script' },
    {
      target: 'x86_64',
      path: '/usr/bin/qemu-system-x86_64',
      state: 'diverted',
      divertedTo: '/usr/bin/qemu-system-x86_64.distrib',
      link: '/usr/bin/qemu-system-x86_64-sandboxed',
    },
  ]);
  expect(s.problems).toEqual([
    '/usr/bin/qemu-system-aarch64 is not diverted although host-wide mode is on: run qemu-sandbox host enable',
    '/usr/bin/qemu-system-arm: its QEMU is gone but the diversion to /usr/bin/qemu-system-arm.distrib is left: run qemu-sandbox host enable',
  ]);
  const text = renderStatus(s);
  expect(text).toMatch(/^host-wide mode {2}on: /);
  expect(text).toContain(
    '/usr/bin/qemu-system-x86_64   runs through qemu-sandboxed (QEMU is /usr/bin/qemu-system-x86_64.distrib)',
  );
  expect(text).toContain('/usr/bin/qemu-system-i386     a script wrapper: never diverted');
  expect(text).toMatch(/problems\n {2}- \/usr\/bin\/qemu-system-aarch64 is not diverted/);
});

test('off with nothing diverted is no problem; diverted while off is one', () => {
  expect(parsePorcelain('mode disabled\nprogram x86_64 /usr/bin/qemu-system-x86_64\n')).toEqual({
    enabled: false,
    targets: [{ target: 'x86_64', path: '/usr/bin/qemu-system-x86_64', state: 'not-diverted' }],
    problems: [],
  });
  expect(
    parsePorcelain('mode disabled\ndiverted x86_64 /usr/bin/qemu-system-x86_64 /x.distrib\n')
      .problems,
  ).toEqual([
    '/usr/bin/qemu-system-x86_64 is diverted although host-wide mode is off: run qemu-sandbox host disable',
  ]);
  expect(() => parsePorcelain('mode enabled\nbogus x\n')).toThrow(/unexpected line 'bogus x'/);
});

test('status on this machine: the real engine, off, QEMU not diverted', async () => {
  const r = await run(['host', 'status', '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const s = json(r) as ReturnType<typeof parsePorcelain>;
  expect(s.enabled).toBe(false);
  expect(s.targets).toContainEqual({
    target: 'x86_64',
    path: '/usr/bin/qemu-system-x86_64',
    state: 'not-diverted',
  });
  // Debian's qemu-system-i386 is a script wrapper (qemu-system-x86 ships it).
  expect(s.targets).toContainEqual({
    target: 'i386',
    path: '/usr/bin/qemu-system-i386',
    state: 'script',
  });
});

test('enable from a checkout refuses with the reason and diverts nothing', async () => {
  const before = readFileSync('/var/lib/dpkg/diversions', 'utf8');
  const r = await run(['host', 'enable']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    /^qemu-sandbox: host-wide mode needs the qemu-sandboxed Debian package installed \(its dpkg trigger keeps the diversions current\); this is \//m,
  );
  expect(r.stdout).toBe('');
  expect(readFileSync('/var/lib/dpkg/diversions', 'utf8')).toBe(before);
  expect(
    execa.sync('dpkg-divert', ['--truename', '/usr/bin/qemu-system-x86_64']).stdout.trim(),
  ).toBe('/usr/bin/qemu-system-x86_64');
});

test('an unknown action is a usage error', async () => {
  const r = await run(['host', 'on']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/Invalid values:.*Argument: action, Given: "on"/);
});
