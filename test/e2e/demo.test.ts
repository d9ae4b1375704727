/**
 * `npm run demo` is the README's first command, so CI runs it too: the built
 * demo (npm test's pretest builds dist/) must show every step and exit 0, and
 * a demo that cannot do its job must exit non-zero with the reason.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import execa from 'execa';
import { BOOT_TIMEOUT_MS, guest, repoRoot, requireLauncher } from '../helpers/guest';

jest.setTimeout(BOOT_TIMEOUT_MS + 60_000);

const root = repoRoot();
const demoJs = join(root, 'dist', 'scripts', 'demo.js');

beforeAll(async () => {
  requireLauncher();
  const src = join(root, 'scripts', 'demo.ts');
  if (!existsSync(demoJs) || statSync(demoJs).mtimeMs < statSync(src).mtimeMs) {
    throw new Error(`${demoJs} is missing or older than scripts/demo.ts: run npm run build`);
  }
  await guest(); // build outside the demo's own timing
}, 20 * 60_000);

it('shows the policy, the filter, the boot, a live refusal and a clean quit', async () => {
  const r = await execa('node', [demoJs], { reject: false, timeout: BOOT_TIMEOUT_MS, all: true });
  const out = r.all ?? '';
  expect({ exitCode: r.exitCode, out }).toMatchObject({ exitCode: 0 });
  for (const label of [
    'policy',
    'filter',
    'guest',
    'launcher',
    'qemu',
    'boot',
    'refusal',
    'quit',
  ]) {
    expect(out).toMatch(new RegExp(`^${label} `, 'm'));
  }
  expect(out).toMatch(/QEMU-SANDBOXED-GUEST-OK/);
  expect(out).toMatch(/Seccomp: 2/);
  // The demo read QEMU's filter back from the kernel and found the compiled one.
  const compiled = /^filter .* sha256 ([0-9a-f]{12});/m.exec(out)?.[1];
  expect(compiled).toBeDefined();
  expect(out).toContain(`(PTRACE_SECCOMP_GET_FILTER): sha256 ${compiled}, ours`);
  expect(out).toMatch(/^refusal .*Failed to fork \(Operation not permitted\)$/m);
  expect(out).toMatch(/VM still running/);
  expect(out).toMatch(/^result +OK/m);
  // Short and legible: a screenful, no JSON walls.
  expect(out.trim().split('\n').length).toBeLessThanOrEqual(20);
  expect(out).not.toMatch(/^\s*[{[]/m);
});

it('exits non-zero with the reason when QEMU cannot start', async () => {
  const r = await execa('node', [demoJs], {
    reject: false,
    timeout: 60_000,
    all: true,
    env: { QEMU_SANDBOXED_BINARY: '/nonexistent/qemu-system-x86_64' },
  });
  expect(r.exitCode).not.toBe(0);
  expect(r.all ?? '').toMatch(/^FAILED /m);
  expect(r.all ?? '').toMatch(/nonexistent/);
});
