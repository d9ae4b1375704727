/**
 * The sh trampoline (launcher/qemu-sandboxed) records the caller's state
 * before Node starts. Here a fake "node" (QEMU_SANDBOXED_NODE) dumps the
 * arguments it receives, and a small C wrapper hands the trampoline an odd
 * state (blocked and ignored signals, descriptors at 3/9/17/200 with a gap, a
 * close-on-exec fd, a lowered RLIMIT_NOFILE, a non-UTF-8 environment entry and
 * argument, an environment too big for one argument). parseTrampolineArgs must
 * give back exactly that state.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FDINFO_O_CLOEXEC, parseTrampolineArgs, splitCmdline } from '../../../launcher/state';
import { tempDir } from '../../helpers/tmp';

const REPO = join(__dirname, '..', '..', '..');
const TRAMPOLINE = join(REPO, 'launcher', 'qemu-sandboxed');

const WRAP_C = String.raw`
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
extern char **environ;
/* wrap CMD ARGS...: set up an odd inherited state, then exec CMD with ARGS plus one non-UTF-8 argument. */
int main(int argc, char **argv) {
  sigset_t m; sigemptyset(&m); sigaddset(&m, SIGUSR2); sigaddset(&m, 34);
  sigprocmask(SIG_SETMASK, &m, NULL);
  signal(SIGHUP, SIG_IGN); signal(SIGUSR1, SIG_IGN);
  struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl); rl.rlim_cur = 1000; setrlimit(RLIMIT_NOFILE, &rl);
  /* Nothing inherited from the test runner beyond stdio. */
  for (int fd = 3; fd < 1024; fd++) close(fd);
  int p[2]; pipe(p);
  int sv[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  int n = open("/dev/null", O_WRONLY | O_APPEND);
  int c = open("/dev/null", O_RDONLY | O_CLOEXEC);
  /* Park them high, then place them: a pipe() result may already sit on a target. */
  int hp0 = fcntl(p[0], F_DUPFD, 500), hp1 = fcntl(p[1], F_DUPFD, 500), hs = fcntl(sv[0], F_DUPFD, 500), hn = fcntl(n, F_DUPFD, 500), hc = fcntl(c, F_DUPFD, 500);
  close(p[0]); close(p[1]); close(sv[0]); close(sv[1]); close(n); close(c);
  dup2(hp0, 3); dup2(hp1, 200); dup2(hs, 9); dup2(hn, 17); dup3(hc, 30, O_CLOEXEC);
  close(hp0); close(hp1); close(hs); close(hn); close(hc);
  fcntl(9, F_SETFL, fcntl(9, F_GETFL) | O_NONBLOCK);
  int ne = 0; while (environ[ne]) ne++;
  char **env = calloc(ne + 2, sizeof *env);
  memcpy(env, environ, ne * sizeof *env);
  env[ne] = "RAW=\xff\x01\xfe";
  char **args = calloc(argc + 1, sizeof *args);
  for (int i = 1; i < argc; i++) args[i - 1] = argv[i];
  args[argc - 1] = "\xff" "arg";
  execve(argv[1], args, env);
  return 127;
}
`;

function buildWrap(): string {
  const dir = join(REPO, '.cache', 'c');
  const out = join(
    dir,
    `launcher-wrap-${createHash('sha256').update(WRAP_C).digest('hex').slice(0, 16)}`,
  );
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const src = `${out}.${process.pid}.c`;
  writeFileSync(src, WRAP_C);
  const r = spawnSync('gcc', ['-O2', '-Wall', '-o', `${out}.${process.pid}`, src], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`gcc failed (is gcc installed? npm run setup): ${r.stderr}`);
  renameSync(`${out}.${process.pid}`, out);
  return out;
}

let scratch: string;
let fakeNode: string;
let wrap: string;

beforeAll(() => {
  wrap = buildWrap();
  scratch = tempDir('qs-trampoline-');
  fakeNode = join(scratch, 'node');
  // Answers --version as Node.js does (the trampoline asks first), then records its
  // arguments NUL-separated, like /proc/self/cmdline (without argv[0]).
  writeFileSync(
    fakeNode,
    `#!/bin/sh\n[ "$1" = --version ] && { echo v20.0.0; exit 0; }\nfor a; do printf '%s\\0' "$a"; done > "$FAKE_OUT"\n`,
  );
  chmodSync(fakeNode, 0o755);
});

