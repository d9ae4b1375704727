/*
 * cli-audit-victim NAME [MODE]: a process the kernel writes seccomp audit
 * records about, for test/kernel/cli-audit.test.ts.
 *
 * It renames itself NAME (the record's comm=, so the test finds its own
 * records among everyone else's), installs a filter that LOGs setuid and
 * KILL_PROCESSes swapoff, then calls setuid(getuid()) (logged, harmless: same
 * uid) and swapoff((char *)1) (killed; unfiltered it would only fail with
 * EFAULT, so a missing filter can never touch the host's swap). Prints
 * "logged" between the two so the test can tell the LOG did not kill.
 * MODE may contain "bare": no filter of its own (run under the launcher as
 * QEMU_SANDBOXED_BINARY, the product's filter decides), and "log-only": stop
 * after setuid.
 * Exit codes: 2 usage, 3 filter setup failed, 4 swapoff returned (not killed).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH"
#endif

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s NAME [log-only]\n", argv[0]);
    return 2;
  }
  int log_only = argc > 2 && strstr(argv[2], "log-only") != NULL;
  int bare = argc > 2 && strstr(argv[2], "bare") != NULL;
  /* comm is 15 bytes: the test keeps NAME short. */
  if (prctl(PR_SET_NAME, argv[1], 0, 0, 0) != 0) {
    perror("PR_SET_NAME");
    return 3;
  }
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setuid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_LOG),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_swapoff, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
  if (!bare && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)) {
    perror("seccomp");
    return 3;
  }
  if (setuid(getuid()) != 0) perror("setuid");
  printf("logged\n");
  fflush(stdout);
  if (log_only) return 0;
  syscall(__NR_swapoff, (const char *)1);
  printf("not killed: errno %d\n", errno);
  return 4;
}
