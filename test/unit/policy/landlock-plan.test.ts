/**
 * The Landlock plan: which kernels get the default domain, with what, and
 * what the launch record says when they do not.
 */
import {
  SCOPE_ABSTRACT_UNIX_SOCKET,
  SCOPE_SIGNAL,
  landlockRecord,
  planLandlock,
} from '../../../src/policy/landlock-plan';

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
