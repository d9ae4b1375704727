/**
 * `npm run package`: builds qemu-sandboxed_<version>_<arch>.deb from the
 * built checkout with Debian's own tools (dpkg-deb, dpkg-shlibdeps), no
 * download. The architecture is the build machine's: the FFI addon in
 * node_modules is native code.
 *
 *   node dist/scripts/package-deb.js [--out DIR]     (default DIR: the checkout)
 *
 * Contents:
 *   /usr/lib/qemu-sandboxed/   what scripts/install copies (scripts/install
 *                              --stage): dist/, filters/, launcher/ (the
 *                              trampolines, targets.sh, host), the production
 *                              node_modules, trimmed of build leftovers
 *   /usr/bin/qemu-sandboxed, /usr/bin/qemu-sandbox   links to the trampolines
 *   /etc/qemu-sandboxed/config.json                  conffile
 *   man pages (man/), bash completion (completions/), copyright, changelog
 *   DEBIAN/ from packaging/deb: the maintainer scripts make and remove the
 *   qemu-system-<target>-sandboxed links (launcher/host refresh), a file
 *   trigger on /usr/bin keeps them current, and host-wide mode with them.
 *
 * The version is package.json's and must head packaging/deb/changelog; the
 * changelog's date is the build date (SOURCE_DATE_EPOCH), so the same
 * checkout builds the same tree.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { repoRoot } from './lib/guest';

export const PACKAGE = 'qemu-sandboxed';
export const LIBDIR = '/usr/lib/qemu-sandboxed';

/** The QEMU package that emulates the machine's own architecture comes first in Depends. */
const NATIVE_QEMU: Readonly<Record<string, string>> = {
  amd64: 'qemu-system-x86',
  i386: 'qemu-system-x86',
  arm64: 'qemu-system-arm',
  armhf: 'qemu-system-arm',
  ppc64el: 'qemu-system-ppc',
  s390x: 'qemu-system-s390x',
  riscv64: 'qemu-system-misc',
  loong64: 'qemu-system-misc',
  mips64el: 'qemu-system-mips',
};
const QEMU_PACKAGES = [
  'qemu-system-x86',
  'qemu-system-arm',
  'qemu-system-misc',
  'qemu-system-ppc',
  'qemu-system-s390x',
  'qemu-system-mips',
  'qemu-system-sparc',
];

export class PackageError extends Error {
  override readonly name = 'PackageError';
}

function run(cmd: string, args: readonly string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new PackageError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new PackageError(
      `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${String(r.stderr).trim()}`,
    );
  }
  return String(r.stdout);
}

export interface ChangelogEntry {
  readonly version: string;
  /** The trailer's RFC 5322 date, as seconds since the epoch. */
  readonly epoch: number;
  readonly maintainer: string;
}

/** The newest entry of a Debian changelog. */
export function parseChangelog(text: string): ChangelogEntry {
  const head = /^qemu-sandboxed \(([^)]+)\) \S+; urgency=\S+$/m.exec(text);
  const trailer = /^ -- (.+ <[^>]+>) {2}(.+)$/m.exec(text);
  if (!head || !trailer) {
    throw new PackageError('packaging/deb/changelog: no "qemu-sandboxed (VERSION)" entry');
  }
  const epoch = Date.parse(trailer[2]) / 1000;
  if (!Number.isFinite(epoch)) {
    throw new PackageError(`packaging/deb/changelog: bad date '${trailer[2]}'`);
  }
  return { version: head[1], epoch, maintainer: trailer[1] };
}

/** Debian's Depends for the QEMU emulators: the native one first, any of the others will do. */
export function qemuDepends(arch: string): string {
  const native = NATIVE_QEMU[arch];
  const rest = QEMU_PACKAGES.filter((p) => p !== native);
  return (native ? [native, ...rest] : rest).join(' | ');
}

/**
 * Build leftovers of the native addons and files only developers read: the
 * compiled addon (build/Release/*.node) and each package's JavaScript,
 * package.json and licence stay.
 */
const DROP_DIRS = new Set([
  'test',
  'tests',
  'example',
  'examples',
  'docs',
  'doc',
  '.github',
  'deps', // libffi's sources: built into ffi_bindings.node
  'src', // the addons' C++ sources
  'benchmarks',
  'tools', // node-addon-api's clang-format helpers
  '.husky',
]);
const DROP_FILES =
  /^(\.travis\.yml|appveyor\.yml|\.jshintrc|\.npmignore|\.gitignore|\.gitattributes|\.eslintrc.*|\.editorconfig|binding\.gyp|CHANGELOG\.md|code-of-conduct\.md|readme(\..*)?|contributing(\..*)?|security\.md|.*\.html|.*\.map|.*\.ts|tsconfig\.json|Makefile|.*\.mk|.*\.gypi)$/i;