interface Run {
  readonly raw: Buffer[];
  readonly env: Record<string, string>;
}

function runTrampoline(args: string[], extraEnv: Record<string, string> = {}): Run {
  const out = join(scratch, `out-${Math.random().toString(36).slice(2)}`);
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    QEMU_SANDBOXED_NODE: fakeNode,
    FAKE_OUT: out,
    ...extraEnv,
  };
  const r = spawnSync(wrap, [TRAMPOLINE, ...args], { env, encoding: 'utf8' });
  expect(r.error).toBeUndefined();
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { raw: splitCmdline(readFileSync(out)), env };
}

test('records fds, signals, NOFILE, the exact environment and raw arguments', () => {
  // base64 of > 131000 characters: more than one argument (one variable may not exceed 128 KiB).
  const big = 'x'.repeat(100_000);
  const { raw, env } = runTrampoline(['-sandbox', 'on', 'a b', ''], {
    BIG1: big,
    BIG2: big,
    ZLAST: '1',
  });
  expect(resolve(raw[0].toString())).toBe(join(REPO, 'dist', 'launcher', 'main.js'));
  const state = parseTrampolineArgs(raw.slice(1));

  expect(state.invokedAs).toBe(TRAMPOLINE);
  // 0-2 from spawnSync; 30 is close-on-exec and dash's own script fd too: both absent.
  expect(state.fds.map((f) => f.fd)).toEqual([0, 1, 2, 3, 9, 17, 200]);
  for (const f of state.fds) expect(f.flags & FDINFO_O_CLOEXEC).toBe(0);
  const flags = new Map(state.fds.map((f) => [f.fd, f.flags]));
  expect(flags.get(9)! & 0o4000).toBe(0o4000); // O_NONBLOCK
  expect(flags.get(17)! & 0o2001).toBe(0o2001); // O_WRONLY | O_APPEND
  expect(flags.get(3)! & 0o4000).toBe(0);

  expect(state.signals.blocked).toBe((1n << 11n) | (1n << 33n)); // SIGUSR2, SIGRTMIN (34)
  expect(state.signals.ignored).toBe((1n << 0n) | (1n << 9n)); // SIGHUP, SIGUSR1
  expect(state.nofile.soft).toBe(1000n);

  // Exactly what the wrapper passed, in order: no PWD added by dash, RAW kept byte for byte.
  const expected = [
    ...Object.entries(env).map(([k, v]) => Buffer.from(`${k}=${v}`)),
    Buffer.from([0x52, 0x41, 0x57, 0x3d, 0xff, 0x01, 0xfe]),
  ];
  expect(state.environ).toEqual(expected);
  expect(
    raw.filter((b) => b.length > 1 && b[0] !== 0x2d && b.length >= 131000).length,
  ).toBeGreaterThanOrEqual(2);

  expect(state.args).toEqual([
    Buffer.from('-sandbox'),
    Buffer.from('on'),
    Buffer.from('a b'),
    Buffer.from(''),
    Buffer.from([0xff, 0x61, 0x72, 0x67]),
  ]);
});

test('an empty environment still parses', () => {
  const out = join(scratch, 'out-empty');
  const r = spawnSync(
    '/usr/bin/env',
    ['-i', `QEMU_SANDBOXED_NODE=${fakeNode}`, `FAKE_OUT=${out}`, TRAMPOLINE, '-version'],
    {
      encoding: 'utf8',
    },
  );
  expect(r.status).toBe(0);
  const state = parseTrampolineArgs(splitCmdline(readFileSync(out)).slice(1));
  expect(state.environ.map(String)).toEqual([`QEMU_SANDBOXED_NODE=${fakeNode}`, `FAKE_OUT=${out}`]);
  expect(state.args.map(String)).toEqual(['-version']);
});

