/**
 * src/native for real: every call goes to the kernel. Whatever changes process
 * state (no-new-privs, filters, signal dispositions, exec) runs in a child
 * `node` process that requires the BUILT module (dist/): the gate worker is a
 * separate script, so the compiled JavaScript is what runs in production too.
 * The hand-made filters here are deliberately tiny (x86_64 only): this tests
 * the FFI layer, not the compiler.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const DIST = join(REPO, 'dist', 'src', 'native');

jest.setTimeout(60_000);

/** Fails (never skips) when the build is missing or older than the sources. */
function requireBuild(): void {
  const built = join(DIST, 'index.js');
  if (!existsSync(built)) throw new Error(`${built} is missing: run npm run build first`);
  const src = join(REPO, 'src', 'native');
  for (const f of readdirSync(src)) {
    if (!f.endsWith('.ts')) continue;
    const js = join(DIST, f.replace(/\.ts$/, '.js'));
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(join(src, f)).mtimeMs) {
      throw new Error(`${js} is older than src/native/${f}: run npm run build first`);
    }
  }
}

/** A tiny C program printing its parent-death signal (nothing else shows it). */
const PDEATH_C = `#include <stdio.h>
#include <sys/prctl.h>
int main(void) { int s = -1; prctl(PR_GET_PDEATHSIG, &s); printf("%d\\n", s); return 0; }
`;

