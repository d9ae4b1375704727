/**
 * The Dockerfile, checked without a container engine (test/container/container.test.ts, `npm run test:container`, builds it with podman): its
 * build steps are the project's own scripts, the ones the tests and
 * scripts/setup.sh use, not a second recipe that could drift; the packages it
 * installs are the ones setup.sh installs for the tests; and its entry point,
 * installed by the same scripts/install into a temporary prefix, runs real
 * QEMU from a plain shell.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import execa from 'execa';

const root = join(__dirname, '..', '..');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** Index of the FROM it belongs to. */
  readonly stage: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let current = '';
  const flush = (): void => {
    const line = current.trim();
    current = '';
    if (line === '') return;
    const m = /^(\S+)\s*(.*)$/s.exec(line);
    if (!m) return;
    const keyword = m[1].toUpperCase();
    if (keyword === 'FROM') stage += 1;
    out.push({ keyword, args: m[2].replace(/\s+/g, ' ').trim(), stage });
  };
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    if (/\\\s*$/.test(raw)) {
      current += `${raw.replace(/\\\s*$/, '')} `;
      continue;
    }
    current += raw;
    flush();
  }
  flush();
  return out;
}

/** The shell commands of a RUN (flags such as --mount removed), split on && and ;. */
function runCommands(args: string): string[] {
  const cmd = args.replace(/^(--\S+\s+)+/, '');
  return cmd
    .split(/&&|;/)
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

/** The package names of `apt-get install` commands. */
function aptPackages(commands: readonly string[]): string[] {
  const pkgs: string[] = [];
  for (const c of commands) {
    const m = /apt-get install (.*)$/.exec(c);
    if (m) pkgs.push(...m[1].split(' ').filter((w) => w !== '' && !w.startsWith('-')));
  }
  return pkgs;
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const instructions = parseDockerfile(dockerfile);
const setupSh = readFileSync(join(root, 'scripts', 'setup.sh'), 'utf8');
const stages = instructions.filter((i) => i.keyword === 'FROM');
const last = stages.length - 1;
const commandsOf = (stage: number): string[] =>
  instructions
    .filter((i) => i.keyword === 'RUN' && i.stage === stage)
    .flatMap((i) => runCommands(i.args));

test('multi-stage: a build stage with npm, a run stage on a Debian slim image with Node', () => {
  expect(stages.length).toBeGreaterThanOrEqual(2);
  const arg = /ARG NODE_IMAGE=(\S+)/.exec(dockerfile);
  const image = (from: string): string =>
    from.split(' ')[0].replace('${NODE_IMAGE}', arg?.[1] ?? '');
  // Node 20 (package.json engines) on Debian bookworm, the release whose QEMU the tests run.
  expect(image(stages[last].args)).toMatch(/^node:20-bookworm-slim$/);
  expect(image(stages[0].args)).toMatch(/^node:20-bookworm-slim$/);
  const engines = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }
  ).engines.node;
  expect(engines).toBe('>=20');
});

test("the build steps are the project's own scripts, as scripts/setup.sh runs them", () => {
  const build = commandsOf(0);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  // npm ci exactly as setup.sh runs it, then the package's build script.
  const npmCi = build.find((c) => c.startsWith('npm ci'));
  expect(npmCi).toBeDefined();
  expect(setupSh).toContain(npmCi);
  expect(build).toContain('npm run build');
  expect(setupSh).toMatch(/npm run (--silent )?build/);
  expect(pkg.scripts.build).toBeDefined();
  // Nothing else is built by hand: the other build-stage commands only install toolchain packages.
  for (const c of build) {
    expect(c).toMatch(
      /^(npm ci|npm run build$|apt-get update|DEBIAN_FRONTEND=noninteractive apt-get install|rm -rf \/var\/lib\/apt\/lists)/,
    );
  }
  // The run stage installs with scripts/install (tested for real in install.test.ts) from the build stage.
  const install = commandsOf(last).filter((c) => c.includes('scripts/install'));
  expect(install).toEqual(['sh /src/scripts/install --prefix /usr/local']);
  expect(
    instructions.some(
      (i) =>
        i.keyword === 'RUN' &&
        i.stage === last &&
        /--mount=type=bind,from=build,source=\/src/.test(i.args),
    ),
  ).toBe(true);
});

test('the run stage installs the QEMU packages setup.sh installs for the tests', () => {
  const pkgs = aptPackages(commandsOf(last));
  expect(pkgs).toContain('qemu-system-x86');
  const setupPkgs = (/PACKAGES="([^"]*)"/.exec(setupSh)?.[1] ?? '').split(/\s+/);
  for (const p of pkgs) expect(setupPkgs).toContain(p);
});

