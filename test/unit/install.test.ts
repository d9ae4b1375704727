/**
 * scripts/install, for real, into a temporary prefix: it installs exactly the
 * package directory, the two commands and one qemu-system-<target>-sandboxed
 * link per QEMU target on PATH; the installed copy runs real QEMU; a second
 * run changes nothing; a file it does not own is never overwritten; and
 * --uninstall puts the prefix back as it was.
 */
import {
  accessSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  openSync,
  readSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';

const root = join(__dirname, '..', '..');
const script = join(root, 'scripts', 'install');

jest.setTimeout(120_000);

/** Every path under dir (relative), with link targets, sorted: the state we compare. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      if (rel !== '') out.push(`${rel}/`);
      for (const name of readdirSync(abs)) walk(rel === '' ? name : `${rel}/${name}`);
    } else out.push(rel);
  };
  walk('');
  return out.sort();
}

/** Whether a file starts with the ELF magic (a program, not a "#!" script). */
function isElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

/**
 * The QEMU targets the script should link: the first qemu-system-<target> on
 * PATH for each target, when it is a program (Debian's qemu-system-i386 is a
 * script wrapper, whose own exec of QEMU spawn=deny would refuse).
 */
function qemuTargets(path = process.env.PATH ?? ''): string[] {
  const seen = new Set<string>();
  const targets = new Set<string>();
  for (const dir of path.split(':')) {
    if (!dir || !existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const m = /^qemu-system-(.+)$/.exec(name);
      if (!m || m[1].endsWith('-sandboxed') || m[1].includes('.') || seen.has(m[1])) continue;
      const file = join(dir, name);
      try {
        if (!statSync(file).isFile()) continue;
        accessSync(file, constants.X_OK);
      } catch {
        continue;
      }
      seen.add(m[1]);
      if (isElf(file)) targets.add(m[1]);
    }
  }
  return [...targets].sort();
}

function install(...args: string[]): execa.ExecaSyncReturnValue {
  return execa.sync('sh', [script, ...args], { reject: false });
}

/** scripts/install with another PATH (where it looks for QEMU targets). */
function installWithPath(path: string, ...args: string[]): execa.ExecaSyncReturnValue {
  return execa.sync('sh', [script, ...args], {
    reject: false,
    env: { ...process.env, PATH: path },
  });
}

function requireBuild(): void {
  if (!existsSync(join(root, 'dist', 'launcher', 'main.js'))) {
    throw new Error(
      'dist/launcher/main.js is missing: npm run build first (scripts/install copies the build)',
    );
  }
}

let base = '';
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'qs-install-'));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