/** Trims one package directory of node_modules (not its nested node_modules). */
function trimPackage(dir: string): void {
  // A node-gyp addon's build/ is its build tree; other packages' build/ is
  // their code (yargs).
  const addon = existsSync(join(dir, 'binding.gyp'));
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (name === 'node_modules') continue;
    if (st.isDirectory()) {
      if (name === 'build') {
        if (addon) trimBuild(p);
        continue;
      }
      // A package's own code may live in src/ (plain JavaScript): keep that.
      if (DROP_DIRS.has(name) && !(name === 'src' && hasJavaScript(p) && !hasNative(p))) {
        rmSync(p, { recursive: true, force: true });
      }
    } else if (DROP_FILES.test(name)) {
      rmSync(p, { force: true });
    }
  }
}

function walk(dir: string, visit: (file: string) => void): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) walk(p, visit);
    else visit(p);
  }
}

function hasJavaScript(dir: string): boolean {
  let yes = false;
  walk(dir, (f) => {
    if (/\.(c|m)?js$/.test(f)) yes = true;
  });
  return yes;
}

function hasNative(dir: string): boolean {
  let yes = false;
  walk(dir, (f) => {
    if (/\.(cc|cpp|c|h)$/.test(f)) yes = true;
  });
  return yes;
}

/** node-gyp's build/: only build/Release/*.node is loaded (node-gyp-build). */
function trimBuild(build: string): void {
  const keep: string[] = [];
  walk(build, (f) => {
    const rel = relative(build, f);
    if (/^Release\/[^/]+\.node$/.test(rel)) keep.push(rel);
  });
  const saved = keep.map((rel) => ({ rel, data: readFileSync(join(build, rel)) }));
  rmSync(build, { recursive: true, force: true });
  for (const { rel, data } of saved) {
    mkdirSync(dirname(join(build, rel)), { recursive: true });
    writeFileSync(join(build, rel), data, { mode: 0o644 });
  }
}

/** Every package directory under node_modules, nested ones included. */
function packageDirs(nodeModules: string): string[] {
  const out: string[] = [];
  if (!existsSync(nodeModules)) return out;
  for (const name of readdirSync(nodeModules)) {
    const p = join(nodeModules, name);
    if (!lstatSync(p).isDirectory()) continue;
    if (name.startsWith('@')) {
      for (const sub of readdirSync(p)) out.push(...packageAndNested(join(p, sub)));
    } else {
      out.push(...packageAndNested(p));
    }
  }
  return out;
}

function packageAndNested(dir: string): string[] {
  return [dir, ...packageDirs(join(dir, 'node_modules'))];
}

interface BundledModule {
  readonly name: string;
  readonly version: string;
  readonly license: string;
  readonly copyright: string;
  readonly path: string;
}