test('a missing node is a clear error, exit 1', () => {
  const r = spawnSync(TRAMPOLINE, ['-version'], {
    env: { PATH: '/nonexistent', QEMU_SANDBOXED_NODE: '/nonexistent/node' },
    encoding: 'utf8',
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(
    /^qemu-sandboxed: no Node.js at '\/nonexistent\/node': install Node.js 20 or later, or set QEMU_SANDBOXED_NODE/,
  );
});

describe('QEMU_SANDBOXED_NODE naming something that is not Node.js 20+: one line, exit 1, nothing run', () => {
  // Once exec'd, such a program would exit without the launcher ever running
  // (/bin/false: exit 1 and not a word), so the trampoline asks for its version first.
  const oldNode = (): string => {
    const p = join(scratch, 'node-v18');
    writeFileSync(
      p,
      `#!/bin/sh\n[ "$1" = --version ] && { echo v18.19.0; exit 0; }\ntouch "$FAKE_OUT.ran"\n`,
    );
    chmodSync(p, 0o755);
    return p;
  };
  test.each([
    [
      '/bin/false',
      /\/bin\/false --version' exited 1 with no output: not Node.js|printed 'false .*' for --version \(exit 1\): not Node.js/,
    ],
    [
      '/bin/true',
      /exited 0 with no output: not Node.js|printed 'true .*' for --version \(exit 0\): not Node.js/,
    ],
    ['/bin/sh', /'\/bin\/sh --version' exited 2 with no output: not Node.js/],
    ['OLD', /it is Node.js v18\.19\.0; the launcher needs Node.js 20 or later/],
  ])('%s', (node, why) => {
    const program = node === 'OLD' ? oldNode() : node;
    const out = join(scratch, `out-bad-${Math.random().toString(36).slice(2)}`);
    const r = spawnSync(TRAMPOLINE, ['-version'], {
      env: { PATH: '/usr/bin:/bin', QEMU_SANDBOXED_NODE: program, FAKE_OUT: out },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      `qemu-sandboxed: QEMU_SANDBOXED_NODE=${program} did not start the launcher (`,
    );
    expect(lines[0]).toMatch(why);
    expect(lines[0]).toMatch(/; QEMU was not started$/);
    // Asked for its version only: never run with the launcher's arguments.
    expect(existsSync(`${out}.ran`)).toBe(false);
  });

  test('the first node on PATH is checked the same way, and named as such', () => {
    const dir = join(scratch, 'path-bin');
    mkdirSync(dir, { recursive: true });
    const p = join(dir, 'node');
    writeFileSync(p, '#!/bin/sh\nexit 3\n');
    chmodSync(p, 0o755);
    const r = spawnSync(TRAMPOLINE, ['-version'], {
      env: { PATH: `${dir}:/usr/bin:/bin` },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `qemu-sandboxed: ${p} (the first node on PATH) did not start the launcher ('${p} --version' exited 3 with no output: not Node.js); QEMU was not started\n`,
    );
  });
});

test('invoked through a symlink: the repository is found, and the invoked name is passed on', () => {
  const link = join(scratch, 'qemu-system-aarch64-sandboxed');
  spawnSync('ln', ['-sf', TRAMPOLINE, link]);
  const out = join(scratch, 'out-link');
  const r = spawnSync(link, [], {
    env: { PATH: '/usr/bin:/bin', QEMU_SANDBOXED_NODE: fakeNode, FAKE_OUT: out },
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  const raw = splitCmdline(readFileSync(out));
  expect(resolve(raw[0].toString())).toBe(join(REPO, 'dist', 'launcher', 'main.js'));
  expect(parseTrampolineArgs(raw.slice(1)).invokedAs).toBe(link);
});
