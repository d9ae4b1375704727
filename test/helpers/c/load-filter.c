/*
 * Loads a raw seccomp filter (a struct sock_filter array, as the compiler's
 * `bytes`) into the kernel in this process, the way the launcher does, and
 * reports what the kernel said. Run it in a child process: the filter stays.
 *
 * usage: load-filter FILE FLAGS [probe|int80 NR [ARG0]]
 *   FLAGS  seccomp() filter flags as a number (8 = SECCOMP_FILTER_FLAG_NEW_LISTENER)
 *   probe  after a successful load, make syscall NR (a number, may be
 *          0x40000000|n for x32) with ARG0 (default 0) and report its result,
 *          so a test can see the loaded filter act (a kill shows as SIGSYS).
 *   int80  the same through `int $0x80` (x86_64 only): the i386 ABI, which the
 *          filter sees with AUDIT_ARCH_I386. The raw result is reported (a
 *          negative errno on failure). FILE "-" loads nothing, so a test can
 *          first show that this kernel runs i386 calls at all.
 * stdout: "loaded <rc>" or "refused <errno> <name>", then "probe <ret> <errno>"
 *         or "int80 <raw ret>".
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

#if defined(__x86_64__)
/* An i386 system call from this 64-bit process (arguments in ebx, ecx...).
 * The kernel's compat entry may clobber r8-r11. */
static long int80(long nr, long arg0) {
  long ret;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(arg0), "c"(0L), "d"(0L), "S"(0L), "D"(0L)
                   : "memory", "r8", "r9", "r10", "r11");
  return ret;
}
#endif

/* Runs the probe named by argv[3], if any; returns the exit code. */
static int run_probe(int argc, char **argv) {
  if (argc < 5) return 0;
  long nr = strtol(argv[4], NULL, 0);
  long arg0 = argc == 6 ? strtol(argv[5], NULL, 0) : 0;
  if (strcmp(argv[3], "probe") == 0) {
    errno = 0;
    long r = syscall(nr, arg0, 0, 0, 0, 0, 0);
    printf("probe %ld %d\n", r, r < 0 ? errno : 0);
  } else if (strcmp(argv[3], "int80") == 0) {
#if defined(__x86_64__)
    printf("int80 %ld\n", int80(nr, arg0));
#else
    fprintf(stderr, "int80 needs an x86_64 build\n");
    return 2;
#endif
  } else {
    fprintf(stderr, "unknown probe %s\n", argv[3]);
    return 2;
  }
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s FILE FLAGS [probe|int80 NR [ARG0]]\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "-") == 0) return run_probe(argc, argv); /* no filter */
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
  return run_probe(argc, argv);
}