test('installs the package, the commands and the per-target links, and uninstalls exactly them', () => {
  requireBuild();
  const targets = qemuTargets();
  if (!targets.includes('x86_64'))
    throw new Error('qemu-system-x86_64 is not on PATH (npm run setup)');
  const prefix = join(base, 'prefix');
  // Something already in bindir that is not ours: it must survive both ways.
  mkdirSync(join(prefix, 'bin'), { recursive: true });
  writeFileSync(join(prefix, 'bin', 'unrelated'), 'x');
  const before = snapshot(base);

  const r = install('--prefix', prefix);
  expect(r.stderr).toMatch(/installed/);
  expect(r.exitCode).toBe(0);

  const libdir = join(prefix, 'lib', 'qemu-sandboxed');
  const launcher = join(libdir, 'launcher', 'qemu-sandboxed');
  const cli = join(libdir, 'launcher', 'qemu-sandbox');
  const expectedLinks = [
    `prefix/bin/qemu-sandbox -> ${cli}`,
    `prefix/bin/qemu-sandboxed -> ${launcher}`,
    ...targets.map((t) => `prefix/bin/qemu-system-${t}-sandboxed -> ${launcher}`),
  ].sort();
  const after = snapshot(base);
  // Outside the package directory: exactly the links, the directory for it, and what was there.
  const outside = after.filter((p) => !p.startsWith('prefix/lib/qemu-sandboxed/'));
  expect(outside).toEqual([...before, ...expectedLinks, 'prefix/lib/'].sort());
  // The package: runtime files, production dependencies only, nothing linking back to the checkout.
  for (const f of [
    'package.json',
    'dist/launcher/main.js',
    'dist/src/cli/main.js',
    'filters',
    'node_modules/pino/package.json',
  ]) {
    expect(existsSync(join(libdir, f))).toBe(true);
  }
  for (const dev of ['typescript', 'jest', 'eslint', 'execa', 'ts-jest']) {
    expect(existsSync(join(libdir, 'node_modules', dev))).toBe(false);
  }
  expect(
    after.filter((p) => p.startsWith('prefix/lib/qemu-sandboxed/') && p.includes(' -> ')),
  ).toEqual([]);
  expect(readFileSync(join(libdir, 'install-manifest'), 'utf8').trim().split('\n').sort()).toEqual(
    [
      `dir ${join(prefix, 'lib')}`,
      `tree ${libdir}`,
      ...expectedLinks.map((l) => `link ${join(base, l.split(' -> ')[0])}`),
    ].sort(),
  );

  // The installed copy runs real QEMU, also through a target link.
  for (const cmd of ['qemu-sandboxed', 'qemu-system-x86_64-sandboxed']) {
    const v = execa.sync(join(prefix, 'bin', cmd), ['-sandbox', 'on', '-version'], {
      reject: false,
      env: { QEMU_SANDBOXED_LOG_LEVEL: 'silent' },
    });
    expect(`${cmd}: ${v.stdout}${v.stderr}`).toMatch(/QEMU emulator version \d/);
    expect(v.exitCode).toBe(0);
  }
  // The build's compile cache came along: the installed launcher does not compile live.
  const rec = execa.sync(join(prefix, 'bin', 'qemu-sandboxed'), ['-sandbox', 'on', '-version'], {
    reject: false,
    env: { QEMU_SANDBOXED_LOG_LEVEL: 'info' },
  });
  expect(rec.exitCode).toBe(0);
  expect(JSON.parse(rec.stderr.trim())).toMatchObject({
    msg: 'launch',
    filterSource: 'precompiled',
  });
  // ... and install recorded the copy's stats: the launcher hashes none of its inputs.
  const reader = join(libdir, 'dist', 'src', 'compiler', 'precompiled.js');
  const check = execa.sync(process.execPath, [
    '-e',
    `const p = require(${JSON.stringify(reader)}).readPrecompiled({ ...require(${JSON.stringify(
      join(libdir, 'dist', 'src', 'policy', 'sandbox-option.js'),
    )}).DEFAULT_POLICY }); process.stdout.write(JSON.stringify(p && p.inputs));`,
  ]);
  expect(JSON.parse(check.stdout)).toEqual({
    unchanged: true,
    byStat: expect.any(Number),
    byHash: 0,
  });
  const help = execa.sync(join(prefix, 'bin', 'qemu-sandbox'), ['--help'], { reject: false });
  expect(help.exitCode).toBe(0);

  // Idempotent.
  const again = install('--prefix', prefix);
  expect(again.exitCode).toBe(0);
  expect(snapshot(base)).toEqual(after);

  // Uninstall: back to exactly what was there.
  const un = install('--uninstall', '--prefix', prefix);
  expect(un.exitCode).toBe(0);
  expect(snapshot(base)).toEqual(before);
  // A second uninstall has nothing to remove and says so.
  const un2 = install('--uninstall', '--prefix', prefix);
  expect(un2.exitCode).not.toBe(0);
  expect(un2.stderr).toMatch(/nothing to uninstall/);
});

test('refuses to replace a command it did not install, and changes nothing', () => {
  const prefix = join(base, 'prefix');
  mkdirSync(join(prefix, 'bin'), { recursive: true });
  writeFileSync(join(prefix, 'bin', 'qemu-sandboxed'), '#!/bin/sh\necho someone else\n', {
    mode: 0o755,
  });
  const before = snapshot(base);
  const r = install('--prefix', prefix);
  expect(r.exitCode).not.toBe(0);
  expect(r.stderr).toMatch(/qemu-sandboxed exists and is not a link into/);
  expect(snapshot(base)).toEqual(before);
});

test('--bindir and --libdir place the parts separately; the manifest lives with the package', () => {
  const bindir = join(base, 'b');
  const libdir = join(base, 'l', 'qs');
  const r = install('--bindir', bindir, '--libdir', libdir);
  expect(r.exitCode).toBe(0);
  expect(readlinkSync(join(bindir, 'qemu-sandboxed'))).toBe(
    join(libdir, 'launcher', 'qemu-sandboxed'),
  );
  expect(existsSync(join(libdir, 'install-manifest'))).toBe(true);
  const un = install('--uninstall', '--libdir', libdir);
  expect(un.exitCode).toBe(0);
  expect(snapshot(base)).toEqual([]);
});