/** name, version, licence and the first copyright line of each bundled npm package. */
function bundledModules(libdir: string): BundledModule[] {
  const out: BundledModule[] = [];
  for (const dir of packageDirs(join(libdir, 'node_modules'))) {
    const pj = join(dir, 'package.json');
    if (!existsSync(pj)) continue;
    const meta = JSON.parse(readFileSync(pj, 'utf8')) as {
      name?: string;
      version?: string;
      license?: string;
    };
    let copyright = '';
    for (const f of readdirSync(dir)) {
      if (!/^licen[cs]e/i.test(f)) continue;
      const m = /^\s*(copyright\b.*)$/im.exec(readFileSync(join(dir, f), 'utf8'));
      if (m) copyright = m[1].replace(/^copyright\s*(\(c\)|©)?\s*/i, '').trim();
      break;
    }
    out.push({
      name: meta.name ?? relative(libdir, dir),
      version: meta.version ?? '?',
      license: meta.license ?? 'UNKNOWN',
      copyright: copyright || `the ${meta.name ?? 'package'} authors`,
      path: relative('/', join(LIBDIR, relative(libdir, dir))),
    });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

const LICENSE_TEXTS: Readonly<Record<string, string>> = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a
copy of this software and associated documentation files (the "Software"),
to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense,
and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:
.
The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.
.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.
.
THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY
SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR
IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
};

/** debian/copyright (DEP-5): the project, then each bundled npm package and libffi. */
export function copyrightFile(modules: readonly BundledModule[], year: number): string {
  const stanzas = [
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: qemu-sandboxed
Comment: The package bundles the npm packages it runs with (below) in
 ${LIBDIR}/node_modules; each keeps its own licence file there.`,
    `Files: *
Copyright: ${year} qemu-sandboxed developers
License: GPL-2+`,
  ];
  const used = new Set<string>();
  for (const m of modules) {
    if (!LICENSE_TEXTS[m.license]) {
      throw new PackageError(
        `${m.name} ${m.version}: licence '${m.license}' has no text in scripts/package-deb.ts: add it`,
      );
    }
    used.add(m.license);
    stanzas.push(`Files: ${m.path}/*
Copyright: ${m.copyright}
License: ${m.license}
Comment: ${m.name} ${m.version}`);
    if (m.name === '@2060.io/ffi-napi') {
      stanzas.push(`Files: ${m.path}/build/Release/ffi_bindings.node
Copyright: 1996-2022 Anthony Green, Red Hat, Inc and others (libffi)
License: MIT
Comment: libffi, built into the addon from the sources ${m.name} ships.`);
    }
  }
  stanzas.push(`License: GPL-2+
 This program is free software; you can redistribute it and/or modify it
 under the terms of the GNU General Public License as published by the Free
 Software Foundation; either version 2 of the License, or (at your option)
 any later version.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in /usr/share/common-licenses/GPL-2.`);
  for (const l of [...used].sort()) {
    stanzas.push(
      `License: ${l}\n${LICENSE_TEXTS[l]
        .split('\n')
        .map((line) => ` ${line}`)
        .join('\n')}`,
    );
  }
  return `${stanzas.join('\n\n')}\n`;
}

function gzipTo(src: string | Buffer, dest: string): void {
  const data = typeof src === 'string' ? readFileSync(src) : src;
  mkdirSync(dirname(dest), { recursive: true });
  // gzip -9n: no name, no time stamp, so the same input gives the same bytes.
  writeFileSync(dest, gzipSync(data, { level: 9 }), { mode: 0o644 });
}

/**
 * Debian's permissions: 755 for directories and for programs (an executable
 * that starts with "#!" or is ELF), 644 for the rest (npm packages mark
 * plain modules executable now and then).
 */
function normalizeModes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      normalizeModes(p);
    } else {
      const program = (st.mode & 0o111) !== 0 && isProgram(p);
      chmodSync(p, program ? 0o755 : 0o644);
    }
  }
}

function isProgram(file: string): boolean {
  const head = readFileSync(file).subarray(0, 4);
  return head.subarray(0, 2).toString('latin1') === '#!' || head.toString('latin1') === '\x7fELF';
}

/** "shlibs:Depends=libc6 (>= 2.14), ..." for the native addons, from dpkg-shlibdeps. */
export function shlibsDepends(work: string, objects: readonly string[]): string {
  const src = join(work, 'shlibs');
  mkdirSync(join(src, 'debian'), { recursive: true });
  writeFileSync(
    join(src, 'debian', 'control'),
    `Source: ${PACKAGE}\n\nPackage: ${PACKAGE}\nArchitecture: any\n`,
  );
  const out = run('dpkg-shlibdeps', ['-O', ...objects], { cwd: src });
  const m = /^shlibs:Depends=(.*)$/m.exec(out);
  if (!m || m[1].trim() === '')
    throw new PackageError(`dpkg-shlibdeps said nothing useful: ${out}`);
  return m[1].trim();
}

function du(dir: string): number {
  let bytes = 0;
  walk(dir, (f) => {
    const st = lstatSync(f);
    bytes += Math.ceil(st.size / 1024) * 1024;
  });
  return Math.ceil(bytes / 1024);
}

export interface BuiltPackage {
  readonly file: string;
  readonly version: string;
  readonly arch: string;
}

