import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  chooseBinary,
  divertedTo,
  parseDiversions,
  qemuTargetForArch,
  resolveBinary,
  scriptInterpreter,
  execByDescriptorKeepsName,
} from '../../../src/launch/binary';
import { LaunchError } from '../../../src/launch/errors';
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
  test('host-wide mode: invoked as qemu-system-<target> itself -> that very path', () => {
    expect(chooseBinary({ env: {}, invokedAs: '/usr/bin/qemu-system-x86_64' })).toEqual({
      requested: '/usr/bin/qemu-system-x86_64',
      source: 'invoked-name',
    });
    expect(chooseBinary({ env: {}, invokedAs: '/usr/bin/qemu-system-x86_64-microvm' })).toEqual({
      requested: '/usr/bin/qemu-system-x86_64-microvm',
      source: 'invoked-name',
    });
    // The environment and the config still come first.
    expect(
      chooseBinary({ env: {}, configBinary: '/opt/q', invokedAs: '/usr/bin/qemu-system-arm' })
        .source,
    ).toBe('config');
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
  const noDiversions = join(dir, 'no-diversions');
  test("the launcher itself under QEMU's name is refused (it would exec itself forever)", () => {
    expect(() => resolveBinary(choice('qemu-system-riscv64'), bin1, self, noDiversions)).toThrow(
      /is qemu-sandboxed itself/,
    );
  });

  describe("host-wide mode: the launcher in QEMU's place, QEMU diverted by dpkg", () => {
    // As `qemu-sandbox host enable` leaves /usr/bin: qemu-system-riscv64 is a
    // link to the launcher, QEMU itself is qemu-system-riscv64.distrib.
    const real = join(bin1, 'qemu-system-riscv64.distrib');
    writeFileSync(real, '');
    chmodSync(real, 0o755);
    const diversions = join(dir, 'diversions');
    const record = (pkg: string, to = real): void =>
      writeFileSync(
        diversions,
        `/usr/bin/pg_config\n/usr/bin/pg_config.libpq-dev\npostgresql-common\n` +
          `${join(bin1, 'qemu-system-riscv64')}\n${to}\n${pkg}\n`,
      );

    test('runs the diverted QEMU, and says which path it stands in for', () => {
      record('qemu-sandboxed');
      const r = resolveBinary(
        choice(join(bin1, 'qemu-system-riscv64')),
        undefined,
        self,
        diversions,
      );
      expect(r.path).toBe(real);
      expect(r.divertedFrom).toBe(join(bin1, 'qemu-system-riscv64'));
      // Found on PATH the same way (qemu-system-riscv64-sandboxed links, the host-arch rule).
      expect(resolveBinary(choice('qemu-system-riscv64'), bin1, self, diversions).path).toBe(real);
    });
    test("only qemu-sandboxed's own diversions count", () => {
      record('someone-else');
      expect(() => resolveBinary(choice('qemu-system-riscv64'), bin1, self, diversions)).toThrow(
        /is qemu-sandboxed itself/,
      );
      record(':'); // a local diversion (dpkg-divert without --package)
      expect(divertedTo(join(bin1, 'qemu-system-riscv64'), diversions)).toBeUndefined();
    });
    test('a diversion whose QEMU is gone (package removed): 127 with the fix', () => {
      record('qemu-sandboxed', join(bin1, 'qemu-system-riscv64.gone'));
      expect(code(() => resolveBinary(choice('qemu-system-riscv64'), bin1, self, diversions))).toBe(
        127,
      );
      expect(() => resolveBinary(choice('qemu-system-riscv64'), bin1, self, diversions)).toThrow(
        /host-wide mode.*qemu-system-riscv64\.gone.*qemu-sandbox host disable/,
      );
    });
    test('a diversion pointing back at the launcher is refused, not followed', () => {
      record('qemu-sandboxed', self);
      expect(() => resolveBinary(choice('qemu-system-riscv64'), bin1, self, diversions)).toThrow(
        /is qemu-sandboxed itself/,
      );
    });
    test('an alias link to a diverted QEMU (qemu-system-amd64 -> qemu-system-x86_64) runs its diversion', () => {
      record('qemu-sandboxed');
      symlinkSync('qemu-system-riscv64', join(bin1, 'qemu-system-rv64'));
      expect(resolveBinary(choice('qemu-system-rv64'), bin1, self, diversions)).toMatchObject({
        path: real,
        divertedFrom: join(bin1, 'qemu-system-rv64'),
      });
    });
    test('the directory is resolved first, as dpkg records it (/bin -> /usr/bin)', () => {
      record('qemu-sandboxed');
      const alias = join(dir, 'bin1-alias');
      symlinkSync(bin1, alias);
      expect(divertedTo(join(alias, 'qemu-system-riscv64'), diversions)).toBe(real);
    });
  });
});

describe('parseDiversions', () => {
  test("three lines per diversion; ':' is a local one", () => {
    expect(parseDiversions('/a\n/a.x\npkg\n/b\n/b.y\n:\n')).toEqual([
      { from: '/a', to: '/a.x', package: 'pkg' },
      { from: '/b', to: '/b.y', package: undefined },
    ]);
    expect(parseDiversions('')).toEqual([]);
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
