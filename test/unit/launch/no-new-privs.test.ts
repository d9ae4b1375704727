/** One decision for no-new-privileges: the prctl, preflight and the launch record. */
import { planNoNewPrivs } from '../../../src/launch/no-new-privs';

// CapEff with CAP_SYS_ADMIN (bit 21) and without it.
const status = (capEff: string, nnp: 0 | 1): string =>
  `Name:\tnode\nCapEff:\t${capEff}\nNoNewPrivs:\t${nnp}\nSeccomp:\t0\n`;
const ROOT = '000001ffffffffff';
const NO_SYS_ADMIN = '000001ffffdfffff';

test('root with elevateprivileges=allow: not set (setuid helpers keep working)', () => {
  expect(planNoNewPrivs({ enable: true, elevatePrivileges: 'allow' }, status(ROOT, 0))).toEqual({
    set: false,
    inEffect: false,
  });
});

test('elevateprivileges=deny|children: set, even as root', () => {
  for (const e of ['deny', 'children'] as const) {
    expect(planNoNewPrivs({ enable: true, elevatePrivileges: e }, status(ROOT, 0)).set).toBe(true);
  }
});

test('without CAP_SYS_ADMIN the kernel requires it for any filter', () => {
  const p = planNoNewPrivs({ enable: true, elevatePrivileges: 'allow' }, status(NO_SYS_ADMIN, 0));
  expect(p).toEqual({ set: true, inEffect: true });
});

test('inherited from the caller (systemd NoNewPrivileges=yes): in effect although we do not set it', () => {
  const p = planNoNewPrivs({ enable: true, elevatePrivileges: 'allow' }, status(ROOT, 1));
  expect(p).toEqual({ set: false, inEffect: true });
});

test('-sandbox off: never set; an inherited one is still reported', () => {
  expect(
    planNoNewPrivs({ enable: false, elevatePrivileges: 'deny' }, status(NO_SYS_ADMIN, 0)),
  ).toEqual({
    set: false,
    inEffect: false,
  });
  expect(
    planNoNewPrivs({ enable: false, elevatePrivileges: 'allow' }, status(ROOT, 1)).inEffect,
  ).toBe(true);
});
