/*
 * Microbenchmark of hot syscalls QEMU makes, under whatever seccomp filter the
 * process already runs with (the launcher's) or one it loads itself.
 *
 * usage: bench-syscalls FILTER|- FLAGS ITERATIONS
 *   FILTER      raw struct sock_filter file to load first, or "-" for none
 *               (none: either no filter, or the one inherited through exec)
 *   FLAGS       seccomp() flags for FILTER (ignored with "-")
 *   ITERATIONS  calls per syscall and measurement
 * stdout: one line per syscall, "<name> <ns per call>", plus "seccomp <mode>"
 * from /proc/self/status so the driver can check a filter is really on.
 *
 * Each syscall is timed in 5 blocks of ITERATIONS/5 calls and the fastest
 * block is reported: it is the least disturbed by other processes on these
 * shared machines (the driver also repeats and interleaves whole runs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int zero_fd;
static uint32_t futex_word;
static char buf[8];

static void op_getppid(void) { syscall(SYS_getppid); }
static void op_futex_wake(void) {
  syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
static void op_read_zero(void) {
  if (read(zero_fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) abort();
}
static void op_ppoll(void) {
  struct pollfd p = {.fd = zero_fd, .events = POLLIN};
  struct timespec ts = {0, 0};
  if (ppoll(&p, 1, &ts, NULL) < 0) abort();
}

static const struct {
  const char *name;
  void (*fn)(void);
} ops[] = {{"getppid", op_getppid}, {"futex_wake", op_futex_wake}, {"read_dev_zero", op_read_zero}, {"ppoll", op_ppoll}};

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int load(const char *path, unsigned long flags) {
  static struct sock_filter insns[4096];
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  size_t n = fread(insns, sizeof(insns[0]), 4096, f);
  fclose(f);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0) {
    perror("seccomp");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s FILTER|- FLAGS ITERATIONS\n", argv[0]);
    return 2;
  }
  long iterations = strtol(argv[3], NULL, 0);
  if (iterations < 5) iterations = 5;
  zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (zero_fd < 0) {
    perror("/dev/zero");
    return 2;
  }
  if (strcmp(argv[1], "-") != 0 && load(argv[1], strtoul(argv[2], NULL, 0)) != 0) return 1;

  /* Report the seccomp mode the kernel sees (2 = filter). */
  FILE *st = fopen("/proc/self/status", "r");
  char line[256];
  while (st && fgets(line, sizeof(line), st)) {
    if (strncmp(line, "Seccomp:", 8) == 0) printf("seccomp %d\n", atoi(line + 8));
  }
  if (st) fclose(st);

  const long block = iterations / 5;
  for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
    for (long i = 0; i < block / 10 + 1; i++) ops[o].fn(); /* warm up */
    double best = 1e300;
    for (int b = 0; b < 5; b++) {
      double t0 = now_ns();
      for (long i = 0; i < block; i++) ops[o].fn();
      double per = (now_ns() - t0) / (double)block;
      if (per < best) best = per;
    }
    printf("%s %.2f\n", ops[o].name, best);
  }
  return 0;
}
