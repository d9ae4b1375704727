/**
 * The Landlock plan: which kernels get the default domain, with what, and
 * what the launch record says when they do not.
 */
import {
  FS,
  SCOPE_ABSTRACT_UNIX_SOCKET,
  SCOPE_SIGNAL,
  fsRightsOfAbi,
  landlockRecord,
  planLandlock,
} from '../../../src/launch/landlock-plan';

const on = { enable: true };

test('ABI 7: signals and abstract sockets scoped, no path rules, denials logged after exec', () => {
  const p = planLandlock(on, { abi: 7 });
  expect(p).toEqual({
    apply: true,
    abi: 7,
    handledAccessFs: 0n,
    handledAccessNet: 0n,
    scoped: SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL,
    flags: 2,
    rules: [],
  });
  expect(landlockRecord(p)).toBe('scoped signals and abstract sockets (ABI 7)');
});

test('ABI 6 scopes too, without the logging flag it does not know', () => {
  const p = planLandlock(on, { abi: 6 });
  expect(p).toMatchObject({ apply: true, abi: 6, flags: 0 });
});

test('older or missing Landlock: no domain, and the record says why', () => {
  expect(landlockRecord(planLandlock(on, { abi: 3 }))).toBe(
    'none: Landlock ABI 3 cannot scope signals (needs ABI 6, Linux 6.12)',
  );
  expect(landlockRecord(planLandlock(on, { abi: 0, reason: 'not enabled' }))).toBe(
    'none: not enabled',
  );
  expect(planLandlock({ enable: false }, { abi: 7 })).toEqual({
    apply: false,
    reason: '-sandbox off',
  });
});

describe('files=deny', () => {
  const files = { enable: true, files: 'deny' as const };
  const rules = [
    { path: '/usr', access: FS.READ_FILE | FS.READ_DIR | FS.EXECUTE },
    { path: '/dev/kvm', access: FS.READ_FILE | FS.WRITE_FILE | FS.IOCTL_DEV },
  ];

  test('ABI 7: every filesystem right handled, the rules as given, scoping kept', () => {
    const p = planLandlock(files, { abi: 7 }, rules);
    expect(p).toEqual({
      apply: true,
      abi: 7,
      handledAccessFs: (1n << 16n) - 1n,
      handledAccessNet: 0n,
      scoped: SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL,
      flags: 2,
      rules,
    });
    expect(landlockRecord(p)).toBe(
      'scoped signals and abstract sockets; files: 2 path rules (ABI 7)',
    );
  });

  test('ABI 3 to 5: files without scoping; rights the ABI lacks are left out of the rules', () => {
    const p = planLandlock(files, { abi: 4 }, rules);
    expect(p).toMatchObject({
      apply: true,
      scoped: 0n,
      handledAccessFs: fsRightsOfAbi(4),
      flags: 0,
    });
    expect(p.apply && p.rules[1].access).toBe(FS.READ_FILE | FS.WRITE_FILE);
    expect(landlockRecord(p)).toBe('files: 2 path rules (ABI 4)');
    expect(fsRightsOfAbi(5) & FS.IOCTL_DEV).toBe(FS.IOCTL_DEV);
    expect(fsRightsOfAbi(2) & FS.TRUNCATE).toBe(0n);
  });

  test('older or missing Landlock: the policy cannot be served, and the launcher must not start QEMU', () => {
    expect(planLandlock(files, { abi: 2 }, rules)).toEqual({
      apply: false,
      missing: true,
      reason:
        'files=deny needs Landlock ABI 3 (Linux 6.2): Landlock ABI 2 cannot restrict truncation',
    });
    expect(planLandlock(files, { abi: 0, reason: 'Landlock is not enabled' }, rules)).toMatchObject(
      {
        missing: true,
        reason: 'files=deny needs Landlock ABI 3 (Linux 6.2): Landlock is not enabled',
      },
    );
    // files=allow on the same kernels: no domain, and nothing missing.
    expect(planLandlock({ enable: true, files: 'allow' }, { abi: 2 })).not.toHaveProperty(
      'missing',
    );
  });
});
