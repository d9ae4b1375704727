/**
 * The rollout with a real QEMU: the guest boots under a site default that is
 * the dry run of every group, `qemu-sandbox audit --suggest` reads the kernel
 * log and the launch record, and the guest then boots under the suggested
 * policy as its `vms` entry, carrying exactly that filter (read back from the
 * kernel).
 *
 * QEMU 7.2 under TCG makes no call any opt-in group refuses: its clone3 and
 * io_uring_setup are answered ENOSYS under enforcement and it falls back, so
 * the suggestion is the strictest policy. The kernel log may drop records
 * (printk rate limit): that can only make a suggestion stricter, and the
 * second boot is what proves the suggestion runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SuggestJson } from '../../src/cli/commands/audit';
import type { CliContext } from '../../src/cli/context';
import { runCli } from '../../src/cli/main';
import { bootOnce, expectedFilterHashes, requireLauncher } from '../helpers/guest';
import { tempDir } from '../helpers/tmp';

jest.setTimeout(600_000);

const VM = 'e2e-fleet';
const EVERY_GROUP_DRY =
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny,action=log';
const STRICTEST =
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny,network=deny,action=kill';

async function suggest(args: string[]): Promise<SuggestJson> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const ctx: CliContext = {
    stdout: { write: (c) => void out.push(Buffer.from(c)), isTTY: false },
    stderr: { write: (c) => void err.push(Buffer.from(c)), isTTY: false },
    readStdin: () => Promise.resolve(Buffer.alloc(0)),
    env: { PATH: process.env.PATH, QEMU_SANDBOXED_CONFIG: '' },
    now: () => Date.now(),
  };
  const code = await runCli(['audit', '--json', '--suggest', ...args], ctx);
  if (code !== 0)
    throw new Error(`audit --suggest: exit ${code}: ${Buffer.concat(err).toString()}`);
  return JSON.parse(Buffer.concat(out).toString()) as SuggestJson;
}

test('dry run of every group, --suggest, then the guest boots under the suggestion', async () => {
  requireLauncher();
  const dir = tempDir('qs-e2e-fleet-');
  const log = join(dir, 'launch.log');
  const dryConfig = join(dir, 'dry.json');
  writeFileSync(dryConfig, JSON.stringify({ sandbox: EVERY_GROUP_DRY }));
  const since = new Date(Date.now() - 1000).toISOString();
  const dry = await bootOnce({
    via: 'launcher',
    checks: ['cpu'],
    extraArgs: ['-name', `guest=${VM}`],
    env: { ...process.env, QEMU_SANDBOXED_CONFIG: dryConfig, QEMU_SANDBOXED_LOG: log },
  });
  const why = dry.vm.context();
  expect({ exit: dry.vm.describeExit(), why }).toEqual({ exit: 'exit 0', why });
  expect(dry.vm.lines).toContain('QS-CHECKS-DONE failed=0');
  expect(dry.filterHashes).toEqual(expectedFilterHashes(EVERY_GROUP_DRY));
  const record = JSON.parse(readFileSync(log, 'utf8').trim().split('\n')[0]) as Record<
    string,
    unknown
  >;
  expect(record).toMatchObject({ vm: VM, dryRun: true, execGate: false });

  // Let kauditd print what it has queued.
  await new Promise((r) => setTimeout(r, 1000));
  const s = await suggest(['--since', since, '--launches', log]);
  const vm = s.vms.find((v) => v.vm === VM);
  expect(vm).toMatchObject({ launches: 1, dryRunLaunches: 1, named: true, alwaysDenied: [] });
  expect(vm?.policy).toBe(STRICTEST);

  const enforceConfig = join(dir, 'enforce.json');
  writeFileSync(enforceConfig, JSON.stringify({ vms: { [VM]: vm?.policy } }));
  const enforced = await bootOnce({
    via: 'launcher',
    checks: ['cpu'],
    extraArgs: ['-name', `guest=${VM}`],
    env: { ...process.env, QEMU_SANDBOXED_CONFIG: enforceConfig, QEMU_SANDBOXED_LOG: log },
  });
  const why2 = enforced.vm.context();
  expect({ exit: enforced.vm.describeExit(), why: why2 }).toEqual({ exit: 'exit 0', why: why2 });
  expect(enforced.vm.lines).toContain('QS-CHECKS-DONE failed=0');
  // Exactly the suggested program, not merely "a filter".
  expect(enforced.filterHashes).toEqual(expectedFilterHashes(STRICTEST));
});
