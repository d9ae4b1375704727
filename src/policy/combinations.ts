import type { SandboxPolicy } from './types';

/**
 * Every policy the compiler tells apart: each value of the five QEMU keys and
 * of our network= and action= (2 x 3 x 2 x 2 x 2 x 4 = 192), sandbox on.
 * preflight= is left at enforce and files= at allow: they never change the
 * program (files= is a Landlock ruleset, made per launch). Used where all
 * programs are made at once (the build's compile cache, the benchmark); the
 * tests keep an enumeration of their own, so a key forgotten here is caught.
 */
export function everyCompiledPolicy(): SandboxPolicy[] {
  const out: SandboxPolicy[] = [];
  for (const obsolete of ['allow', 'deny'] as const)
    for (const elevatePrivileges of ['allow', 'deny', 'children'] as const)
      for (const spawn of ['allow', 'deny'] as const)
        for (const resourceControl of ['allow', 'deny'] as const)
          for (const network of ['allow', 'deny'] as const)
            for (const action of ['kill', 'trap', 'errno', 'log'] as const)
              out.push({
                enable: true,
                obsolete,
                elevatePrivileges,
                spawn,
                resourceControl,
                network,
                action,
                preflight: 'enforce',
                files: 'allow',
              });
  return out;
}