test('the build stage has the toolchain node-gyp needs for the native addons npm ci builds', () => {
  // npm ci compiles every dependency with a binding.gyp (@2060.io/ffi-napi,
  // @2060.io/ref-napi: node-gyp-build finds no prebuilt binary for them), and
  // the slim Node image has no compiler.
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const native = Object.entries(lock.packages)
    .filter(([p, meta]) => p.startsWith('node_modules/') && meta.dev !== true)
    .map(([p]) => p)
    .filter((p) => existsSync(join(root, p, 'binding.gyp')));
  expect(native).toContain('node_modules/@2060.io/ffi-napi');
  const pkgs = aptPackages(commandsOf(0));
  for (const tool of ['python3', 'make', 'g++']) expect(pkgs).toContain(tool);
});

test('runs as a non-root user that the run stage creates, with the installed launcher as the entry point', () => {
  const users = instructions.filter((i) => i.stage === last && i.keyword === 'USER');
  expect(users).toHaveLength(1);
  expect(users[0].args).not.toMatch(/^(root|0)(:|$)/);
  // A named user must exist in the image, or `docker run` fails ("unable to find user").
  const name = users[0].args.split(':')[0];
  if (!/^\d+$/.test(name)) {
    expect(commandsOf(last).some((c) => new RegExp(`^useradd .*\\s${name}$`).test(c))).toBe(true);
  }
  const entry = instructions.filter((i) => i.stage === last && i.keyword === 'ENTRYPOINT');
  expect(entry).toHaveLength(1);
  expect(JSON.parse(entry[0].args)).toEqual(['/usr/local/bin/qemu-sandboxed']);
});

test('.dockerignore keeps local dependencies, build output and caches out of the build', () => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const p of ['node_modules', 'dist', '.cache', '.git']) expect(ignored).toContain(p);
});

describe('the entry point after scripts/install into a temporary prefix', () => {
  let prefix = '';
  beforeAll(() => {
    if (!existsSync(join(root, 'dist', 'launcher', 'main.js'))) {
      throw new Error(
        'dist/launcher/main.js is missing: npm run build first (the image build runs it too)',
      );
    }
    prefix = mkdtempSync(join(tmpdir(), 'qs-container-'));
    // The same command as the Dockerfile's, with the prefix swapped.
    const r = execa.sync('sh', [join(root, 'scripts', 'install'), '--prefix', prefix], {
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`scripts/install --prefix ${prefix} failed: ${r.stderr}`);
  }, 120_000);
  afterAll(() => {
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  test('exists and runs real QEMU from a plain shell, with the image CMD and with -sandbox', () => {
    const entry = JSON.parse(
      instructions.find((i) => i.stage === last && i.keyword === 'ENTRYPOINT')?.args ?? '[]',
    ) as string[];
    const cmd = JSON.parse(
      instructions.find((i) => i.stage === last && i.keyword === 'CMD')?.args ?? '[]',
    ) as string[];
    const installed = entry[0].replace(/^\/usr\/local\//, `${prefix}/`);
    expect(existsSync(installed)).toBe(true);
    // A plain sh with a container-like environment: PATH only, no NODE_OPTIONS, no repo cwd.
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
    for (const args of [cmd, ['-sandbox', 'on', '-version']]) {
      const r = execa.sync('sh', ['-c', '"$0" "$@"', installed, ...args], {
        env,
        extendEnv: false,
        cwd: tmpdir(),
        reject: false,
      });
      expect(`${args.join(' ')}: ${r.stdout}\n${r.stderr}`).toMatch(/QEMU emulator version \d/);
      expect(r.exitCode).toBe(0);
      // Not a terminal: the launch record is JSON on stderr, and it names real QEMU.
      const rec = r.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map(
          (l) => JSON.parse(l) as { msg?: string; binary?: string; filterLength?: number | null },
        );
      expect(rec.find((x) => x.msg === 'launch')?.binary).toMatch(/qemu-system-x86_64$/);
      expect(rec.find((x) => x.msg === 'launch')?.filterLength).toBeGreaterThan(0);
    }
  });

  test('works as a non-root user, as the image runs it (no CAP_SYS_ADMIN: no-new-privileges is set)', () => {
    if (process.geteuid?.() !== 0)
      throw new Error('this check switches to an unprivileged user and needs root');
    chmodSync(prefix, 0o755); // mkdtemp made it 0700
    const installed = join(prefix, 'bin', 'qemu-sandboxed');
    const r = execa.sync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--',
        'sh',
        '-c',
        '"$0" "$@"',
        installed,
        '-sandbox',
        'on',
        '-version',
      ],
      {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/' },
        extendEnv: false,
        cwd: '/',
        reject: false,
      },
    );
    expect(`${r.stdout}\n${r.stderr}`).toMatch(/QEMU emulator version \d/);
    expect(r.exitCode).toBe(0);
    const launch = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg?: string; noNewPrivs?: boolean })
      .find((x) => x.msg === 'launch');
    expect(launch?.noNewPrivs).toBe(true);
  });
});
