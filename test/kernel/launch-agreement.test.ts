/**
 * `qemu-sandbox doctor` and the launcher decide a launch with one plan
 * (src/launch/plan.ts). Here both are fed the same cases for real: the
 * launcher runs a stand-in QEMU (/bin/true, or a `#!` script), doctor gets
 * the same command line, environment and site config. Whenever the launcher
 * would start QEMU, doctor finds no problem; whenever the launcher refuses,
 * doctor says "refused" with the launcher's exit code. As root and as uid
 * 65534 (no CAP_SYS_ADMIN: no-new-privileges is always set, so the setuid
 * bridge helper cannot work).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { REPO_ROOT } from '../helpers/cbuild';
import { NOBODY } from '../helpers/hostile';
import { LAUNCHER, requireLauncher } from '../helpers/probe';
import { tempDir } from '../helpers/tmp';

const CLI = join(REPO_ROOT, 'launcher', 'qemu-sandbox');
const dir = tempDir('qs-agreement-');
chmodSync(dir, 0o755);
const SCRIPT = join(dir, 'qemu-wrapper');
writeFileSync(SCRIPT, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const EMPTY_CONFIG = join(dir, 'empty.json');
writeFileSync(EMPTY_CONFIG, '{}\n', { mode: 0o644 });
const STRICT_CONFIG = join(dir, 'strict.json');
writeFileSync(STRICT_CONFIG, '{"sandbox": "on,spawn=deny,elevateprivileges=deny"}\n', {
  mode: 0o644,
});

interface Case {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly config?: string;
  /** The launcher's exit: 0 means the stand-in QEMU ran. */
  readonly exit: number;
  /** Only as this user (default: both). */
  readonly only?: 'root' | 'nobody';
}

const CASES: readonly Case[] = [
  { name: 'on', binary: '/bin/true', args: ['-sandbox', 'on', '-nic', 'none'], exit: 0 },
  {
    name: 'a #! wrapper under spawn=deny (its exec of the real QEMU would be a second exec)',
    binary: SCRIPT,
    args: ['-sandbox', 'on,spawn=deny', '-nic', 'none'],
    exit: 1,
  },
  {
    name: 'the same wrapper when the site config asks for spawn=deny',
    binary: SCRIPT,
    args: ['-nic', 'none'],
    config: STRICT_CONFIG,
    exit: 1,
  },
  { name: 'a #! wrapper under on', binary: SCRIPT, args: ['-sandbox', 'on'], exit: 0 },
  {
    name: 'spawn=deny with an ELF binary',
    binary: '/bin/true',
    args: ['-sandbox', 'on,spawn=deny', '-nic', 'none'],
    exit: 0,
  },
  {
    name: 'a binary that is not there',
    binary: join(dir, 'nope'),
    args: ['-sandbox', 'on'],
    exit: 127,
  },
  {
    name: 'a file that is not executable',
    binary: EMPTY_CONFIG,
    args: ['-sandbox', 'on'],
    exit: 126,
  },
  {
    name: 'the bridge helper as root with elevateprivileges=allow',
    binary: '/bin/true',
    args: ['-sandbox', 'on', '-netdev', 'bridge,id=n'],
    exit: 0,
    only: 'root',
  },
  {
    name: 'the bridge helper without CAP_SYS_ADMIN (no-new-privileges always set)',
    binary: '/bin/true',
    args: ['-sandbox', 'on', '-netdev', 'bridge,id=n'],
    exit: 1,
    only: 'nobody',
  },
  {
    name: 'the bridge helper under elevateprivileges=deny',
    binary: '/bin/true',
    args: ['-sandbox', 'on,elevateprivileges=deny', '-netdev', 'bridge,id=n'],
    exit: 1,
  },
  {
    name: 'a tap QEMU would create under network=deny',
    binary: '/bin/true',
    args: ['-sandbox', 'on,network=deny', '-netdev', 'tap,id=n,ifname=qs0'],
    exit: 1,
  },
  {
    name: 'thread-context with resourcecontrol=deny and action=log (QEMU only kills)',
    binary: '/bin/true',
    args: [
      '-sandbox',
      'on,resourcecontrol=deny,action=log',
      '-object',
      'thread-context,id=tc,cpu-affinity=0',
    ],
    exit: 1,
  },
  {
    name: 'files=deny with nothing named',
    binary: '/bin/true',
    args: ['-sandbox', 'on,files=deny', '-nic', 'none'],
    exit: 0,
  },
  {
    name: 'files=deny with a json: filename that is not an object',
    binary: '/bin/true',
    args: ['-sandbox', 'on,files=deny', '-drive', 'file=json:[1],,2,if=none'],
    exit: 1,
  },
];

const AS_NOBODY = ['/usr/bin/setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

function run(user: 'root' | 'nobody', cmd: string, args: readonly string[], c: Case) {
  const [file, ...pre] = user === 'root' ? [cmd] : [...AS_NOBODY, cmd];
  return execa.sync(file, [...pre, ...args], {
    env: {
      PATH: process.env.PATH,
      QEMU_SANDBOXED_BINARY: c.binary,
      QEMU_SANDBOXED_CONFIG: c.config ?? EMPTY_CONFIG,
      // The delegation probe's cache: one per user, never the host's.
      QEMU_SANDBOXED_CACHE_DIR: join(dir, `cache-${user}`),
    },
    extendEnv: false,
    reject: false,
    cwd: dir,
    timeout: 60_000,
  });
}

interface DoctorPreflight {
  verdict: 'ok' | 'refused' | 'warnings';
  refusal: { message: string; exitCode: number } | null;
  findings: { message: string }[];
}

beforeAll(() => requireLauncher());

describe.each(['root', 'nobody'] as const)('doctor and the launcher agree (%s)', (user) => {
  test.each(CASES.filter((c) => c.only === undefined || c.only === user).map((c) => [c.name, c]))(
    '%s',
    (_name, c) => {
      const launched = run(user, LAUNCHER, c.args, c);
      expect({ exit: launched.exitCode, stderr: launched.stderr }).toEqual({
        exit: c.exit,
        stderr: expect.any(String),
      });
      const d = run(user, CLI, ['doctor', '--json', '--', ...c.args], c);
      const report = JSON.parse(d.stdout) as { preflight: DoctorPreflight; problems: string[] };
      if (c.exit === 0) {
        expect(report.problems).toEqual([]);
        expect(report.preflight.verdict).toBe('ok');
        expect(d.exitCode).toBe(0);
        return;
      }
      expect(d.exitCode).toBe(1);
      expect(report.preflight.verdict).toBe('refused');
      // Beyond preflight's findings (exit 1), the refusal carries the launcher's own code.
      if (report.preflight.findings.length === 0) {
        expect(report.preflight.refusal?.exitCode).toBe(c.exit);
        // ... and its line: the launcher prints "qemu-sandboxed: MESSAGE".
        expect(launched.stderr).toContain(report.preflight.refusal?.message);
      } else {
        expect(c.exit).toBe(1);
        for (const f of report.preflight.findings) expect(launched.stderr).toContain(f.message);
      }
    },
  );
});
