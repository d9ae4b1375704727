import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  chooseBinary,
  qemuTargetForArch,
  resolveBinary,
  scriptInterpreter,
  execByDescriptorKeepsName,
} from '../../../launcher/binary';
import { LaunchError } from '../../../launcher/errors';
import { tempDir } from '../../helpers/tmp';

describe('chooseBinary: env, then config, then invoked name, then host arch', () => {
  const invokedAs = '/usr/local/bin/qemu-sandboxed';
  test('QEMU_SANDBOXED_BINARY wins', () => {
    expect(
      chooseBinary({
        env: { QEMU_SANDBOXED_BINARY: '/opt/q' },
        configBinary: 'c',
        invokedAs: '/x/qemu-system-arm-sandboxed',
      }),
    ).toEqual({
      requested: '/opt/q',
      source: 'env',
    });
  });
  test('an empty variable counts as unset', () => {
    expect(
      chooseBinary({ env: { QEMU_SANDBOXED_BINARY: '' }, configBinary: 'c', invokedAs }).source,
    ).toBe('config');
  });
  test('config next', () => {
    expect(chooseBinary({ env: {}, configBinary: 'qemu-kvm', invokedAs })).toEqual({
      requested: 'qemu-kvm',
      source: 'config',
    });
  });
  test('qemu-system-<target>-sandboxed -> qemu-system-<target>', () => {
    expect(chooseBinary({ env: {}, invokedAs: '/usr/bin/qemu-system-aarch64-sandboxed' })).toEqual({
      requested: 'qemu-system-aarch64',
      source: 'invoked-name',
    });
    expect(chooseBinary({ env: {}, invokedAs: 'qemu-system-ppc64-sandboxed' }).requested).toBe(
      'qemu-system-ppc64',
    );
  });
  test('otherwise the host architecture', () => {
    expect(chooseBinary({ env: {}, invokedAs, arch: 'x64' })).toEqual({
      requested: 'qemu-system-x86_64',
      source: 'host-arch',
    });
    expect(
      chooseBinary({ env: {}, invokedAs: 'qemu-system--sandboxed-not', arch: 'arm64' }).requested,
    ).toBe('qemu-system-aarch64');
  });
  test('an unknown host architecture says what to set', () => {
    expect(() => qemuTargetForArch('sparc')).toThrow(/set QEMU_SANDBOXED_BINARY/);
  });
});

describe('resolveBinary', () => {
  const dir = tempDir('qs-binary-');
  const bin1 = join(dir, 'bin1');
  const bin2 = join(dir, 'bin2');
  mkdirSync(bin1);
  mkdirSync(bin2);
  writeFileSync(join(bin1, 'qemu-system-x86_64'), '');
  chmodSync(join(bin1, 'qemu-system-x86_64'), 0o644); // not executable: skipped, like execvp
  writeFileSync(join(bin2, 'qemu-system-x86_64'), '#!/bin/sh\n');
  chmodSync(join(bin2, 'qemu-system-x86_64'), 0o755);
  mkdirSync(join(bin1, 'qemu-system-arm')); // a directory is not a binary
  const self = join(dir, 'qemu-sandboxed');
  writeFileSync(self, '#!/bin/sh\n');
  chmodSync(self, 0o755);
  symlinkSync(self, join(bin1, 'qemu-system-riscv64'));

  const choice = (requested: string) => ({ requested, source: 'host-arch' as const });
  const code = (f: () => unknown): number | undefined => {
    try {
      f();
    } catch (e) {
      return e instanceof LaunchError ? e.exitCode : -1;
    }
    return undefined;
  };

  test('searched on PATH; a non-executable match is skipped', () => {
    expect(resolveBinary(choice('qemu-system-x86_64'), `${bin1}:${bin2}`).path).toBe(
      join(bin2, 'qemu-system-x86_64'),
    );
  });
  test('missing: 127 with the fix', () => {
    expect(code(() => resolveBinary(choice('qemu-system-s390x'), bin1))).toBe(127);
    expect(() => resolveBinary(choice('qemu-system-s390x'), bin1)).toThrow(
      /not found on PATH: install QEMU or set QEMU_SANDBOXED_BINARY/,
    );
  });
  test('only a non-executable one: 126', () => {
    expect(code(() => resolveBinary(choice('qemu-system-x86_64'), bin1))).toBe(126);
    expect(code(() => resolveBinary(choice('qemu-system-arm'), bin1))).toBe(126);
  });
  test('a path is used as given', () => {
    expect(resolveBinary(choice(join(bin2, 'qemu-system-x86_64')), '').path).toBe(
      join(bin2, 'qemu-system-x86_64'),
    );
    expect(code(() => resolveBinary(choice(join(dir, 'nope')), bin2))).toBe(127);
    expect(code(() => resolveBinary(choice(join(bin1, 'qemu-system-x86_64')), bin2))).toBe(126);
  });
  test('an empty PATH element is the current directory', () => {
    const cwd = process.cwd();
    process.chdir(bin2);
    try {
      expect(resolveBinary(choice('qemu-system-x86_64'), `/nonexistent:`).path).toBe(
        'qemu-system-x86_64',
      );
    } finally {
      process.chdir(cwd);
    }
  });
  test("the launcher itself under QEMU's name is refused (it would exec itself forever)", () => {
    expect(() => resolveBinary(choice('qemu-system-riscv64'), bin1, self)).toThrow(
      /is qemu-sandboxed itself/,
    );
  });
});

describe('scriptInterpreter', () => {
  const dir = tempDir('qs-script-');
  test('names the #! interpreter of a script, nothing for a binary or a missing file', () => {
    const script = join(dir, 'wrapper');
    writeFileSync(script, '#! /bin/sh -e\nexec true\n');
    expect(scriptInterpreter(script)).toBe('/bin/sh -e');
    expect(scriptInterpreter(process.execPath)).toBeUndefined();
    expect(scriptInterpreter(join(dir, 'missing'))).toBeUndefined();
  });
});

describe('execByDescriptorKeepsName: the kernel names an fd-exec after the file from 6.14', () => {
  test.each([
    ['6.18.44-fc-v1272', true],
    ['6.14.0', true],
    ['7.0.1', true],
    ['6.13.12', false],
    ['6.12.48+deb13-amd64', false],
    ['6.1.0-41-amd64', false],
    ['5.10.0', false],
    ['garbage', false],
  ])('%s -> %s', (release, keeps) => {
    expect(execByDescriptorKeepsName(release)).toBe(keeps);
  });
});
