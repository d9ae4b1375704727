/**
 * The Debian package as built by `npm run package`, checked without
 * installing it: lintian finds no error and no warning; it holds what a user
 * needs (programs, links, conffile, man pages, completion, copyright,
 * changelog) and nothing of the build; its maintainer scripts and trigger
 * are the ones in packaging/deb. Installing it is
 * test/package/deb-install.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';
import { builtDeb } from '../helpers/deb';
import { repoRoot } from '../helpers/guest';
import type { BuiltPackage } from '../../scripts/package-deb';

jest.setTimeout(300_000);

let deb: BuiltPackage;
let tree = '';
const pkgJson = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as {
  version: string;
};

beforeAll(() => {
  deb = builtDeb();
  tree = mkdtempSync(join(tmpdir(), 'qs-deb-tree-'));
  execa.sync('dpkg-deb', ['-R', deb.file, tree]);
}, 300_000);
afterAll(() => rmSync(tree, { recursive: true, force: true }));

/** `dpkg-deb -c`: "mode owner/group size date time path[ -> target]" per entry. */
function contents(): string[] {
  return execa
    .sync('dpkg-deb', ['-c', deb.file])
    .stdout.split('\n')
    .map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\.\//, '/'));
}

test('named qemu-sandboxed_<version>_<arch>.deb for this machine', () => {
  const arch = execa.sync('dpkg', ['--print-architecture']).stdout.trim();
  expect(deb.file.endsWith(`/qemu-sandboxed_${pkgJson.version}_${arch}.deb`)).toBe(true);
});

test('lintian: no error, no warning', () => {
  const r = execa.sync('lintian', ['--display-level', '>=warning', deb.file], { reject: false });
  const tags = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => /^[EW]: /.test(l))
    .join('\n');
  expect(tags).toBe('');
  // lintian exits 2 when it could not check the package at all.
  expect(r.exitCode).not.toBe(2);
});

test('control: version, architecture, dependencies (Node.js 20, QEMU, the addon libraries)', () => {
  const control = readFileSync(join(tree, 'DEBIAN', 'control'), 'utf8');
  expect(control).toMatch(new RegExp(`^Version: ${pkgJson.version.replace(/\./g, '\\.')}$`, 'm'));
  expect(control).toMatch(new RegExp(`^Architecture: ${deb.arch}$`, 'm'));
  const depends = /^Depends: (.*)$/m.exec(control)?.[1] ?? '';
  expect(depends.split(', ')).toEqual(
    expect.arrayContaining([
      'nodejs (>= 20)',
      expect.stringMatching(/^libc6 \(>= [\d.]+\)$/),
      expect.stringMatching(/^qemu-system-x86 \| qemu-system-arm \| /),
    ]),
  );
  expect(readFileSync(join(tree, 'DEBIAN', 'conffiles'), 'utf8')).toBe(
    '/etc/qemu-sandboxed/config.json\n',
  );
  expect(readFileSync(join(tree, 'DEBIAN', 'triggers'), 'utf8')).toBe(
    'interest-noawait /usr/bin\n',
  );
  for (const script of ['postinst', 'prerm', 'postrm']) {
    expect(readFileSync(join(tree, 'DEBIAN', script), 'utf8')).toBe(
      readFileSync(join(repoRoot(), 'packaging', 'deb', script), 'utf8'),
    );
  }
});

test('contents: the programs and their links, the conffile, docs; no build leftovers', () => {
  const paths = contents();
  expect(paths).toEqual(
    expect.arrayContaining([
      '/usr/bin/qemu-sandboxed -> ../lib/qemu-sandboxed/launcher/qemu-sandboxed',
      '/usr/bin/qemu-sandbox -> ../lib/qemu-sandboxed/launcher/qemu-sandbox',
      '/usr/lib/qemu-sandboxed/launcher/qemu-sandboxed',
      '/usr/lib/qemu-sandboxed/launcher/qemu-sandbox',
      '/usr/lib/qemu-sandboxed/launcher/host',
      '/usr/lib/qemu-sandboxed/launcher/targets.sh',
      '/usr/lib/qemu-sandboxed/dist/launcher/main.js',
      '/usr/lib/qemu-sandboxed/dist/src/cli/main.js',
      '/usr/lib/qemu-sandboxed/filters/default.json',
      '/usr/lib/qemu-sandboxed/node_modules/@2060.io/ffi-napi/build/Release/ffi_bindings.node',
      '/usr/lib/qemu-sandboxed/node_modules/yargs/build/lib/yargs-factory.js',
      '/etc/qemu-sandboxed/config.json',
      '/usr/share/man/man1/qemu-sandboxed.1.gz',
      '/usr/share/man/man8/qemu-sandbox.8.gz',
      '/usr/share/bash-completion/completions/qemu-sandbox',
      '/usr/share/bash-completion/completions/qemu-sandboxed -> qemu-sandbox',
      '/usr/share/doc/qemu-sandboxed/copyright',
      '/usr/share/doc/qemu-sandboxed/changelog.gz',
    ]),
  );
  // The qemu-system-<target>-sandboxed links depend on the QEMU installed:
  // the maintainer scripts make them, the package does not ship them.
  expect(paths.filter((p) => /qemu-system-.*-sandboxed/.test(p))).toEqual([]);
  // Dev dependencies, the addons' sources and objects, and the checkout's
  // tests and scripts stay out.
  for (const re of [
    /\/node_modules\/(typescript|jest|eslint|execa|ts-jest)\//,
    /\/deps\/libffi\//,
    /\/build\/Release\/obj\.target\//,
    /\.o$/,
    /\/dist\/(test|scripts)\//,
    /\/node_modules\/.*\/(test|\.github)\//,
  ]) {
    expect(paths.filter((p) => re.test(p))).toEqual([]);
  }
  expect(readFileSync(join(tree, 'etc', 'qemu-sandboxed', 'config.json'), 'utf8')).toBe(
    readFileSync(join(repoRoot(), 'packaging', 'deb', 'config.json'), 'utf8'),
  );
});

