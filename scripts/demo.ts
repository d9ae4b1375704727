/**
 * `npm run demo`: boots the test guest through launcher/qemu-sandboxed under
 * libvirt's full -sandbox string and shows, in a few lines, what the sandbox
 * is and that a denied feature fails cleanly instead of killing the VM.
 * (`predemo` runs scripts/setup.sh first: Debian packages, npm deps, build.)
 *
 * Exit 0 only when every step happened: policy compiled, guest booted under
 * the filter, `migrate exec:` refused while the VM kept running, clean quit.
 */
import { realpathSync } from 'node:fs';
import { getAbi, detectHostAbi } from '../src/arch';
import { cacheCoverage, compilePolicy } from '../src/compiler';
import { activeRules, enabledGroups, parsePolicy } from '../src/policy';
import type { ActiveRule } from '../src/policy';
import { ensureGuest } from './lib/guest';
import { FORK_REFUSED_BY_SPAWN_DENY, migrate } from './lib/qmp';
import { GUEST_MARKER, LIBVIRT_SANDBOX, Vm, qemuBinary } from './lib/vm';

const MIGRATE_URI = 'exec:cat > /dev/null';
const BOOT_TIMEOUT_MS = 180_000;

/** Fixed-width label, so the output reads as a column. */
function say(label: string, text: string): void {
  process.stdout.write(`${label.padEnd(9)}${text}\n`);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function actionLabel(r: ActiveRule): string {
  switch (r.action.type) {
    case 'kill-process':
      return 'kill';
    case 'errno':
      return r.action.errnoName;
    case 'notify':
      return 'exec gate';
    default:
      return r.action.type;
  }
}

/** "reboot, mount, kexec_load, +38 more (kill 37, ENOSYS 5)" for one group. */
function describeGroup(rules: readonly ActiveRule[]): string {
  const counts = new Map<string, number>();
  for (const r of rules) counts.set(actionLabel(r), (counts.get(actionLabel(r)) ?? 0) + 1);
  const how = [...counts].map(([a, n]) => `${a} ${n}`).join(', ');
  const names = rules.slice(0, 4).map((r) => r.syscall);
  const more = rules.length > names.length ? `, +${rules.length - names.length} more` : '';
  return `${String(rules.length).padStart(3)} denied (${how}): ${names.join(', ')}${more}`;
}

/** The launcher's log record (JSON when stderr is not a terminal) as one short line. */
function launcherRecord(stderr: string): string {
  for (const line of stderr.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(t) as Record<string, unknown>;
    } catch {
      continue; // not a log record
    }
    // The fields an operator looks for first; anything else stays in the log.
    const parts = [String(rec.msg ?? 'record')];
    const hash = typeof rec.filterHash === 'string' ? rec.filterHash.slice(0, 12) : undefined;
    const fields: [string, unknown][] = [
      ['policy', rec.policy],
      ['filterLength', rec.filterLength],
      ['filterHash', hash],
      ['noNewPrivs', rec.noNewPrivs],
      ['execGate', rec.execGate],
      ['elapsedMs', rec.elapsedMs],
    ];
    for (const [k, v] of fields) {
      if (v !== undefined && v !== null && typeof v !== 'object') parts.push(`${k}=${String(v)}`);
    }
    return parts.join(' ');
  }
  const first = stderr.trim().split('\n')[0] ?? '';
  return first ? first.slice(0, 150) : '(no log record on stderr)';
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const policy = parsePolicy(LIBVIRT_SANDBOX);
  const abiName = detectHostAbi();
  const abi = getAbi(abiName);
  say('policy', `-sandbox ${LIBVIRT_SANDBOX} (libvirt's string)`);
  const rules = activeRules(policy, abi);
  for (const g of enabledGroups(policy)) {
    say('', `${g.padEnd(18)}${describeGroup(rules.filter((r) => r.group === g))}`);
  }
  const filter = compilePolicy(policy, abiName);
  const cov = cacheCoverage(filter);
  const pct = cov.allowedTotal === 0 ? 100 : (100 * cov.cached) / cov.allowedTotal;
  say(
    'filter',
    `${abiName}: ${filter.program.length} BPF instructions, sha256 ${filter.hash.slice(0, 12)}; ` +
      `kernel cache skips BPF for ${cov.cached}/${cov.allowedTotal} allowed syscalls (${pct.toFixed(0)}%)`,
  );
  if (cov.uncachedAllowed.length > 0) {
    throw new Error(`cache coverage is not complete: ${cov.uncachedAllowed.join(',')} run BPF`);
  }

  const guest = await ensureGuest({
    // The first run downloads and unpacks a kernel package: say so before the wait.
    onBuildStart: () => say('guest', 'building (linux-image-amd64 + busybox-static, once)...'),
  });
  say(
    'guest',
    `${guest.kernelPackage} + busybox initramfs, ${guest.built ? `built in ${seconds(guest.buildMs)}` : 'cached'}`,
  );

  const vm = await Vm.start({
    via: 'launcher',
    sandbox: LIBVIRT_SANDBOX,
    guest,
    mode: 'stay',
    qmpFd: 3,
  });
  try {
    const marker = await vm.waitLine(new RegExp(`^${GUEST_MARKER}`), BOOT_TIMEOUT_MS);
    await vm.waitLine(/^QS-READY$/, 30_000);
    const status = vm.procStatus();
    const exe = vm.exe();
    if (exe !== realpathSync(qemuBinary())) {
      throw new Error(`pid ${vm.pid} runs ${exe}, not QEMU: the launcher did not exec in place`);
    }
    if (status.get('Seccomp') !== '2') {
      throw new Error(`QEMU (pid ${vm.pid}) has Seccomp: ${status.get('Seccomp')}, not 2`);
    }
    // Not just "a" filter: the kernel's copy must be the program compiled above.
    const loaded = vm.loadedFilters().map((f) => f.hash.slice(0, 12));
    if (loaded.length !== 1 || loaded[0] !== filter.hash.slice(0, 12)) {
      throw new Error(
        `QEMU's filters in the kernel (sha256 ${loaded.join(', ') || 'none'}) are not ours (${filter.hash.slice(0, 12)})`,
      );
    }
    say('launcher', launcherRecord(vm.stderr));
    say(
      'qemu',
      `pid ${vm.pid} = the launcher's pid, now ${exe}; Seccomp: 2, NoNewPrivs: ${status.get('NoNewPrivs')}`,
    );
    say('', `the kernel's filter on QEMU (PTRACE_SECCOMP_GET_FILTER): sha256 ${loaded[0]}, ours`);
    say('boot', `${marker}  (${seconds(Date.now() - vm.startedAt)}, TCG)`);

    const qmp = await vm.qmp();
    const migration = await migrate(qmp, MIGRATE_URI, 60_000);
    if (!FORK_REFUSED_BY_SPAWN_DENY.test(migration.reason)) {
      throw new Error(
        `migrate ${MIGRATE_URI} under spawn=deny: ${migration.status} (${migration.reason || 'no reason'}), ` +
          `not the EPERM refusal of our filter`,
      );
    }
    const refusal =
      migration.status === 'refused' ? migration.reason : `migration failed: ${migration.reason}`;
    const st = await qmp.execute<{ status: string }>('query-status');
    if (st.status !== 'running') throw new Error(`after the refusal the VM is ${st.status}`);
    const pong = await vm.ping();
    say('refusal', `QMP migrate "${MIGRATE_URI}" -> ${refusal}`);
    say('', `VM still ${st.status}; the guest answered ping #${pong} on its console`);

    await qmp.execute('quit');
    const exit = await vm.waitExit(60_000);
    if (exit.code !== 0 || exit.signal !== null)
      throw new Error(`QMP quit: QEMU ${vm.describeExit()}`);
    say('quit', `QMP quit -> QEMU exited 0`);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // Errors from Vm already carry the console and stderr tail; add it once.
    throw new Error(msg.includes('\n command: ') ? msg : `${msg}${vm.context()}`);
  } finally {
    vm.kill();
  }
  say('result', `OK in ${seconds(Date.now() - t0)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(`FAILED   ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
