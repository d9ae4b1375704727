/**
 * The Debian package for the package tests: built from this checkout by the
 * same code as `npm run package`, into a directory apt's sandbox user can
 * read; and, for Debian 12 roots, a stand-in for the repository users add to
 * get Node.js 20 (Debian 12's own nodejs is 18).
 */
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import execa from 'execa';
import { buildDeb, shlibsDepends, type BuiltPackage } from '../../scripts/package-deb';
import { requireLauncher } from './guest';
import { shInRoot } from './debian-root';

const dirs: string[] = [];
if (typeof afterAll === 'function') {
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
}

function newDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  // apt-get install ./x.deb reads the file as the _apt user.
  chmodSync(d, 0o755);
  dirs.push(d);
  return d;
}

/** qemu-sandboxed_<version>_<arch>.deb built from this checkout (dist/ must be built). */
export function builtDeb(): BuiltPackage {
  requireLauncher();
  const built = buildDeb(newDir('qs-deb-'));
  chmodSync(built.file, 0o644);
  return built;
}

/**
 * A `nodejs` package of this machine's own Node (>= 20): what NodeSource's
 * repository gives a Debian 12 user, who cannot satisfy `nodejs (>= 20)`
 * from Debian 12 itself. Only the node binary: the package needs no npm.
 */
export function nodejsStandIn(): string {
  const version = process.versions.node;
  if (Number(version.split('.')[0]) < 20) {
    throw new Error(`this machine's Node is ${version}: the stand-in nodejs package needs >= 20`);
  }
  const work = newDir('qs-nodejs-');
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'usr', 'bin'), { recursive: true });
  mkdirSync(join(tree, 'DEBIAN'));
  const node = join(tree, 'usr', 'bin', 'node');
  copyFileSync(process.execPath, node);
  chmodSync(node, 0o755);
  const arch = execa.sync('dpkg', ['--print-architecture']).stdout.trim();
  writeFileSync(
    join(tree, 'DEBIAN', 'control'),
    `Package: nodejs
Version: ${version}-1qs~standin
Architecture: ${arch}
Maintainer: qemu-sandboxed tests <tests@example.org>
Depends: ${shlibsDepends(work, [node])}
Section: web
Priority: optional
Description: Node.js ${version} (this machine's), standing in for a Node.js 20 repository
 Built by the qemu-sandboxed package tests for Debian 12 roots.
`,
  );
  const out = join(work, 'repo');
  mkdirSync(out);
  const deb = join(out, `nodejs_${version}-1qs~standin_${arch}.deb`);
  execa.sync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', tree, deb]);
  chmodSync(out, 0o755);
  chmodSync(deb, 0o644);
  return deb;
}

/**
 * Makes the directory of `debs` an apt repository inside the root (as a user
 * adds a vendor's repository) and updates apt's lists for it alone.
 */
export async function addLocalRepository(root: string, debs: readonly string[]): Promise<void> {
  const repo = join(root, 'srv', 'local-apt');
  mkdirSync(repo, { recursive: true });
  for (const d of debs) copyFileSync(d, join(repo, basename(d)));
  const packages = execa.sync('dpkg-scanpackages', ['--multiversion', '.'], { cwd: repo });
  writeFileSync(join(repo, 'Packages'), packages.stdout + '\n');
  writeFileSync(
    join(root, 'etc', 'apt', 'sources.list.d', 'local-apt.list'),
    'deb [trusted=yes] file:/srv/local-apt ./\n',
  );
  await shInRoot(
    root,
    'apt-get update -q -o Dir::Etc::SourceList=/etc/apt/sources.list.d/local-apt.list -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0',
  );
  if (!readdirSync(repo).some((f) => f.endsWith('.deb'))) throw new Error(`no .deb in ${repo}`);
}
