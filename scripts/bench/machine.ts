/** The machine the benchmark ran on, for the report's header. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** The installed libseccomp's Debian version. */
export function libseccompVersion(): string {
  return sh('dpkg-query', ['-W', '-f=${Version}', 'libseccomp2']) || 'unknown';
}

export function machine(): Record<string, string | number> {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    libseccomp: libseccompVersion(),
    qemu: sh('qemu-system-x86_64', ['-version']).split('\n')[0] || 'not installed',
    specStoreBypass: (() => {
      try {
        return readFileSync(
          '/sys/devices/system/cpu/vulnerabilities/spec_store_bypass',
          'utf8',
        ).trim();
      } catch {
        return 'unknown';
      }
    })(),
  };
}