test('the native addons are stripped and the files are owned by root', () => {
  const r = execa.sync('dpkg-deb', ['-c', deb.file]).stdout.split('\n');
  expect(r.filter((l) => !/^\S+ root\/root /.test(l))).toEqual([]);
  const addon = join(
    tree,
    'usr/lib/qemu-sandboxed/node_modules/@2060.io/ffi-napi/build/Release/ffi_bindings.node',
  );
  expect(execa.sync('file', ['-b', addon]).stdout).toMatch(/ELF .* stripped/);
  expect(execa.sync('file', ['-b', addon]).stdout).not.toMatch(/not stripped/);
});

test('man pages render without warnings and carry the version', () => {
  for (const [page, section] of [
    ['qemu-sandboxed', '1'],
    ['qemu-sandbox', '8'],
  ]) {
    const file = join(tree, 'usr', 'share', 'man', `man${section}`, `${page}.${section}.gz`);
    // col -b: plain text instead of man's overstrike bold.
    const r = execa.sync(
      'bash',
      ['-c', 'set -o pipefail; man --warnings -l "$1" | col -b', 'bash', file],
      {
        env: { MANWIDTH: '80', LANG: 'C.UTF-8' },
        reject: false,
      },
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`qemu-sandboxed ${pkgJson.version}`);
    expect(r.stdout).toMatch(/^NAME\n\s+\S+/m);
  }
});

test('bash completion: commands, host actions, -sandbox keys', () => {
  const file = join(tree, 'usr', 'share', 'bash-completion', 'completions', 'qemu-sandbox');
  const complete = (words: string[]): string =>
    execa.sync('bash', [
      '-c',
      `. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); ${words[0] === 'qemu-sandboxed' ? '_qemu_sandboxed' : '_qemu_sandbox'}; printf '%s\\n' "\${COMPREPLY[@]}"`,
      'bash',
      file,
      ...words,
    ]).stdout;
  expect(complete(['qemu-sandbox', 'ho'])).toBe('host');
  expect(complete(['qemu-sandbox', 'host', ''])).toBe('enable\ndisable\nstatus');
  expect(complete(['qemu-sandbox', 'groups', 'sp'])).toBe('spawn');
  expect(complete(['qemu-sandbox', 'explain', 'on,spawn='])).toBe('on,spawn=allow\non,spawn=deny');
  expect(complete(['qemu-sandbox', 'compile', 'on', '--format', ''])).toBe('disasm\nraw\nc\njson');
  expect(complete(['qemu-sandboxed', '-sandbox', 'on,act'])).toBe('on,action=');
});

test('copyright names every bundled npm package with its licence; changelog heads with this version', () => {
  const copyright = readFileSync(join(tree, 'usr/share/doc/qemu-sandboxed/copyright'), 'utf8');
  expect(copyright).toMatch(
    /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/$/m,
  );
  expect(copyright).toContain('/usr/share/common-licenses/GPL-2');
  const modules = execa
    .sync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repoRoot() })
    .stdout.split('\n')
    .filter((p) => p.includes('/node_modules/'))
    .map((p) => p.slice(p.indexOf('node_modules/')))
    .filter((p) => !p.endsWith('@2060.io/node-addon-api')); // a build directory, no package
  expect(modules.length).toBeGreaterThan(10);
  for (const m of modules) {
    expect(copyright).toContain(`Files: usr/lib/qemu-sandboxed/${m}/*`);
  }
  const changelog = execa.sync('sh', [
    '-c',
    'gzip -dc "$1" | head -n 1',
    'sh',
    join(tree, 'usr/share/doc/qemu-sandboxed/changelog.gz'),
  ]).stdout;
  expect(changelog).toBe(`qemu-sandboxed (${pkgJson.version}) unstable; urgency=medium`);
});

test('the same checkout builds the same package (dates from the changelog)', () => {
  const again = builtDeb();
  expect(readFileSync(again.file).equals(readFileSync(deb.file))).toBe(true);
});
