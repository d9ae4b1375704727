/**
 * doctor must reach the launcher's own no-new-privs decision, including a
 * caller that already set it (systemd NoNewPrivileges=yes): the bridge helper
 * is setuid, so under no-new-privs it would fail at run time. Run through the
 * built entry point under setpriv: setting no-new-privs in the jest worker
 * would leak into every later test of that worker.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { REPO_ROOT } from '../helpers/cbuild';
import { tempDir } from '../helpers/tmp';

const CLI = join(REPO_ROOT, 'launcher', 'qemu-sandbox');
// An empty site config: the host's /etc/qemu-sandboxed must not change the verdict.
const CONFIG = join(tempDir('qs-doctor-nnp-'), 'config.json');
writeFileSync(CONFIG, '{}\n');

function doctor(prefix: string[]): execa.ExecaSyncReturnValue {
  if (!existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run npm run build (npm test does)');
  }
  const env = {
    QEMU_SANDBOXED_BINARY: '/bin/true',
    QEMU_SANDBOXED_CONFIG: CONFIG,
    PATH: process.env.PATH,
  };
  return execa.sync(
    prefix[0],
    [...prefix.slice(1), CLI, 'doctor', '--', '-netdev', 'bridge,id=n'],
    {
      env,
      extendEnv: false,
      reject: false,
    },
  );
}

describe('doctor and an inherited no-new-privs', () => {
  test('a caller with no-new-privs: -netdev bridge is refused even by the default policy', () => {
    const r = doctor(['setpriv', '--no-new-privs']);
    expect(r.stdout).toMatch(/'-netdev bridge,id=n' \(no-new-privileges\)/);
    expect(r.exitCode).toBe(1);
  });

  test('control: without it, the same command line is fine for root', () => {
    const r = doctor(['env']);
    expect(r.stdout).toMatch(/verdict +ok/);
    expect(r.exitCode).toBe(0);
  });
});