test('never deletes an existing LIBDIR it did not install (LIBDIR is replaced whole)', () => {
  requireBuild();
  // The mistake this guards against: --libdir /usr/local/lib instead of its
  // qemu-sandboxed subdirectory would otherwise wipe /usr/local/lib.
  const libdir = join(base, 'lib');
  mkdirSync(libdir);
  writeFileSync(join(libdir, 'someone-elses-file'), 'x');
  const before = snapshot(base);
  const r = install('--bindir', join(base, 'bin'), '--libdir', libdir);
  expect(r.stderr).toMatch(
    /lib exists and was not installed by this script \(no .*install-manifest\)/,
  );
  expect(r.exitCode).toBe(1);
  expect(snapshot(base)).toEqual(before);
});

test('links QEMU programs on PATH, the first of each name, and skips script wrappers with the reason', () => {
  requireBuild();
  // qemu-system-wrapped: a "#!" wrapper like Debian's qemu-system-i386, which
  // execs the real QEMU itself; under spawn=deny that second exec fails.
  // qemu-system-linked: a symlink to a real QEMU program counts as one.
  // qemu-system-shadowed: a program, but a wrapper of that name comes first
  // on PATH, and the launcher would run the first one.
  const fake = join(base, 'fake-bin');
  const later = join(base, 'later-bin');
  mkdirSync(fake);
  mkdirSync(later);
  const wrapper = '#!/bin/sh\nexec /usr/bin/qemu-system-x86_64 "$@"\n';
  writeFileSync(join(fake, 'qemu-system-wrapped'), wrapper, { mode: 0o755 });
  writeFileSync(join(fake, 'qemu-system-shadowed'), wrapper, { mode: 0o755 });
  const real = execa.sync('sh', ['-c', 'command -v qemu-system-x86_64']).stdout.trim();
  symlinkSync(real, join(fake, 'qemu-system-linked'));
  symlinkSync(real, join(later, 'qemu-system-shadowed'));
  const path = `${fake}:${process.env.PATH ?? ''}:${later}`;
  const expected = qemuTargets(path);
  expect(expected).toContain('linked');
  expect(expected).not.toContain('wrapped');
  expect(expected).not.toContain('shadowed');

  const prefix = join(base, 'prefix');
  const r = installWithPath(path, '--prefix', prefix);
  expect(r.exitCode).toBe(0);
  const links = readdirSync(join(prefix, 'bin'))
    .map((n) => /^qemu-system-(.+)-sandboxed$/.exec(n)?.[1])
    .filter((t): t is string => t !== undefined)
    .sort();
  expect(links).toEqual(expected);
  expect(r.stderr).toContain(
    `no qemu-system-wrapped-sandboxed: ${join(fake, 'qemu-system-wrapped')} is a script`,
  );
  expect(r.stderr).toContain(
    `no qemu-system-shadowed-sandboxed: ${join(fake, 'qemu-system-shadowed')} is a script`,
  );
  // The link runs the program it names: qemu-system-linked, a real QEMU.
  const v = execa.sync(join(prefix, 'bin', 'qemu-system-linked-sandboxed'), ['-version'], {
    reject: false,
    env: { PATH: path, QEMU_SANDBOXED_LOG_LEVEL: 'silent' },
  });
  expect(`${v.stdout}${v.stderr}`).toMatch(/QEMU emulator version \d/);
  expect(v.exitCode).toBe(0);
  expect(install('--uninstall', '--prefix', prefix).exitCode).toBe(0);
  expect(existsSync(prefix)).toBe(false);
});

test('from a checkout that was not built, says what to run and installs nothing', () => {
  // A copy of the script in a checkout-like tree with no dist/ (a fresh clone).
  const checkout = join(base, 'checkout');
  mkdirSync(join(checkout, 'scripts'), { recursive: true });
  copyFileSync(script, join(checkout, 'scripts', 'install'));
  copyFileSync(join(root, 'package.json'), join(checkout, 'package.json'));
  const prefix = join(base, 'prefix');
  const r = execa.sync('sh', [join(checkout, 'scripts', 'install'), '--prefix', prefix], {
    reject: false,
  });
  expect(r.exitCode).toBe(1);
  expect(r.stderr).toMatch(
    /^install: error: .*\/checkout\/dist\/launcher\/main\.js is missing: build the checkout first \(npm ci && npm run build\)$/m,
  );
  expect(existsSync(prefix)).toBe(false);
});
