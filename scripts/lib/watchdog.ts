/**
 * The last resort when a process dies before its cleanup ran (SIGKILL, a
 * crash, Ctrl-C, a jest worker force-exited): a detached sh whose stdin is a
 * pipe from this process. release() writes a line once the caller has cleaned
 * up; EOF without that line means this process is gone, and the script's
 * cleanup runs. A process.on('exit') hook cannot do this: jest runs test code
 * with a copy of `process` whose events never fire, and nothing runs after
 * SIGKILL. Used by scripts/lib/vm.ts (QEMUs) and test/helpers/libvirtd.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/** sh that kills "$1" unless released: a real pid only ("kill 0" would hit the watchdog's group). */
export const KILL_PID_SCRIPT = `if read -r _; then exit 0; fi
[ "$1" -gt 1 ] 2>/dev/null && kill -KILL "$1" 2>/dev/null
exit 0
`;

export class Watchdog {
  private constructor(private readonly child: ChildProcess) {}

  /**
   * Starts `sh -c SCRIPT NAME ARGS...`. The script must first `read` its stdin:
   * a line means released, EOF means this process died.
   */
  static start(script: string, name: string, args: readonly string[]): Watchdog {
    const child = spawn('sh', ['-c', script, name, ...args], {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Its own process group: a signal to ours (Ctrl-C) must not take it along.
      detached: true,
    });
    // Neither the watchdog nor its pipe may keep this process (jest's worker) alive.
    child.unref();
    (child.stdin as Socket | null)?.unref();
    child.stdin?.on('error', () => {
      // The watchdog is gone (killed from outside): nothing to tell it.
    });
    child.on('error', () => {
      // sh could not start: the caller's normal cleanup still runs.
    });
    return new Watchdog(child);
  }

  /** The caller cleaned up: the watchdog exits without doing anything. Safe to call twice. */
  release(): void {
    const stdin = this.child.stdin;
    if (stdin && !stdin.writableEnded) stdin.end('stopped\n');
  }
}