function buildPdeath(): string {
  const dir = join(REPO, '.cache', 'c');
  const out = join(
    dir,
    `native-pdeath-${createHash('sha256').update(PDEATH_C).digest('hex').slice(0, 16)}`,
  );
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${out}.${process.pid}.c`, PDEATH_C);
  const r = spawnSync('gcc', ['-O2', '-o', `${out}.${process.pid}`, `${out}.${process.pid}.c`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`gcc failed (is gcc installed? npm run setup): ${r.stderr}`);
  renameSync(`${out}.${process.pid}`, out);
  return out;
}

interface ChildResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `body` in a fresh node. In scope: n (src/native), G (src/native/gate), N (notify),
 * fs, prog(...insns) to encode a filter, out(obj) to print a JSON line.
 */
function child(body: string): ChildResult {
  const prelude = `
    const n = require(${JSON.stringify(join(DIST, 'index.js'))});
    const G = require(${JSON.stringify(join(DIST, 'gate.js'))});
    const N = require(${JSON.stringify(join(DIST, 'notify.js'))});
    const fs = require('fs');
    const out = (o) => fs.writeSync(1, JSON.stringify(o, (k, v) => typeof v === 'bigint' ? v.toString() : v) + '\\n');
    const insn = (code, jt, jf, k) => { const b = Buffer.alloc(8); b.writeUInt16LE(code, 0); b[2] = jt; b[3] = jf; b.writeUInt32LE(k >>> 0, 4); return b; };
    const prog = (...i) => Buffer.concat(i);
  `;
  const r = spawnSync(process.execPath, ['-e', prelude + body], {
    encoding: 'utf8',
    timeout: 30_000,
    // One threadpool thread, as the launcher sets it (the gate reads errno from it).
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function lines(r: ChildResult): Record<string, unknown>[] {
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{') || l.startsWith('['))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The hand-made filters below are x86_64 programs: elsewhere these tests fail, saying so. */
function describeX86(name: string, body: () => void): void {
  describe(name, () => {
    beforeAll(() => {
      if (process.arch !== 'x64') {
        throw new Error(`these tests load hand-made x86_64 filters; this host is ${process.arch}`);
      }
    });
    body();
  });
}

// x86_64 filter pieces: AUDIT_ARCH_X86_64, execve 59, execveat 322.
const FILTERS = `
  const LD_ARCH = insn(0x20, 0, 0, 4), LD_NR = insn(0x20, 0, 0, 0);
  const ALLOW = insn(0x06, 0, 0, 0x7fff0000), NOTIF = insn(0x06, 0, 0, 0x7fc00000), KILL = insn(0x06, 0, 0, 0x80000000);
  // arch check, then execve/execveat -> USER_NOTIF, everything else allowed
  const execNotify = prog(LD_ARCH, insn(0x15, 0, 5, 0xc000003e), LD_NR, insn(0x15, 2, 0, 59), insn(0x15, 1, 0, 322), ALLOW, NOTIF, KILL);
  const allowAll = prog(ALLOW);
`;

beforeAll(requireBuild);

describe('no-new-privileges (prctl)', () => {
  test('set in a child: PR_GET and /proc agree', () => {
    const r = child(`
      const before = n.getNoNewPrivs();
      n.setNoNewPrivs();
      out({ before, after: n.getNoNewPrivs(), proc: /NoNewPrivs:\\s*(\\d)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1] });
    `);
    expect(r.stderr).toBe('');
    expect(lines(r)).toEqual([{ before: false, after: true, proc: '1' }]);
  });
});

describe('file descriptors (fcntl)', () => {
  test('FD_CLOEXEC and O_NONBLOCK round trips match /proc/self/fdinfo', () => {
    const r = child(`
      const fd = fs.openSync('/dev/null', 'r');
      const info = () => parseInt(/flags:\\s*([0-7]+)/.exec(fs.readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))[1], 8);
      const s = [];
      s.push({ fd: n.getFdFlags(fd), info: info() & 0o2000000 });   // libuv opens with O_CLOEXEC
      n.setFdFlags(fd, 0);
      s.push({ fd: n.getFdFlags(fd), info: info() & 0o2000000 });
      n.setFdFlags(fd, n.FD_CLOEXEC);
      s.push({ fd: n.getFdFlags(fd), info: info() & 0o2000000 });
      n.setStatusFlags(fd, n.getStatusFlags(fd) | 0o4000);
      s.push({ nonblock: n.getStatusFlags(fd) & 0o4000, info: info() & 0o4000 });
      n.setStatusFlags(fd, n.getStatusFlags(fd) & ~0o4000);
      s.push({ nonblock: n.getStatusFlags(fd) & 0o4000, info: info() & 0o4000 });
      let err; try { n.getFdFlags(987654); } catch (e) { err = { name: e.name, errno: e.errno, code: e.code }; }
      s.push(err);
      out(s);
    `);
    expect(r.stderr).toBe('');
    expect(lines(r)[0]).toEqual([
      { fd: 1, info: 0o2000000 },
      { fd: 0, info: 0 },
      { fd: 1, info: 0o2000000 },
      { nonblock: 0o4000, info: 0o4000 },
      { nonblock: 0, info: 0 },
      { name: 'NativeError', errno: 9, code: 'EBADF' },
    ]);
  });

  test('close() closes; closing again is EBADF', () => {
    const r = child(`
      const fd = fs.openSync('/dev/null', 'r');
      n.close(fd);
      let e2; try { n.close(fd); } catch (e) { e2 = e.errno; }
      out({ gone: !fs.existsSync('/proc/self/fd/' + fd), again: e2 });
    `);
    expect(lines(r)).toEqual([{ gone: true, again: 9 }]);
  });
});

describe('rlimits', () => {
  test('RLIMIT_NOFILE soft limit round trip', () => {
    const r = child(`
      const l = n.getRlimit(n.RLIMIT_NOFILE);
      n.setRlimit(n.RLIMIT_NOFILE, { soft: 777n, hard: l.hard });
      const m = /Max open files\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
      out({ soft: n.getRlimit(n.RLIMIT_NOFILE).soft, proc: m[1], hardKept: n.getRlimit(n.RLIMIT_NOFILE).hard === l.hard });
    `);
    expect(r.stderr).toBe('');
    expect(lines(r)).toEqual([{ soft: '777', proc: '777', hardKept: true }]);
  });
});

describe('signals (raw rt_sigaction / rt_sigprocmask)', () => {
  test('dispositions and the mask, including glibc-reserved signals 32 and 33', () => {
    const r = child(`
      const st = () => { const s = fs.readFileSync('/proc/self/status', 'utf8'); return { blk: /SigBlk:\\s*(\\w+)/.exec(s)[1], ign: /SigIgn:\\s*(\\w+)/.exec(s)[1] }; };
      const before = st();
      // Node ignores SIGPIPE (13) and SIGXFSZ (25) at start-up.
      n.setSignalDisposition(13, 'default'); n.setSignalDisposition(25, 'default');
      n.setSignalDisposition(1, 'ignore'); n.setSignalDisposition(32, 'ignore'); n.setSignalDisposition(33, 'ignore');
      const mask = (1n << 11n) | (1n << 31n) | (1n << 32n) | (1n << 63n); // USR2, 32, 33, 64
      n.setSignalMask(mask);
      out({ before, after: st(), mask: n.getSignalMask() === mask });
    `);
    expect(r.stderr).toBe('');
    const [res] = lines(r) as [
      { before: { ign: string }; after: { blk: string; ign: string }; mask: boolean },
    ];
    expect(BigInt(`0x${res.before.ign}`) & 0x1001000n).toBe(0x1001000n);
    expect(res.after.ign).toBe('0000000180000001'); // 1, 32, 33: SIGPIPE and SIGXFSZ back to default
    expect(res.after.blk).toBe('8000000180000800');
    expect(res.mask).toBe(true);
  });
});

describe('capabilities', () => {
  test('hasCapability reads CapEff', async () => {
    const { hasCapability } = await import('../../src/native');
    expect(hasCapability(21, 'CapEff:\t0000000000200000\n')).toBe(true);
    expect(hasCapability(21, 'CapEff:\t00000000001fffff\n')).toBe(false);
    expect(hasCapability(0, 'nothing')).toBe(false);
  });
});

describeX86('seccomp filters and the exec gate', () => {
  test('a filter loads; without NEW_LISTENER it returns 0', () => {
    const r = child(`${FILTERS}
      n.setNoNewPrivs();
      const ret = n.seccompSetModeFilter(allowAll, 0);
      out({ ret, seccomp: /Seccomp:\\s*(\\d)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1] });
    `);
    expect(r.stderr).toBe('');
    expect(lines(r)).toEqual([{ ret: 0, seccomp: '2' }]);
  });

  test('a malformed program is refused with EINVAL (no filter installed)', () => {
    const r = child(`${FILTERS}
      n.setNoNewPrivs();
      let err; try { n.seccompSetModeFilter(prog(insn(0xffff, 0, 0, 0)), 0); } catch (e) { err = e.code; }
      out({ err, seccomp: /Seccomp:\\s*(\\d)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1] });
    `);
    expect(lines(r)).toEqual([{ err: 'EINVAL', seccomp: '0' }]);
  });

  test('NEW_LISTENER returns a close-on-exec seccomp notify fd', () => {
    const r = child(`${FILTERS}
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, n.SECCOMP_FILTER_FLAG_NEW_LISTENER);
      out({ fd: fd > 2, link: fs.readlinkSync('/proc/self/fd/' + fd), cloexec: n.getFdFlags(fd) & n.FD_CLOEXEC });
    `);
    expect(r.stderr).toBe('');
    expect(lines(r)).toEqual([{ fd: true, link: 'anon_inode:seccomp notify', cloexec: 1 }]);
  });

  test('a second listener in the same filter chain is refused with EBUSY (one per chain)', () => {
    // Why the launcher names EBUSY: under a container runtime that already
    // listens, spawn=deny cannot get its own listener.
    const r = child(`${FILTERS}
      n.setNoNewPrivs();
      n.seccompSetModeFilter(execNotify, n.SECCOMP_FILTER_FLAG_NEW_LISTENER);
      let err; try { n.seccompSetModeFilter(execNotify, n.SECCOMP_FILTER_FLAG_NEW_LISTENER); } catch (e) { err = e.code; }
      out({ err });
      n.exitImmediately(0);
    `);
    expect(lines(r)).toEqual([{ err: 'EBUSY' }]);
  });

  // The gate (src/native/gate.ts): the execve runs on a threadpool thread, the
  // main thread answers. TSYNC puts the filter on every thread.
  const GATE = `
    const TSYNC_LISTENER = n.SECCOMP_FILTER_FLAG_NEW_LISTENER | n.SECCOMP_FILTER_FLAG_TSYNC | n.SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    const mask = () => BigInt('0x' + /SigBlk:\\s*(\\w+)/.exec(fs.readFileSync('/proc/self/task/' + process.pid + '/status', 'utf8'))[1]);
  `;

  test('our execve, on a threadpool thread, gets CONTINUE: same PID, later execs fail with ENOSYS, nothing killed', () => {
    // The shell prints its PID, then tries to exec /bin/true: the listener died
    // with the Node image, so that execve fails (ENOSYS) and sh exits 126.
    const r = child(`${FILTERS}${GATE}
      for (const f of [0, 1, 2]) n.setFdFlags(f, 0); // Node marked stdio close-on-exec
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const ex = n.prepareExec('/bin/sh', ['/bin/sh', '-c', 'echo "{\\\\"pid\\\\":$$}"; exec /bin/true'], ['PATH=/usr/bin:/bin']);
      out({ node: process.pid });
      const o = G.execThroughGate(ex, fd, { nr: 59, arch: 0xc000003e, blockedSignals: mask() }, 10000, (errno) => { out({ failed: errno }); process.exit(5); });
      if (o.kind !== 'answered') { out(o); process.exit(4); }
    `);
    const ls = lines(r);
    expect(ls).toHaveLength(2);
    expect(ls[1].pid).toBe(ls[0].node);
    expect(r.status).toBe(126); // sh: exec /bin/true failed, not killed
    expect(r.signal).toBeNull();
    expect(r.stderr).toMatch(/Function not implemented/);
  });

  test('by descriptor (execveat AT_EMPTY_PATH): the file opened runs, even after its path was replaced', () => {
    // The launcher opens QEMU's binary, preflight reads that descriptor, and
    // the gate lets exactly that execveat through: renaming another program
    // over the path in between changes nothing.
    const r = child(`${FILTERS}${GATE}
      const dir = fs.mkdtempSync('/tmp/qs-fdexec-');
      const target = dir + '/prog';
      fs.copyFileSync('/bin/echo', target); fs.chmodSync(target, 0o755);
      const fd = fs.openSync(target, 'r');
      fs.copyFileSync('/bin/false', dir + '/other'); fs.chmodSync(dir + '/other', 0o755);
      fs.renameSync(dir + '/other', target);
      for (const f of [0, 1, 2]) n.setFdFlags(f, 0);
      n.setNoNewPrivs();
      const listener = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const ex = n.prepareExec(target, ['echo', 'the-opened-file-ran'], [], fd);
      out({ syscall: ex.syscall, fd: ex.fd === fd, dir });
      const o = G.execThroughGate(ex, listener, { nr: 322, arch: 0xc000003e, blockedSignals: mask() }, 10000, (errno) => { out({ failed: errno }); process.exit(5); });
      if (o.kind !== 'answered') { out(o); process.exit(4); }
    `);
    const [first] = lines(r);
    if (typeof first?.dir === 'string') rmSync(first.dir, { recursive: true, force: true });
    expect(first).toEqual({
      syscall: 'execveat',
      fd: true,
      dir: expect.stringMatching(/qs-fdexec-/),
    });
    expect(r.stdout.trim().split('\n').pop()).toBe('the-opened-file-ran');
    expect([r.status, r.signal]).toEqual([0, null]);
  });

  test("TSYNC puts the filter and no-new-privs on every thread (V8's, libuv's), not only the caller", () => {
    // no-new-privs is set on the main thread only: TSYNC copies it with the filter.
    const r = child(`${FILTERS}${GATE}
      const tasks = () => fs.readdirSync('/proc/self/task').map((t) => {
        const st = fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8');
        return [/^Seccomp:\\s*(\\d)/m.exec(st)[1], /^NoNewPrivs:\\s*(\\d)/m.exec(st)[1]].join('/');
      });
      const wait = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      wait(); // V8's platform threads are up by now
      const before = tasks();
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(allowAll, 0);
      const callerOnly = tasks();
      const listener = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      out({ before, callerOnly, synced: tasks(), listener: listener > 2 });
      n.exitImmediately(0);
    `);
    expect(r.stderr).toBe('');
    const [res] = lines(r) as [
      { before: string[]; callerOnly: string[]; synced: string[]; listener: boolean },
    ];
    expect(res.before.length).toBeGreaterThan(1); // Node has threads of its own
    expect(new Set(res.before)).toEqual(new Set(['0/0']));
    // Control: without TSYNC only the calling thread is filtered.
    expect(res.callerOnly[0]).toBe('2/1');
    expect(res.callerOnly.slice(1)).toContain('0/0');
    expect(new Set(res.synced)).toEqual(new Set(['2/1']));
    expect(res.listener).toBe(true);
  });

  test('another process making our very execve (same path pointer, same memory) is refused', () => {
    // posix_spawn clones a child that shares our memory (CLONE_VM|CLONE_VFORK)
    // and execve's the path pointer it was given: ours. Same syscall, ABI and
    // args[0], but the notifying tid is not a thread of this process: the gate
    // must refuse it. Nothing of ours execs here (runAsync does nothing), so
    // the gate times out and the child's errno is observable.
    const r = child(`${FILTERS}${GATE}
      const ffi = require('@2060.io/ffi-napi');
      const ref = require('@2060.io/ref-napi');
      const lib = ffi.Library(null, { posix_spawn: ['int', ['ulong', 'ulong', 'ulong', 'ulong', 'ulong', 'ulong']] });
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const ex = n.prepareExec('/bin/true', ['/bin/true'], []);
      const argv = Buffer.alloc(16); argv.writeBigUInt64LE(ex.pathAddress, 0);
      const envp = Buffer.alloc(8);
      const spawned = new Promise((res) => lib.posix_spawn.async(0, Number(ex.pathAddress), 0, 0, ref.address(argv), ref.address(envp), (err, ret) => res(ret)));
      const notOurExec = { pathAddress: ex.pathAddress, run: () => 0, runAsync: () => undefined };
      const o = G.execThroughGate(notOurExec, fd, { nr: 59, arch: 0xc000003e, blockedSignals: mask() }, 1500, () => undefined);
      spawned.then((ret) => { out({ kind: o.kind, refusedOthers: o.refusedOthers, posixSpawn: ret, keep: argv.length + envp.length }); process.exit(0); });
    `);
    expect(r.stderr).toBe('');
    // posix_spawn returns the child's execve errno: EPERM, the gate's refusal.
    expect(lines(r)).toEqual([{ kind: 'timeout', refusedOthers: 1, posixSpawn: 1, keep: 24 }]);
  });

  test("the exec thread inherits the caller's mask from the main thread, and the gate checks it", () => {
    // SIGUSR2 and signal 34 blocked on the main thread before the threadpool
    // starts: the new exec'ing thread has the same mask, so QEMU gets it.
    const r = child(`${FILTERS}${GATE}
      for (const f of [0, 1, 2]) n.setFdFlags(f, 0);
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const want = (1n << 11n) | (1n << 33n);
      n.setSignalMask(want);
      const ex = n.prepareExec('/bin/grep', ['/bin/grep', 'SigBlk', '/proc/self/status'], []);
      const o = G.execThroughGate(ex, fd, { nr: 59, arch: 0xc000003e, blockedSignals: want }, 10000, () => process.exit(5));
      if (o.kind !== 'answered') { out(o); process.exit(4); }
    `);
    expect(r.stdout).toBe('SigBlk:\t0000000200000800\n');
    expect(r.status).toBe(0);
  });

  test("the exec thread gets the caller's parent-death signal (a new thread has none)", () => {
    const pdeath = buildPdeath();
    const r = child(`${FILTERS}${GATE}
      for (const f of [0, 1, 2]) n.setFdFlags(f, 0);
      n.setParentDeathSignal(15);
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const ex = n.prepareExec(${JSON.stringify(pdeath)}, [${JSON.stringify(pdeath)}], []);
      const o = G.execThroughGate(ex, fd, { nr: 59, arch: 0xc000003e, blockedSignals: mask(), parentDeathSignal: n.getParentDeathSignal() }, 10000, () => process.exit(5));
      if (o.kind !== 'answered') { out(o); process.exit(4); }
    `);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('15\n');
  });

  test('a different mask on the exec thread: refused (EPERM), with the reason', () => {
    const r = child(`${FILTERS}${GATE}
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const ex = n.prepareExec('/bin/true', ['/bin/true'], []);
      const o = G.execThroughGate(ex, fd, { nr: 59, arch: 0xc000003e, blockedSignals: mask() | 1n }, 10000, (errno) => {
        out({ kind: o.kind, reason: o.reason, errno });
        process.exit(0);
      });
    `);
    expect(r.stderr).toBe('');
    const [res] = lines(r) as [{ kind: string; reason: string; errno: number }];
    expect(res.kind).toBe('refused');
    expect(res.reason).toMatch(/signal mask is \w+, not the caller's \w+/);
    expect(res.errno).toBe(1); // EPERM, read from the threadpool thread
  });

  test('notifications that are not our execve are refused (EPERM); no answer in time: the listener is closed', () => {
    // Another path first, then ours with a wrong arch expectation: both are
    // refused as "not ours", then the gate times out and closes the listener.
    const r = child(`${FILTERS}${GATE}
      n.setNoNewPrivs();
      const fd = n.seccompSetModeFilter(execNotify, TSYNC_LISTENER);
      const other = n.prepareExec('/bin/false', ['/bin/false'], []);
      const errnos = [];
      other.runAsync((e) => errnos.push(e));
      const ours = n.prepareExec('/bin/true', ['/bin/true'], []);
      const o = G.execThroughGate(ours, fd, { nr: 59, arch: 0x40000003, blockedSignals: mask() }, 1500, (e) => {
        errnos.push(e);
        out({ kind: o.kind, refusedOthers: o.refusedOthers, errnos, listenerOpen: fs.existsSync('/proc/self/fd/' + fd) });
        process.exit(0);
      });
    `);
    expect(r.stderr).toBe('');
    expect(lines(r)).toEqual([
      { kind: 'timeout', refusedOthers: 2, errnos: [1, 1], listenerOpen: false },
    ]);
  });

  test('threadSignalMask: a thread of ours, or undefined', () => {
    const r = child(`${GATE}
      out({ main: G.threadSignalMask(process.pid) === mask(), other: G.threadSignalMask(1) });
    `);
    expect(lines(r)).toEqual([{ main: true }]);
  });

  test("notifRecv/notifSend on the main thread: a worker thread's getppid, CONTINUE then an errno", () => {
    // Threads created after the filter inherit it: the worker's getppid (110)
    // goes to USER_NOTIF and this thread answers it.
    const r = child(`${FILTERS}
      const { Worker } = require('worker_threads');
      const ppid = process.ppid; // afterwards this thread's own getppid would wait on itself
      n.setNoNewPrivs();
      const getppidNotify = prog(LD_ARCH, insn(0x15, 0, 2, 0xc000003e), LD_NR, insn(0x15, 1, 0, 110), ALLOW, NOTIF);
      const fd = n.seccompSetModeFilter(getppidNotify, n.SECCOMP_FILTER_FLAG_NEW_LISTENER);
      const w = new Worker(\`
        const f = require(\${JSON.stringify(${JSON.stringify(join(DIST, 'ffi.js'))})}).loadFfi();
        const a = f.libc.syscall(110, 0, 0, 0, 0, 0, 0);
        const b = f.libc.syscall(110, 0, 0, 0, 0, 0, 0); const e = f.errno();
        require('worker_threads').parentPort.postMessage({ a, b, e });
      \`, { eval: true });
      const seen = [];
      for (let i = 0; i < 2; i++) {
        if (!N.pollIn(fd, 20000)) { out({ timeout: i }); process.exit(1); }
        const m = N.notifRecv(fd);
        seen.push({ nr: m.nr, arch: m.arch, task: m.pid !== process.pid && fs.existsSync('/proc/self/task/' + m.pid) });
        N.notifSend(fd, m.id, i === 0 ? 'continue' : { errno: 13 });
      }
      w.on('message', (res) => { out({ seen, res, ppid }); process.exit(0); });
    `);
    expect(r.stderr).toBe('');
    const [res] = lines(r) as [
      { seen: unknown[]; res: { a: number; b: number; e: number }; ppid: number },
    ];
    const notif = { nr: 110, arch: 0xc000003e, task: true };
    expect(res.seen).toEqual([notif, notif]);
    expect(res.res).toEqual({ a: res.ppid, b: -1, e: 13 });
  });
});
