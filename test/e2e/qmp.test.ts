/**
 * Under libvirt's full -sandbox string, through launcher/qemu-sandboxed:
 * - QMP over a listening socket that the test opens and passes as an inherited
 *   descriptor (libvirt's -chardev socket,fd=N), which the launcher must keep
 *   at the same number;
 * - `migrate` to exec: while spawn=deny fails cleanly (an error, not a dead
 *   VM: the seed's promise), the guest keeps running and a later quit is clean;
 * - the same migration succeeds with spawn=allow.
 */
import { readlinkSync } from 'node:fs';
import {
  BOOT_TIMEOUT_MS,
  LIBVIRT_SANDBOX,
  Vm,
  expectedFilterHashes,
  guest,
  killAllVms,
  requireLauncher,
} from '../helpers/guest';
import { FORK_REFUSED_BY_SPAWN_DENY, migrate, type QmpClient } from '../helpers/qmp';

jest.setTimeout(BOOT_TIMEOUT_MS + 60_000);

/** libvirt hands QEMU its monitor at an arbitrary number; 3 and 4 stay closed (a gap). */
const QMP_FD = 5;
const MIGRATE_URI = 'exec:cat > /dev/null';
const SPAWN_ALLOW = 'on,obsolete=deny,elevateprivileges=deny,spawn=allow,resourcecontrol=deny';

beforeAll(async () => {
  requireLauncher();
  await guest();
}, 20 * 60_000);
afterAll(() => killAllVms());

async function startStayVm(sandbox: string): Promise<Vm> {
  const vm = await Vm.start({
    via: 'launcher',
    sandbox,
    guest: await guest(),
    mode: 'stay',
    qmpFd: QMP_FD,
  });
  await vm.waitLine(/^QS-READY$/, BOOT_TIMEOUT_MS);
  return vm;
}

describe('full string: QMP over an inherited socket, migrate exec: refused', () => {
  let vm: Vm;
  let qmp: QmpClient;

  beforeAll(async () => {
    vm = await startStayVm(LIBVIRT_SANDBOX);
    process.stdout.write(
      `e2e qmp: booted under the full string in ${Date.now() - vm.startedAt} ms\n`,
    );
  }, BOOT_TIMEOUT_MS + 30_000);
  afterAll(() => vm?.kill());

  it('keeps the listening socket at the same descriptor number, under our filter', () => {
    expect(readlinkSync(`/proc/${vm.pid}/fd/${QMP_FD}`)).toMatch(/^socket:\[\d+\]$/);
    expect(vm.procStatus().get('Seccomp')).toBe('2');
    expect(vm.loadedFilters().map((f) => f.hash)).toEqual(expectedFilterHashes(LIBVIRT_SANDBOX));
  });

  it('qmp_capabilities, query-status, human-monitor-command info status', async () => {
    qmp = await vm.qmp(); // connect() already negotiated qmp_capabilities
    expect(qmp.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
    expect(await qmp.execute('query-status')).toMatchObject({ status: 'running', running: true });
    expect(await qmp.hmp('info status')).toMatch(/VM status: running/);
  });

  it('migrate exec: fails cleanly under spawn=deny and the VM keeps running', async () => {
    const outcome = await migrate(qmp, MIGRATE_URI, 60_000).catch((err: unknown) => {
      throw new Error(`no clean refusal: ${String(err)}${vm.context()}`);
    });
    // Refused (or failed), and by us: EPERM on the fork, nothing else.
    expect(outcome.status).toMatch(/^(refused|failed)$/);
    expect(outcome.reason).toMatch(FORK_REFUSED_BY_SPAWN_DENY);
    expect(vm.exit).toBeUndefined(); // not killed
    expect(await qmp.execute('query-status')).toMatchObject({ status: 'running' });
    await vm.ping(); // the guest's vCPU still runs and answers
    process.stdout.write(`e2e migrate under spawn=deny: ${outcome.status}: ${outcome.reason}\n`);
  });

  it('quit is clean', async () => {
    await qmp.execute('quit');
    const exit = await vm.waitExit(60_000);
    expect(exit).toEqual({ code: 0, signal: null });
  });
});

describe('spawn=allow: the same migration succeeds', () => {
  it('migrate exec: completes', async () => {
    const vm = await startStayVm(SPAWN_ALLOW);
    try {
      // Still under our filter: only the spawn group differs.
      expect(vm.loadedFilters().map((f) => f.hash)).toEqual(expectedFilterHashes(SPAWN_ALLOW));
      const qmp = await vm.qmp();
      const end = await migrate(qmp, MIGRATE_URI, 120_000);
      expect({ end, why: vm.context() }).toMatchObject({ end: { status: 'completed' } });
      // After an outgoing migration QEMU keeps the source paused.
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'postmigrate' });
      await qmp.execute('quit');
      expect(await vm.waitExit(60_000)).toEqual({ code: 0, signal: null });
    } finally {
      vm.kill();
    }
  });
});
