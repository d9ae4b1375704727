/**
 * resourcecontrol=deny with `-object thread-context`, with the real
 * QEMU: a thread context sets its CPU affinity once at creation, which
 * resourcecontrol=deny forbids, so the launcher leaves that group out of its
 * own filter and appends `-sandbox on,obsolete=allow,resourcecontrol=deny`
 * for QEMU to apply after it created its thread contexts
 * (src/launch/delegation.ts). Checked here: libvirt's default string starts,
 * QEMU stacks its filter on ours, and changing the affinity after start-up is
 * refused; with resourcecontrol=allow (the control) the same change works.
 * A QEMU without -sandbox is refused before anything runs.
 */
import { existsSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { QEMU_SANDBOX_ARG } from '../../src/launch/delegation';
import { LAUNCHER, emptyConfig, requireLauncher, scratchDir } from '../helpers/probe';

jest.setTimeout(60000);

const QEMU = '/usr/bin/qemu-system-x86_64';
const LIBVIRT = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';
const TC = ['-object', 'thread-context,id=tc1,cpu-affinity=0'];
const MACHINE = ['-machine', 'none', '-nodefaults', '-nographic', '-S', '-qmp', 'stdio'];

let dir = '';
let env: Record<string, string> = {};

beforeAll(() => {
  requireLauncher();
  if (!existsSync(QEMU)) throw new Error(`${QEMU} is missing: run npm run setup`);
  dir = scratchDir('delegation');
  env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    QEMU_SANDBOXED_BINARY: QEMU,
    QEMU_SANDBOXED_CONFIG: emptyConfig(dir),
    QEMU_SANDBOXED_CACHE_DIR: join(dir, 'cache'),
  };
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Session {
  readonly pid: number;
  /** Sends one QMP command, resolves with its reply (events skipped). */
  command(execute: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** quit, then the launcher's stderr and exit code. */
  quit(): Promise<{ exitCode: number | undefined; stderr: string }>;
}

/** Starts QEMU through the launcher with QMP on stdio and negotiates capabilities. */
async function start(policy: string): Promise<Session> {
  const child = execa(LAUNCHER, ['-sandbox', policy, ...TC, ...MACHINE], {
    env,
    extendEnv: false,
    reject: false,
    timeout: 30000,
    killSignal: 'SIGKILL',
  });
  let buffer = '';
  const waiting: ((line: Record<string, unknown>) => void)[] = [];
  const replies: Record<string, unknown>[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString('utf8');
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
      buffer = buffer.slice(nl + 1);
      if ('event' in msg) continue;
      const w = waiting.shift();
      if (w) w(msg);
      else replies.push(msg);
    }
  });
  const next = (): Promise<Record<string, unknown>> => {
    const r = replies.shift();
    if (r) return Promise.resolve(r);
    return new Promise((res, rej) => {
      waiting.push(res);
      void child.then((c) => rej(new Error(`QEMU ended: exit ${c.exitCode}\n${c.stderr}`)));
    });
  };
  const greeting = await next();
  if (!('QMP' in greeting)) throw new Error(`no QMP greeting: ${JSON.stringify(greeting)}`);
  const command = (execute: string, args?: Record<string, unknown>) => {
    child.stdin?.write(`${JSON.stringify({ execute, arguments: args })}\n`);
    return next();
  };
  await command('qmp_capabilities');
  return {
    pid: child.pid ?? -1,
    command,
    quit: async () => {
      await command('quit');
      child.stdin?.end();
      const r = await child;
      return { exitCode: r.exitCode, stderr: r.stderr };
    },
  };
}

function status(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .map((l) => l.split(':\t') as [string, string]),
  );
}

const SET_AFFINITY = {
  path: '/objects/tc1',
  property: 'cpu-affinity',
  value: [0],
};

test("libvirt's default string with a thread-context starts; QEMU applies resourcecontrol after start-up", async () => {
  const q = await start(LIBVIRT);
  // Same process: the launcher became QEMU, with our filter and QEMU's own on top.
  expect(readlinkSync(`/proc/${q.pid}/exe`)).toBe(realpathSync(QEMU));
  const s = status(q.pid);
  expect(s.Seccomp).toBe('2');
  expect(Number(s.Seccomp_filters)).toBeGreaterThanOrEqual(2);
  const argv = readFileSync(`/proc/${q.pid}/cmdline`, 'utf8').split('\0');
  expect(argv.slice(-3, -1)).toEqual(['-sandbox', QEMU_SANDBOX_ARG]);
  expect(argv).not.toContain(LIBVIRT);
  // Resource control stays denied after start-up: QEMU's filter answers EPERM.
  const r = await q.command('qom-set', SET_AFFINITY);
  expect(r).toEqual({
    error: { class: 'GenericError', desc: 'Setting CPU affinity failed: Operation not permitted' },
  });
  const end = await q.quit();
  expect(end.exitCode).toBe(0);
  const records = end.stderr.split('\n').filter((l) => l.startsWith('{'));
  expect(records).toHaveLength(1);
  expect(JSON.parse(records[0])).toMatchObject({
    policy: 'on,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    qemuSandbox: QEMU_SANDBOX_ARG,
    execGate: true,
  });
  // The -sandbox support answer was cached for the next launch.
  expect(existsSync(join(dir, 'cache', 'qemu-sandbox-support.json'))).toBe(true);
});

test('control: with resourcecontrol=allow the same affinity change works (and nothing is appended)', async () => {
  const q = await start('on,resourcecontrol=allow');
  expect(Number(status(q.pid).Seccomp_filters)).toBe(1);
  expect(await q.command('qom-set', SET_AFFINITY)).toEqual({ return: {} });
  const argv = readFileSync(`/proc/${q.pid}/cmdline`, 'utf8').split('\0');
  expect(argv).not.toContain('-sandbox');
  expect((await q.quit()).exitCode).toBe(0);
});

test('a QEMU built without -sandbox: refused before anything runs, naming the binary and the fixes', async () => {
  // /bin/false answers `-sandbox ... -version` with exit 1, as such a QEMU does.
  const r = await execa(LAUNCHER, ['-sandbox', LIBVIRT, ...TC, ...MACHINE], {
    env: { ...env, QEMU_SANDBOXED_BINARY: '/bin/false', QEMU_SANDBOXED_CACHE_DIR: join(dir, 'c2') },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  expect(r.exitCode).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(
    /^qemu-sandboxed: preflight refused: '-object thread-context' with resourcecontrol=deny needs QEMU's own -sandbox, and \/bin\/false was built without it .*fix: use a QEMU built with seccomp, drop the thread-context objects, or use resourcecontrol=allow$/,
  );
});
