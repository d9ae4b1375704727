/*
 * Loads a raw seccomp filter (a struct sock_filter array, as the compiler's
 * `bytes`) into the kernel in this process, the way the launcher does, and
 * reports what the kernel said. Run it in a child process: the filter stays.
 *
 * usage: load-filter FILE FLAGS [probe NR [ARG0]]
 *   FLAGS  seccomp() filter flags as a number (8 = SECCOMP_FILTER_FLAG_NEW_LISTENER)
 *   probe  after a successful load, make syscall NR (a number, may be
 *          0x40000000|n for x32) with ARG0 (default 0) and report its result,
 *          so a test can see the loaded filter act (a kill shows as SIGSYS).
 * stdout: "loaded <rc>" or "refused <errno> <name>", then "probe <ret> <errno>".
 * exit: 0 loaded (and probe returned), 1 refused, 2 usage or I/O error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3 && argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s FILE FLAGS [probe NR [ARG0]]\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  /* 4096 instructions is BPF_MAXINSNS; read one more so an oversized
   * program reaches the kernel (and is refused there, not here). */
  static struct sock_filter insns[4097 + 16];
  size_t n = fread(insns, sizeof(insns[0]), sizeof(insns) / sizeof(insns[0]), f);
  fclose(f);
  unsigned long flags = strtoul(argv[2], NULL, 0);

  /* Without CAP_SYS_ADMIN the kernel requires no_new_privs; the launcher sets it too. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("prctl(PR_SET_NO_NEW_PRIVS)");
    return 2;
  }
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (rc < 0) {
    int e = errno;
    printf("refused %d %s\n", e, strerrorname_np(e) ? strerrorname_np(e) : "?");
    return 1;
  }
  printf("loaded %ld\n", rc);
  fflush(stdout);
  if (argc >= 5 && strcmp(argv[3], "probe") == 0) {
    long nr = strtol(argv[4], NULL, 0);
    long arg0 = argc == 6 ? strtol(argv[5], NULL, 0) : 0;
    errno = 0;
    long r = syscall(nr, arg0, 0, 0, 0, 0, 0);
    printf("probe %ld %d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
  }
  return 0;
}