export function buildDeb(outDir: string): BuiltPackage {
  const root = repoRoot();
  const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    version: string;
  };
  const changelogText = readFileSync(join(root, 'packaging', 'deb', 'changelog'), 'utf8');
  const entry = parseChangelog(changelogText);
  if (entry.version !== pkgJson.version) {
    throw new PackageError(
      `packaging/deb/changelog's newest entry is ${entry.version}, package.json says ${pkgJson.version}: add a changelog entry`,
    );
  }
  const control = readFileSync(join(root, 'packaging', 'deb', 'control.in'), 'utf8');
  const maintainer = /^Maintainer: (.*)$/m.exec(control)?.[1];
  if (maintainer !== entry.maintainer) {
    throw new PackageError(
      `packaging/deb/changelog is signed by ${entry.maintainer}, control.in's Maintainer is ${maintainer ?? '(none)'}`,
    );
  }
  const arch = run('dpkg', ['--print-architecture']).trim();
  const date = new Date(entry.epoch * 1000).toISOString().slice(0, 10);

  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, '.qemu-sandboxed-deb-'));
  try {
    const tree = join(work, 'tree');
    const libdir = join(tree, LIBDIR);
    mkdirSync(dirname(libdir), { recursive: true });
    run('sh', [join(root, 'scripts', 'install'), '--stage', libdir]);
    for (const dir of packageDirs(join(libdir, 'node_modules'))) trimPackage(dir);
    const natives: string[] = [];
    walk(libdir, (f) => {
      if (f.endsWith('.node')) natives.push(f);
    });
    if (natives.length === 0) throw new PackageError('no native addon (*.node) in node_modules');
    // Debian ships stripped objects; the debug information is of no use here.
    run('strip', [
      '--strip-unneeded',
      '--remove-section=.comment',
      '--remove-section=.note',
      ...natives,
    ]);

    const bin = join(tree, 'usr', 'bin');
    mkdirSync(bin, { recursive: true });
    for (const cmd of ['qemu-sandboxed', 'qemu-sandbox']) {
      symlinkSync(`../lib/qemu-sandboxed/launcher/${cmd}`, join(bin, cmd));
    }
    mkdirSync(join(tree, 'etc', 'qemu-sandboxed'), { recursive: true });
    copyFileSync(
      join(root, 'packaging', 'deb', 'config.json'),
      join(tree, 'etc', 'qemu-sandboxed', 'config.json'),
    );
    const share = join(tree, 'usr', 'share');
    for (const [page, section] of [
      ['qemu-sandboxed', '1'],
      ['qemu-sandbox', '8'],
    ]) {
      const text = readFileSync(join(root, 'man', `${page}.${section}`), 'utf8')
        .replace(/@VERSION@/g, pkgJson.version)
        .replace(/@DATE@/g, date);
      gzipTo(Buffer.from(text), join(share, 'man', `man${section}`, `${page}.${section}.gz`));
    }
    const completions = join(share, 'bash-completion', 'completions');
    mkdirSync(completions, { recursive: true });
    copyFileSync(join(root, 'completions', 'qemu-sandbox.bash'), join(completions, 'qemu-sandbox'));
    symlinkSync('qemu-sandbox', join(completions, 'qemu-sandboxed'));
    const doc = join(share, 'doc', PACKAGE);
    mkdirSync(doc, { recursive: true });
    gzipTo(Buffer.from(changelogText), join(doc, 'changelog.gz'));
    gzipTo(join(root, 'README.md'), join(doc, 'README.md.gz'));
    gzipTo(join(root, 'docs', 'libvirt.md'), join(doc, 'libvirt.md.gz'));
    writeFileSync(
      join(doc, 'copyright'),
      copyrightFile(bundledModules(libdir), new Date(entry.epoch * 1000).getUTCFullYear()),
    );
    normalizeModes(tree);

    const shlibs = shlibsDepends(work, natives);
    const debian = join(tree, 'DEBIAN');
    mkdirSync(debian);
    writeFileSync(
      join(debian, 'control'),
      control
        .replace('@VERSION@', pkgJson.version)
        .replace('@ARCH@', arch)
        .replace('@INSTALLED_SIZE@', String(du(tree)))
        .replace('@SHLIBS@', shlibs)
        .replace('@QEMU_DEPENDS@', qemuDepends(arch)),
      { mode: 0o644 },
    );
    for (const f of ['postinst', 'prerm', 'postrm']) {
      copyFileSync(join(root, 'packaging', 'deb', f), join(debian, f));
      chmodSync(join(debian, f), 0o755);
    }
    for (const f of ['triggers', 'conffiles']) {
      copyFileSync(join(root, 'packaging', 'deb', f), join(debian, f));
      chmodSync(join(debian, f), 0o644);
    }
    const sums: string[] = [];
    walk(tree, (f) => {
      const rel = relative(tree, f);
      if (rel.startsWith('DEBIAN/') || rel.startsWith('etc/') || lstatSync(f).isSymbolicLink())
        return;
      sums.push(`${createHash('md5').update(readFileSync(f)).digest('hex')}  ${rel}`);
    });
    writeFileSync(join(debian, 'md5sums'), `${sums.sort().join('\n')}\n`, { mode: 0o644 });

    const file = join(outDir, `${PACKAGE}_${pkgJson.version}_${arch}.deb`);
    rmSync(file, { force: true });
    run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', tree, file], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(entry.epoch) },
    });
    if (!statSync(file).isFile()) throw new PackageError(`dpkg-deb made no ${file}`);
    return { file, version: pkgJson.version, arch };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  let out = repoRoot();
  if (args[0] === '--out' && args[1]) out = args[1];
  else if (args.length > 0) {
    process.stderr.write('usage: node dist/scripts/package-deb.js [--out DIR]\n');
    process.exit(2);
  }
  try {
    const built = buildDeb(out);
    process.stdout.write(`${built.file}\n`);
  } catch (e) {
    process.stderr.write(`package-deb: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
