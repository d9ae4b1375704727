/*
 * hostile: a QEMU taken over by its guest, for test/kernel/hostile.test.ts.
 *
 * It runs in QEMU's place under launcher/qemu-sandboxed
 * (QEMU_SANDBOXED_BINARY=<hostile>) and really tries to harm what lies
 * outside the sandbox: a victim process of the same user (this same program in
 * `victim` mode, started by the test outside the sandbox), the exec-once gate,
 * and host-wide resources. An attempt counts as "escaped" only when its harm
 * is verified: the victim's memory changed, the stolen fd reads the secret,
 * the victim counted the signal or the connection, the exec'd program ran,
 * the interface exists, the scheduling class was read back.
 *
 * Usage:
 *   hostile [-nodefaults...] [--victim SPEC] ATTEMPT...
 *       One JSON line per attempt, flushed before the next attempt starts, so
 *       when an attempt kills the process (SIGSYS) the caller knows which:
 *       {"attempt":A,"result":R,"errno":E,"step":S,"evidence":X}
 *       R: escaped (harm verified) | denied (a step failed with errno E) |
 *          unverified (the call succeeded but its effect was not seen) |
 *          no-effect (fsetown-sigio only: every call returned and the
 *          victim provably got nothing, which is how that one is contained) |
 *          error (the attempt could not be made: a test defect).
 *       SPEC: the `spec` field of the victim's ready line.
 *   hostile victim DIR SOCKNAME [--own-group]
 *       The victim: opens DIR/secret and unlinks it (the open fd is then the
 *       only way to it), keeps a marker in memory, listens on the abstract
 *       unix socket @SOCKNAME, counts SIGUSR1s, and rewrites DIR/state.json
 *       with what it observes whenever that changes. Prints one ready line
 *       ({"victim":"ready","pid":N,"spec":SPEC}) once all of that is set up.
 *       SIGTERM ends it; it also ends by itself after 60 s or with its parent.
 *   hostile ns-run DIR SOCKNAME -- CMD... @VICTIM ATTEMPT...
 *       For the attempts that signal everything (kill(-1), kill(0)): meant to
 *       be PID 1 of a new PID namespace. Starts a victim in its own process
 *       group, runs CMD with @VICTIM replaced by the victim's spec (the
 *       attacker, in the same group), stops the victim, and prints
 *       {"harness":"done","exit":N,"signal":N}.
 *   hostile tty-run -- CMD...
 *       For tiocsti: runs CMD in a new session whose controlling terminal
 *       (and stdin) is a new pty, then prints what waits in its input
 *       ({"tty":"pending","data":...}) and {"harness":"done",...}.
 *   hostile ran-after-exec ATTEMPT [NOTE]
 *       What the exec attempts exec: proves that the exec happened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/kcmp.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_VALUE(cls, data) (((cls) << IOPRIO_CLASS_SHIFT) | (data))
#define IOPRIO_CLASS_RT 1
#define IOPRIO_CLASS_IDLE 3

/* The first version of struct sched_attr (glibc 2.36 has no wrapper). */
struct sched_attr_v0 {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

/* ---- output ---------------------------------------------------------------- */

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

/* Appends s to out as the inside of a JSON string (bytes that are not
 * printable ASCII become \u00XX: evidence may contain the victim's bytes). */
static void json_escape(char *out, size_t cap, const char *s) {
  size_t n = strlen(out);
  for (; *s && n + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    else out[n++] = (char)c, out[n] = 0;
  }
}

static void write_line(const char *line) {
  size_t len = strlen(line);
  while (len > 0) {
    ssize_t w = write(1, line, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(121);
    line += w;
    len -= (size_t)w;
  }
}

/* One attempt's line. errno_value 0: no errno field. step: which call failed. */
__attribute__((format(printf, 6, 7))) static void report(const char *attempt, const char *result,
                                                         int errno_value, const char *step,
                                                         const char *extra_json,
                                                         const char *evidence_fmt, ...) {
  char evidence[1024] = "";
  if (evidence_fmt) {
    va_list ap;
    va_start(ap, evidence_fmt);
    vsnprintf(evidence, sizeof evidence, evidence_fmt, ap);
    va_end(ap);
  }
  char line[4096] = "{\"attempt\":\"";
  json_escape(line, sizeof line, attempt);
  size_t n = strlen(line);
  n += (size_t)snprintf(line + n, sizeof line - n, "\",\"result\":\"%s\"", result);
  if (errno_value)
    n += (size_t)snprintf(line + n, sizeof line - n, ",\"errno\":\"%s\"", errname(errno_value));
  if (step) n += (size_t)snprintf(line + n, sizeof line - n, ",\"step\":\"%s\"", step);
  if (extra_json) n += (size_t)snprintf(line + n, sizeof line - n, ",%s", extra_json);
  if (evidence[0]) {
    snprintf(line + n, sizeof line - n, ",\"evidence\":\"");
    json_escape(line, sizeof line - 3, evidence);
    n = strlen(line);
    n += (size_t)snprintf(line + n, sizeof line - n, "\"");
  }
  snprintf(line + n, sizeof line - n, "}\n");
  write_line(line);
}

#define DENIED(attempt, step, e) report(attempt, "denied", e, step, NULL, NULL)
#define SETUP_ERROR(attempt, ...) report(attempt, "error", 0, NULL, NULL, __VA_ARGS__)

/* ---- the victim ------------------------------------------------------------ */

static const char MARKER_TEXT[] = "VICTIM-MARKER-untouched";
/* Written by other processes if they get in: volatile, read byte by byte. */
static volatile char victim_marker[64] = "VICTIM-MARKER-untouched";

static volatile sig_atomic_t victim_usr1;
static volatile sig_atomic_t victim_stop;

static void on_usr1(int sig) {
  (void)sig;
  victim_usr1++;
}
static void on_term(int sig) {
  (void)sig;
  victim_stop = 1;
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static int tracer_pid(void) {
  char text[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, text, sizeof text - 1);
  close(fd);
  if (r <= 0) return -1;
  text[r] = 0;
  const char *p = strstr(text, "TracerPid:");
  return p ? atoi(p + 10) : -1;
}

/* What the victim sees of itself: anything another process changed. */
static void victim_observe(char *out, size_t cap, long connections, int max_tracer) {
  char marker[sizeof victim_marker + 1];
  size_t i;
  for (i = 0; i < sizeof victim_marker && victim_marker[i]; i++) marker[i] = victim_marker[i];
  marker[i] = 0;
  struct rlimit nofile = {0, 0};
  getrlimit(RLIMIT_NOFILE, &nofile);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  sched_getaffinity(0, sizeof cpus, &cpus);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  long ioprio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
  snprintf(out, cap,
           "{\"pid\":%d,\"usr1\":%d,\"connections\":%ld,\"tracer\":%d,\"nofile\":[%lld,%lld],"
           "\"nice\":%d,\"policy\":%d,\"cpus\":%d,\"ioprio\":%ld,\"marker\":\"",
           getpid(), (int)victim_usr1, connections, max_tracer, (long long)nofile.rlim_cur,
           (long long)nofile.rlim_max, nice, sched_getscheduler(0), CPU_COUNT(&cpus), ioprio);
  json_escape(out, cap - 3, marker);
  strcat(out, "\"}");
}

/* Atomic replace, so a reader never sees half a state. */
static void write_state(const char *path, const char *json) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (write(fd, json, strlen(json)) < 0 || write(fd, "\n", 1) < 0) {
    close(fd);
    return;
  }
  close(fd);
  rename(tmp, path);
}

static int victim_main(const char *dir, const char *sockname, int own_group, int ready_fd) {
  if (own_group && setpgid(0, 0) != 0) return 2;
  /* Never outlive the test: parent gone (SIGKILL) or 60 s, whichever first. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  long deadline = now_ms() + 60000;

  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);

  char path[4096];
  snprintf(path, sizeof path, "%s/secret", dir);
  int secret = open(path, O_RDONLY | O_CLOEXEC);
  if (secret < 0 || unlink(path) != 0) {
    dprintf(ready_fd, "{\"victim\":\"error\",\"error\":\"secret %s: %s\"}\n", path,
            strerror(errno));
    return 2;
  }

  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t namelen = strlen(sockname);
  if (namelen + 1 > sizeof addr.sun_path) return 2;
  memcpy(addr.sun_path + 1, sockname, namelen); /* sun_path[0] = 0: abstract */
  socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + namelen);
  if (listener < 0 || bind(listener, (struct sockaddr *)&addr, addrlen) != 0 ||
      listen(listener, 16) != 0) {
    dprintf(ready_fd, "{\"victim\":\"error\",\"error\":\"socket @%s: %s\"}\n", sockname,
            strerror(errno));
    return 2;
  }

  char state_path[4096];
  snprintf(state_path, sizeof state_path, "%s/state.json", dir);
  long connections = 0;
  int max_tracer = 0;
  char last[4096] = "", cur[4096];
  victim_observe(cur, sizeof cur, connections, max_tracer);
  write_state(state_path, cur);
  strcpy(last, cur);

  dprintf(ready_fd,
          "{\"victim\":\"ready\",\"pid\":%d,\"spec\":\"pid=%d,marker=%p,len=%zu,fd=%d,sock=%s,"
          "state=%s\"}\n",
          getpid(), getpid(), (void *)victim_marker, sizeof victim_marker, secret, sockname,
          state_path);
  if (ready_fd != 1) close(ready_fd);

  while (!victim_stop && now_ms() < deadline) {
    struct pollfd p = {.fd = listener, .events = POLLIN};
    poll(&p, 1, 20);
    for (;;) {
      int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0) break;
      connections++;
      close(c);
    }
    int t = tracer_pid();
    if (t > max_tracer) max_tracer = t;
    victim_observe(cur, sizeof cur, connections, max_tracer);
    if (strcmp(cur, last) != 0) {
      write_state(state_path, cur);
      strcpy(last, cur);
    }
  }
  victim_observe(cur, sizeof cur, connections, max_tracer);
  write_state(state_path, cur);
  return 0;
}

/* ---- what the attacker knows of the victim ---------------------------------- */

struct victim {
  pid_t pid;
  uintptr_t marker;
  size_t len;
  int fd;
  char sock[108];
  char state[4096];
};

static int parse_spec(const char *spec, struct victim *v) {
  memset(v, 0, sizeof *v);
  char copy[8192];
  snprintf(copy, sizeof copy, "%s", spec);
  for (char *save = NULL, *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq) return -1;
    *eq = 0;
    const char *val = eq + 1;
    if (!strcmp(kv, "pid")) v->pid = (pid_t)atoi(val);
    else if (!strcmp(kv, "marker")) v->marker = (uintptr_t)strtoull(val, NULL, 16);
    else if (!strcmp(kv, "len")) v->len = (size_t)atol(val);
    else if (!strcmp(kv, "fd")) v->fd = atoi(val);
    else if (!strcmp(kv, "sock")) snprintf(v->sock, sizeof v->sock, "%s", val);
    else if (!strcmp(kv, "state")) snprintf(v->state, sizeof v->state, "%s", val);
    else return -1;
  }
  return v->pid > 1 && v->marker && v->len && v->sock[0] && v->state[0] ? 0 : -1;
}

static int read_state(const struct victim *v, char *out, size_t cap) {
  int fd = open(v->state, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, out, cap - 1);
  close(fd);
  if (r <= 0) return -1;
  out[r] = 0;
  return 0;
}

/* A number field of the victim's state, or LONG_MIN. */
static long state_num(const struct victim *v, const char *key) {
  char text[4096], pat[64];
  if (read_state(v, text, sizeof text) != 0) return -0x7fffffffL;
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(text, pat);
  if (!p) return -0x7fffffffL;
  p += strlen(pat);
  if (*p == '[') p++; /* "nofile":[soft,hard]: the soft limit */
  return strtol(p, NULL, 10);
}

/* The marker as the victim itself last reported it (empty if unknown). */
static void state_marker(const struct victim *v, char *out, size_t cap) {
  char text[4096];
  out[0] = 0;
  if (read_state(v, text, sizeof text) != 0) return;
  const char *p = strstr(text, "\"marker\":\"");
  if (!p) return;
  p += 10;
  size_t i = 0;
  while (p[i] && p[i] != '"' && i + 1 < cap) out[i] = p[i], i++;
  out[i] = 0;
}

/* Waits (up to timeout_ms) until the victim reports `key` other than
 * `before`; returns the new value, or `before` if nothing changed. After a
 * call that succeeded the change is due, so the wait is long (3 s: the host
 * may be busy) and ends as soon as it comes. */
static long await_state_change(const struct victim *v, const char *key, long before,
                               long timeout_ms) {
  long end = now_ms() + timeout_ms;
  for (;;) {
    long now = state_num(v, key);
    if (now != before || now_ms() > end) return now;
    usleep(10000);
  }
}

/* Waits until the victim reports its marker starting with `text`. */
static int await_marker(const struct victim *v, const char *text, char *seen, size_t cap) {
  long end = now_ms() + 3000;
  for (;;) {
    state_marker(v, seen, cap);
    if (!strncmp(seen, text, strlen(text))) return 1;
    if (now_ms() > end) return 0;
    usleep(10000);
  }
}

static int open_pidfd(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

/* ---- attempts against the victim ---------------------------------------------- */

/* Harm: take control of the victim (stop it, read and write its memory and
 * registers) with ptrace. Verified by reading its marker with PEEKDATA. */
static void attempt_ptrace_attach(const char *a, const struct victim *v) {
  if (ptrace(PTRACE_SEIZE, v->pid, 0, 0) != 0) return DENIED(a, "ptrace(PTRACE_SEIZE)", errno);
  char seen[16] = "";
  int ok = ptrace(PTRACE_INTERRUPT, v->pid, 0, 0) == 0 &&
           waitpid(v->pid, NULL, __WALL) == v->pid;
  if (ok) {
    errno = 0;
    long word = ptrace(PTRACE_PEEKDATA, v->pid, (void *)v->marker, 0);
    if (errno == 0) memcpy(seen, &word, sizeof word);
  }
  ptrace(PTRACE_DETACH, v->pid, 0, 0);
  if (!strncmp(seen, MARKER_TEXT, 8))
    return report(a, "escaped", 0, NULL, NULL,
                  "attached to pid %d and read its marker with PEEKDATA: \"%s\"", v->pid, seen);
  report(a, "unverified", 0, NULL, NULL, "PTRACE_SEIZE succeeded but PEEKDATA read \"%s\"", seen);
}

/* Harm: overwrite the victim's memory. Verified by the victim itself. */
static void attempt_process_vm_writev(const char *a, const struct victim *v) {
  static const char text[] = "PWNED:process-vm-writev";
  struct iovec local = {(void *)text, sizeof text};
  struct iovec remote = {(void *)v->marker, sizeof text};
  if (process_vm_writev(v->pid, &local, 1, &remote, 1, 0) < 0)
    return DENIED(a, "process_vm_writev", errno);
  char seen[128];
  if (await_marker(v, text, seen, sizeof seen))
    return report(a, "escaped", 0, NULL, NULL, "the victim now reports its marker as \"%s\"", seen);
  report(a, "unverified", 0, NULL, NULL, "the write returned, the victim reports \"%s\"", seen);
}

/* Harm: read the victim's memory. Verified against what the victim reports. */
static void attempt_process_vm_readv(const char *a, const struct victim *v) {
  char got[64] = "", expect[128];
  struct iovec local = {got, sizeof got - 1};
  struct iovec remote = {(void *)v->marker, sizeof got - 1};
  if (process_vm_readv(v->pid, &local, 1, &remote, 1, 0) < 0)
    return DENIED(a, "process_vm_readv", errno);
  state_marker(v, expect, sizeof expect);
  if (expect[0] && !strcmp(got, expect))
    return report(a, "escaped", 0, NULL, NULL, "read the victim's marker: \"%s\"", got);
  report(a, "unverified", 0, NULL, NULL, "read \"%s\", the victim reports \"%s\"", got, expect);
}

/* Harm: steal the victim's open fd to a file that no longer has a name, and
 * read the secret through it. */
static void attempt_pidfd_getfd(const char *a, const struct victim *v) {
  int pidfd = open_pidfd(v->pid);
  if (pidfd < 0) return DENIED(a, "pidfd_open", errno);
  int fd = (int)syscall(SYS_pidfd_getfd, pidfd, v->fd, 0);
  int e = errno;
  close(pidfd);
  if (fd < 0) return DENIED(a, "pidfd_getfd", e);
  char got[128] = "";
  ssize_t r = pread(fd, got, sizeof got - 1, 0);
  close(fd);
  if (r > 0) return report(a, "escaped", 0, NULL, NULL, "read the victim's secret: \"%s\"", got);
  report(a, "unverified", 0, NULL, NULL, "got fd %d but could not read it", fd);
}

/* Harm: open the victim's fd through /proc (another way to the same secret). */
static void attempt_proc_fd_open(const char *a, const struct victim *v) {
  char path[64], got[128] = "";
  snprintf(path, sizeof path, "/proc/%d/fd/%d", v->pid, v->fd);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return DENIED(a, "open(/proc/PID/fd/N)", errno);
  ssize_t r = pread(fd, got, sizeof got - 1, 0);
  close(fd);
  if (r > 0) return report(a, "escaped", 0, NULL, NULL, "read the victim's secret: \"%s\"", got);
  report(a, "unverified", 0, NULL, NULL, "opened %s but could not read it", path);
}

/* Harm: write the victim's memory through /proc/PID/mem. */
static void attempt_proc_mem_write(const char *a, const struct victim *v) {
  static const char text[] = "PWNED:proc-mem-write";
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", v->pid);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return DENIED(a, "open(/proc/PID/mem, O_RDWR)", errno);
  ssize_t w = pwrite(fd, text, sizeof text, (off_t)v->marker);
  int e = errno;
  close(fd);
  if (w < 0) return DENIED(a, "pwrite(/proc/PID/mem)", e);
  char seen[128];
  if (await_marker(v, text, seen, sizeof seen))
    return report(a, "escaped", 0, NULL, NULL, "the victim now reports its marker as \"%s\"", seen);
  report(a, "unverified", 0, NULL, NULL, "pwrite returned %zd, the victim reports \"%s\"", w, seen);
}

/* Harm: read the victim's environment (credentials often live there). */
static void attempt_proc_environ_read(const char *a, const struct victim *v) {
  char path[64], env[8192];
  snprintf(path, sizeof path, "/proc/%d/environ", v->pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return DENIED(a, "open(/proc/PID/environ)", errno);
  ssize_t r = read(fd, env, sizeof env - 1);
  int e = errno;
  close(fd);
  if (r < 0) return DENIED(a, "read(/proc/PID/environ)", e);
  env[r] = 0;
  for (char *p = env; p < env + r; p += strlen(p) + 1)
    if (!strncmp(p, "VICTIM_ENV_SECRET=", 18))
      return report(a, "escaped", 0, NULL, NULL, "read the victim's environment: %s", p);
  report(a, "unverified", 0, NULL, NULL, "read %zd bytes without VICTIM_ENV_SECRET", r);
}

/* Harm: learn about the victim's open files (kcmp compares kernel objects). */
static void attempt_kcmp_other(const char *a, const struct victim *v) {
  long r = syscall(SYS_kcmp, getpid(), v->pid, KCMP_FILE, 0, v->fd);
  if (r < 0) return DENIED(a, "kcmp(KCMP_FILE)", errno);
  report(a, "escaped", 0, NULL, NULL, "compared our fd 0 with the victim's fd %d: kcmp = %ld",
         v->fd, r);
}

/* Harm: push the victim's memory out (MADV_COLD) from outside. */
static void attempt_process_madvise_other(const char *a, const struct victim *v) {
  int pidfd = open_pidfd(v->pid);
  if (pidfd < 0) return DENIED(a, "pidfd_open", errno);
  struct iovec iov = {(void *)(v->marker & ~(uintptr_t)4095), 4096};
  long r = syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_COLD, 0);
  int e = errno;
  close(pidfd);
  if (r < 0) return DENIED(a, "process_madvise(MADV_COLD)", e);
  report(a, "escaped", 0, NULL, NULL, "advised %ld bytes of the victim's memory cold", r);
}

/* Harm: move the victim's pages between NUMA nodes (here: ask where its
 * marker page is, which passes the same permission check). */
static void attempt_move_pages_other(const char *a, const struct victim *v) {
  void *page = (void *)(v->marker & ~(uintptr_t)4095);
  int status = -1;
  long r = syscall(SYS_move_pages, v->pid, 1UL, &page, NULL, &status, 0);
  if (r < 0) return DENIED(a, "move_pages", errno);
  if (status >= 0)
    return report(a, "escaped", 0, NULL, NULL, "the victim's marker page is on node %d", status);
  report(a, "unverified", 0, NULL, NULL, "move_pages returned %ld, page status %d", r, status);
}

/* Harm: migrate all of the victim's pages (node 0 to node 0 here). */
static void attempt_migrate_pages_other(const char *a, const struct victim *v) {
  unsigned long nodes = 1;
  long r = syscall(SYS_migrate_pages, v->pid, 8 * sizeof nodes, &nodes, &nodes);
  if (r < 0) return DENIED(a, "migrate_pages", errno);
  report(a, "escaped", 0, NULL, NULL, "migrate_pages accepted the victim (returned %ld)", r);
}

/* Harm: lower the victim's RLIMIT_NOFILE, so its next open() fails. */
static void attempt_prlimit_other(const char *a, const struct victim *v) {
  struct rlimit old;
  if (prlimit(v->pid, RLIMIT_NOFILE, NULL, &old) != 0)
    return DENIED(a, "prlimit64(get)", errno);
  struct rlimit lower = {old.rlim_cur > 64 ? 64 : old.rlim_cur / 2, old.rlim_max};
  if (prlimit(v->pid, RLIMIT_NOFILE, &lower, NULL) != 0) return DENIED(a, "prlimit64(set)", errno);
  long seen = await_state_change(v, "nofile", (long)old.rlim_cur, 3000);
  if (seen == (long)lower.rlim_cur)
    return report(a, "escaped", 0, NULL, NULL, "the victim's RLIMIT_NOFILE is now %ld (was %lld)",
                  seen, (long long)old.rlim_cur);
  report(a, "unverified", 0, NULL, NULL, "prlimit returned 0, the victim reports %ld", seen);
}

/* Harm: watch the victim (perf counters on another process). */
static void attempt_perf_event_other(const char *a, const struct victim *v) {
  struct perf_event_attr attr = {0};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  int fd = (int)syscall(SYS_perf_event_open, &attr, v->pid, -1, -1, 0);
  if (fd < 0) return DENIED(a, "perf_event_open(pid=victim)", errno);
  usleep(100000);
  uint64_t count = 0;
  ssize_t r = read(fd, &count, sizeof count);
  close(fd);
  report(a, "escaped", 0, NULL, NULL,
         "a perf counter on the victim: task clock %llu ns after 100 ms (read %zd)",
         (unsigned long long)count, r);
}

/* Harm: watch every process on a CPU (pid -1: system-wide on CPU 0). */
static void attempt_perf_event_cpu(const char *a) {
  struct perf_event_attr attr = {0};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CONTEXT_SWITCHES;
  int fd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
  if (fd < 0) return DENIED(a, "perf_event_open(pid=-1, cpu=0)", errno);
  usleep(100000);
  uint64_t count = 0;
  ssize_t r = read(fd, &count, sizeof count);
  close(fd);
  report(a, "escaped", 0, NULL, NULL,
         "a counter on all of CPU 0: %llu context switches in 100 ms (read %zd)",
         (unsigned long long)count, r);
}

/* Harm: learn an address inside the victim (its robust futex list head),
 * which defeats its address-space randomisation. */
static void attempt_get_robust_list_other(const char *a, const struct victim *v) {
  void *head = NULL;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, v->pid, &head, &len) != 0)
    return DENIED(a, "get_robust_list(victim)", errno);
  if (head) return report(a, "escaped", 0, NULL, NULL, "the victim's robust list is at %p", head);
  report(a, "unverified", 0, NULL, NULL, "get_robust_list returned 0 with no list");
}

/* Harm for the signal attempts: the victim gets a signal (a harmless one,
 * SIGUSR1, that it counts; a real attacker would send SIGKILL). */
static void signal_verdict(const char *a, const struct victim *v, long before, const char *how) {
  long after = await_state_change(v, "usr1", before, 3000);
  if (after > before)
    return report(a, "escaped", 0, NULL, NULL, "%s: the victim counted SIGUSR1 (%ld -> %ld)", how,
                  before, after);
  report(a, "unverified", 0, NULL, NULL, "%s returned 0, the victim counted nothing", how);
}

/* Harm: signal the victim by pid. */
static void attempt_kill_other(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  if (kill(v->pid, SIGUSR1) != 0) return DENIED(a, "kill(victim)", errno);
  signal_verdict(a, v, before, "kill(victim, SIGUSR1)");
}

/* Harm: signal the victim's thread. */
static void attempt_tgkill_other(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  if (syscall(SYS_tgkill, v->pid, v->pid, SIGUSR1) != 0) return DENIED(a, "tgkill", errno);
  signal_verdict(a, v, before, "tgkill(victim, victim, SIGUSR1)");
}

/* Harm: signal the victim through a pidfd. */
static void attempt_pidfd_send_signal_other(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  int pidfd = open_pidfd(v->pid);
  if (pidfd < 0) return DENIED(a, "pidfd_open", errno);
  long r = syscall(SYS_pidfd_send_signal, pidfd, SIGUSR1, NULL, 0);
  int e = errno;
  close(pidfd);
  if (r != 0) return DENIED(a, "pidfd_send_signal", e);
  signal_verdict(a, v, before, "pidfd_send_signal(SIGUSR1)");
}

/* Harm: a queued signal, with data, to the victim. */
static void attempt_sigqueue_other(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  union sigval val = {.sival_int = 42};
  if (sigqueue(v->pid, SIGUSR1, val) != 0) return DENIED(a, "rt_sigqueueinfo", errno);
  signal_verdict(a, v, before, "sigqueue(victim, SIGUSR1)");
}

/* Harm: signal the victim's thread with the old tkill. */
static void attempt_tkill_other(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  if (syscall(SYS_tkill, v->pid, SIGUSR1) != 0) return DENIED(a, "tkill", errno);
  signal_verdict(a, v, before, "tkill(victim, SIGUSR1)");
}

/* Harm: a queued signal to the victim's thread (rt_tgsigqueueinfo). */
static void attempt_tgsigqueue_other(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = SIGUSR1;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  if (syscall(SYS_rt_tgsigqueueinfo, v->pid, v->pid, SIGUSR1, &info) != 0)
    return DENIED(a, "rt_tgsigqueueinfo", errno);
  signal_verdict(a, v, before, "rt_tgsigqueueinfo(victim, SIGUSR1)");
}

/* Harm: have the kernel signal the victim for us: make it the owner of a
 * socket's async I/O (F_SETOWN), with SIGUSR1 as the signal (F_SETSIG), and
 * make the socket readable. No kill-class call is ever made. Contained when
 * a step fails, or when the victim simply gets nothing ("no-effect"). */
static void attempt_fsetown_sigio(const char *a, const struct victim *v) {
  long before = state_num(v, "usr1");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return DENIED(a, "socketpair", errno);
  const char *step = NULL;
  if (fcntl(sv[0], F_SETOWN, v->pid) != 0) step = "fcntl(F_SETOWN, victim)";
  else if (fcntl(sv[0], F_SETSIG, SIGUSR1) != 0) step = "fcntl(F_SETSIG)";
  else if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_ASYNC) != 0) step = "fcntl(O_ASYNC)";
  else if (write(sv[1], "x", 1) != 1) step = "write";
  int e = errno;
  /* Every call returned: the signal may or may not come. A second is ample
   * for a delivery (the kernel sends it within write()); the test checks
   * the victim's own count at the end as well, so a late one is not missed. */
  long after = step ? before : await_state_change(v, "usr1", before, 1000);
  close(sv[0]);
  close(sv[1]);
  if (step) return DENIED(a, step, e);
  if (after > before)
    return report(a, "escaped", 0, NULL, NULL,
                  "F_SETOWN + F_SETSIG: the victim counted SIGUSR1 (%ld -> %ld)", before, after);
  report(a, "no-effect", 0, NULL, NULL, "every call returned, the victim counted no signal");
}

/* Harm: signal the victim's process group (kill with a negative pid). Only
 * ever aimed at a victim alone in its own group. */
static void attempt_kill_pgrp_other(const char *a, const struct victim *v) {
  pid_t pgid = getpgid(v->pid);
  if (pgid != v->pid)
    return SETUP_ERROR(a, "the victim is not alone in its group (pgid %d): not sending", pgid);
  long before = state_num(v, "usr1");
  if (kill(-v->pid, SIGUSR1) != 0) return DENIED(a, "kill(-victim)", errno);
  signal_verdict(a, v, before, "kill(-victim, SIGUSR1)");
}

/* Whether PID 1 of our PID namespace is the ns-run harness: then kill(-1)
 * and kill(0) can reach nothing but the harness, the victim and us. */
static int in_harness_namespace(void) {
  char cmdline[256] = "";
  int fd = open("/proc/1/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t r = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  if (r <= 0) return 0;
  for (ssize_t i = 0; i < r; i++)
    if (!strcmp(cmdline + i, "ns-run")) return 1;
  return 0;
}

/* Harm: signal every process we may (run only inside the harness's PID namespace). */
static void attempt_kill_all(const char *a, const struct victim *v) {
  if (!in_harness_namespace())
    return SETUP_ERROR(a, "PID 1 is not the ns-run harness: refusing kill(-1)");
  long before = state_num(v, "usr1");
  if (kill(-1, SIGUSR1) != 0) return DENIED(a, "kill(-1)", errno);
  signal_verdict(a, v, before, "kill(-1, SIGUSR1)");
}

/* Harm: signal our whole process group, the victim in it (PID namespace only). */
static void attempt_kill_group(const char *a, const struct victim *v) {
  if (!in_harness_namespace())
    return SETUP_ERROR(a, "PID 1 is not the ns-run harness: refusing kill(0)");
  long before = state_num(v, "usr1");
  if (kill(0, SIGUSR1) != 0) return DENIED(a, "kill(0)", errno);
  signal_verdict(a, v, before, "kill(0, SIGUSR1)");
}

/* Harm: talk to a host service on an abstract unix socket (no file, so no
 * file permission protects it). */
static void attempt_abstract_connect(const char *a, const struct victim *v) {
  long before = state_num(v, "connections");
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return DENIED(a, "socket(AF_UNIX)", errno);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t n = strlen(v->sock);
  memcpy(addr.sun_path + 1, v->sock, n);
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
  int r = connect(s, (struct sockaddr *)&addr, len);
  int e = errno;
  close(s);
  if (r != 0) return DENIED(a, "connect(@victim)", e);
  long after = await_state_change(v, "connections", before, 3000);
  if (after > before)
    return report(a, "escaped", 0, NULL, NULL, "connected to @%s: the victim accepted it",
                  v->sock);
  report(a, "unverified", 0, NULL, NULL, "connect returned 0, the victim counted nothing");
}

/* Harm: starve the victim of CPU (nice 19). */
static void attempt_setpriority_other(const char *a, const struct victim *v) {
  if (setpriority(PRIO_PROCESS, (id_t)v->pid, 19) != 0)
    return DENIED(a, "setpriority(victim, 19)", errno);
  // Read back from the kernel, not from the victim: a demoted victim may be
  // too starved on a busy host to report in time.
  errno = 0;
  long seen = getpriority(PRIO_PROCESS, (id_t)v->pid);
  if (seen == 19)
    return report(a, "escaped", 0, NULL, NULL, "the victim now runs at nice %ld", seen);
  report(a, "unverified", 0, NULL, NULL, "setpriority returned 0, the victim reports %ld", seen);
}

/* Harm: pin the victim to one CPU. */
static void attempt_sched_setaffinity_other(const char *a, const struct victim *v) {
  cpu_set_t cpus;
  if (sched_getaffinity(v->pid, sizeof cpus, &cpus) != 0)
    return DENIED(a, "sched_getaffinity(victim)", errno);
  int before = CPU_COUNT(&cpus);
  if (before < 2) return SETUP_ERROR(a, "the victim may run on %d CPU: nothing to take away", before);
  int first = 0;
  while (!CPU_ISSET(first, &cpus)) first++;
  CPU_ZERO(&cpus);
  CPU_SET(first, &cpus);
  if (sched_setaffinity(v->pid, sizeof cpus, &cpus) != 0)
    return DENIED(a, "sched_setaffinity(victim)", errno);
  cpu_set_t now;
  long seen = sched_getaffinity(v->pid, sizeof now, &now) == 0 ? CPU_COUNT(&now) : -1;
  if (seen == 1)
    return report(a, "escaped", 0, NULL, NULL, "the victim may now run on CPU %d only (of %d)",
                  first, before);
  report(a, "unverified", 0, NULL, NULL, "sched_setaffinity returned 0, the victim reports %ld",
         seen);
}

/* Harm: demote the victim to SCHED_IDLE (it runs only when nothing else does). */
static void attempt_sched_setattr_other(const char *a, const struct victim *v) {
  struct sched_attr_v0 attr = {.size = sizeof attr, .sched_policy = SCHED_IDLE};
  if (syscall(SYS_sched_setattr, v->pid, &attr, 0) != 0)
    return DENIED(a, "sched_setattr(victim, SCHED_IDLE)", errno);
  // From the kernel: a victim at SCHED_IDLE may not run again soon on a busy host.
  long seen = sched_getscheduler(v->pid);
  if (seen == SCHED_IDLE)
    return report(a, "escaped", 0, NULL, NULL, "the victim now runs at SCHED_IDLE");
  report(a, "unverified", 0, NULL, NULL, "sched_setattr returned 0, the victim reports %ld", seen);
}

/* Harm: starve the victim of I/O (the idle I/O class). */
static void attempt_ioprio_set_other(const char *a, const struct victim *v) {
  long idle = IOPRIO_VALUE(IOPRIO_CLASS_IDLE, 0);
  if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, v->pid, idle) != 0)
    return DENIED(a, "ioprio_set(victim, IDLE)", errno);
  long seen = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, v->pid);
  if (seen == idle)
    return report(a, "escaped", 0, NULL, NULL, "the victim's I/O class is now idle (%ld)", seen);
  report(a, "unverified", 0, NULL, NULL, "ioprio_set returned 0, the victim reports %ld", seen);
}

/* ---- the exec-once gate and process creation ------------------------------------- */

static void exec_marker(const char *attempt, const char *note) {
  char *args[] = {"hostile", "ran-after-exec", (char *)attempt, (char *)note, NULL};
  execve("/proc/self/exe", args, environ);
}

/* Answers every notification on the listener with CONTINUE (as the launcher's
 * gate does for QEMU's own exec), for as long as the process lives. */
static void *answer_continue(void *arg) {
  int listener = (int)(intptr_t)arg;
  for (;;) {
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      return NULL;
    }
    struct seccomp_notif_resp resp = {.id = req.id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
}

/* Harm: get around spawn=deny. Stack a filter of our own that sends execve to
 * a listener we hold (seccomp tells the newest filter's listener when several
 * return USER_NOTIF), answer CONTINUE from a thread, and exec. */
static void attempt_gate_reroute(const char *a) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                              SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  int listener_errno = listener < 0 ? errno : 0;
  char note[64];
  snprintf(note, sizeof note, "listener=%s", listener < 0 ? errname(listener_errno) : "ours");
  if (listener >= 0) {
    pthread_t t;
    int e = pthread_create(&t, NULL, answer_continue, (void *)(intptr_t)listener);
    if (e != 0) return SETUP_ERROR(a, "listener obtained, but pthread_create: %s", strerror(e));
  }
  exec_marker(a, note);
  int exec_errno = errno;
  char extra[256];
  snprintf(extra, sizeof extra, "\"steps\":{\"listener\":\"%s\",\"exec\":\"%s\"}",
           listener < 0 ? errname(listener_errno) : "ok", errname(exec_errno));
  report(a, "denied", exec_errno, "execve", extra, NULL);
}

/* Harm: run another program after start-up (a shell, a downloaded tool). */
static void attempt_exec_after(const char *a) {
  exec_marker(a, "plain execve");
  DENIED(a, "execve", errno);
}

/* Harm: start another process (which could then exec, or outlive QEMU). */
static void attempt_fork(const char *a) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return SETUP_ERROR(a, "pipe: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return DENIED(a, "fork", e);
  }
  if (child == 0) {
    pid_t me = getpid();
    if (write(p[1], &me, sizeof me) < 0) _exit(1);
    _exit(0);
  }
  close(p[1]);
  pid_t ran = 0;
  ssize_t r = read(p[0], &ran, sizeof ran);
  close(p[0]);
  waitpid(child, NULL, 0);
  if (r == sizeof ran && ran == child)
    return report(a, "escaped", 0, NULL, NULL, "the forked child ran as pid %d", ran);
  report(a, "unverified", 0, NULL, NULL, "fork returned %d, the child said nothing", child);
}

/* ---- host resources --------------------------------------------------------------- */

/* Harm: real-time scheduling: a busy loop at SCHED_FIFO can starve the host. */
static void attempt_sched_setattr_fifo(const char *a) {
  struct sched_attr_v0 attr = {.size = sizeof attr, .sched_policy = SCHED_FIFO,
                               .sched_priority = 1};
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return DENIED(a, "sched_setattr", errno);
  int policy = sched_getscheduler(0);
  struct sched_param normal = {0};
  sched_setscheduler(0, SCHED_OTHER, &normal); /* never stay real-time */
  if (policy == SCHED_FIFO)
    return report(a, "escaped", 0, NULL, NULL, "ran at SCHED_FIFO priority 1 (reverted)");
  report(a, "unverified", 0, NULL, NULL, "sched_setattr returned 0, policy %d", policy);
}

/* Harm: the highest CPU priority (nice -20) over everything else on the host. */
static void attempt_sched_setattr_nice(const char *a) {
  struct sched_attr_v0 attr = {.size = sizeof attr, .sched_policy = SCHED_OTHER,
                               .sched_nice = -20};
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return DENIED(a, "sched_setattr", errno);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  setpriority(PRIO_PROCESS, 0, 0);
  if (nice == -20) return report(a, "escaped", 0, NULL, NULL, "ran at nice -20 (reverted)");
  report(a, "unverified", 0, NULL, NULL, "sched_setattr returned 0, nice %d", nice);
}

/* Harm: real-time I/O priority over every other process's disk access. */
static void attempt_ioprio_set(const char *a) {
  long rt = IOPRIO_VALUE(IOPRIO_CLASS_RT, 0);
  long before = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
  if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, rt) != 0)
    return DENIED(a, "ioprio_set(RT)", errno);
  long seen = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
  syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, before < 0 ? 0 : before);
  if (seen == rt)
    return report(a, "escaped", 0, NULL, NULL, "ran in the real-time I/O class (reverted)");
  report(a, "unverified", 0, NULL, NULL, "ioprio_set returned 0, ioprio_get %ld", seen);
}

/* Harm: join the root group (gid 0), and an arbitrary one, as supplementary groups. */
static void attempt_setgroups(const char *a) {
  gid_t want[] = {0, 4242};
  if (setgroups(2, want) != 0) return DENIED(a, "setgroups", errno);
  gid_t got[64];
  int n = getgroups(64, got), has0 = 0, has4242 = 0;
  for (int i = 0; i < n; i++) has0 |= got[i] == 0, has4242 |= got[i] == 4242;
  if (has0 && has4242)
    return report(a, "escaped", 0, NULL, NULL, "supplementary groups now include 0 and 4242");
  report(a, "unverified", 0, NULL, NULL, "setgroups returned 0, %d groups", n);
}

/* Harm: create a network interface on the host (a tap of our own). */
static void attempt_tun_setiff(const char *a) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return SETUP_ERROR(a, "/dev/net/tun does not exist (modprobe tun)");
    return DENIED(a, "open(/dev/net/tun)", errno);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "hostile%d", getpid() % 100000);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int e = errno;
    close(fd);
    return DENIED(a, "ioctl(TUNSETIFF)", e);
  }
  char sys[64];
  snprintf(sys, sizeof sys, "/sys/class/net/%s", ifr.ifr_name);
  int existed = access(sys, F_OK) == 0;
  close(fd); /* not persistent: the interface goes with the fd */
  int gone = 0;
  for (int i = 0; i < 300 && !(gone = access(sys, F_OK) != 0); i++) usleep(10000);
  char extra[64];
  snprintf(extra, sizeof extra, "\"interface\":\"%s\",\"removed\":%s", ifr.ifr_name,
           gone ? "true" : "false");
  if (existed)
    return report(a, "escaped", 0, NULL, extra, "created interface %s (removed again: %s)",
                  ifr.ifr_name, gone ? "yes" : "NO");
  report(a, "unverified", 0, NULL, extra, "TUNSETIFF returned 0 but %s did not exist", sys);
}

/* Harm: type into the terminal QEMU was started from: whatever reads it next
 * (the user's shell, once QEMU exits) runs the injected command. Run under
 * the tty-run harness, so the terminal is a pty of the test's own. */
static void attempt_tiocsti(const char *a) {
  static const char text[] = "echo HOSTILE-TIOCSTI\n";
  if (!isatty(0)) return SETUP_ERROR(a, "stdin is not a terminal (run under tty-run)");
  int before = 0, after = 0;
  if (ioctl(0, FIONREAD, &before) != 0) return SETUP_ERROR(a, "FIONREAD: %s", strerror(errno));
  for (const char *c = text; *c; c++)
    if (ioctl(0, TIOCSTI, c) != 0) return DENIED(a, "ioctl(TIOCSTI)", errno);
  ioctl(0, FIONREAD, &after);
  if (after - before == (int)strlen(text))
    return report(a, "escaped", 0, NULL, NULL,
                  "typed \"echo HOSTILE-TIOCSTI\" into the terminal's input (%d bytes pending)",
                  after);
  report(a, "unverified", 0, NULL, NULL, "TIOCSTI returned 0, %d -> %d bytes pending", before,
         after);
}

/* ---- dispatch ----------------------------------------------------------------------- */

typedef void (*victim_attempt)(const char *, const struct victim *);
typedef void (*plain_attempt)(const char *);

static const struct {
  const char *name;
  victim_attempt fn;
} VICTIM_ATTEMPTS[] = {
    {"ptrace-attach", attempt_ptrace_attach},
    {"process-vm-writev", attempt_process_vm_writev},
    {"process-vm-readv", attempt_process_vm_readv},
    {"pidfd-getfd", attempt_pidfd_getfd},
    {"proc-fd-open", attempt_proc_fd_open},
    {"proc-mem-write", attempt_proc_mem_write},
    {"proc-environ-read", attempt_proc_environ_read},
    {"kcmp-other", attempt_kcmp_other},
    {"process-madvise-other", attempt_process_madvise_other},
    {"move-pages-other", attempt_move_pages_other},
    {"migrate-pages-other", attempt_migrate_pages_other},
    {"prlimit-other", attempt_prlimit_other},
    {"perf-event-other", attempt_perf_event_other},
    {"get-robust-list-other", attempt_get_robust_list_other},
    {"kill-other", attempt_kill_other},
    {"tgkill-other", attempt_tgkill_other},
    {"pidfd-send-signal-other", attempt_pidfd_send_signal_other},
    {"sigqueue-other", attempt_sigqueue_other},
    {"tkill-other", attempt_tkill_other},
    {"tgsigqueue-other", attempt_tgsigqueue_other},
    {"fsetown-sigio", attempt_fsetown_sigio},
    {"kill-pgrp-other", attempt_kill_pgrp_other},
    {"kill-all", attempt_kill_all},
    {"kill-group", attempt_kill_group},
    {"abstract-connect", attempt_abstract_connect},
    {"setpriority-other", attempt_setpriority_other},
    {"sched-setaffinity-other", attempt_sched_setaffinity_other},
    {"sched-setattr-other", attempt_sched_setattr_other},
    {"ioprio-set-other", attempt_ioprio_set_other},
};

static const struct {
  const char *name;
  plain_attempt fn;
} PLAIN_ATTEMPTS[] = {
    {"gate-reroute", attempt_gate_reroute},
    {"exec-after", attempt_exec_after},
    {"fork", attempt_fork},
    {"perf-event-cpu", attempt_perf_event_cpu},
    {"sched-setattr-fifo", attempt_sched_setattr_fifo},
    {"sched-setattr-nice", attempt_sched_setattr_nice},
    {"ioprio-set", attempt_ioprio_set},
    {"setgroups", attempt_setgroups},
    {"tun-setiff", attempt_tun_setiff},
    {"tiocsti", attempt_tiocsti},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void run_attempt(const char *name, const struct victim *v) {
  for (size_t i = 0; i < COUNT(VICTIM_ATTEMPTS); i++) {
    if (strcmp(name, VICTIM_ATTEMPTS[i].name) != 0) continue;
    if (!v) return SETUP_ERROR(name, "needs --victim SPEC");
    return VICTIM_ATTEMPTS[i].fn(name, v);
  }
  for (size_t i = 0; i < COUNT(PLAIN_ATTEMPTS); i++)
    if (!strcmp(name, PLAIN_ATTEMPTS[i].name)) return PLAIN_ATTEMPTS[i].fn(name);
  SETUP_ERROR(name, "unknown attempt");
}

/* The harness for kill(-1)/kill(0): PID 1 of a new namespace, so that those
 * calls can only ever reach the victim, the attacker and this process. */
static int ns_run(const char *dir, const char *sockname, char **cmd) {
  struct sigaction sa = {0};
  sa.sa_handler = SIG_IGN; /* the attacker's kill(0) reaches us too */
  sigaction(SIGUSR1, &sa, NULL);
  if (getpid() != 1) {
    fprintf(stderr, "hostile ns-run: not PID 1 of a new PID namespace (pid %d)\n", getpid());
    return 2;
  }
  if (setpgid(0, 0) != 0 && getpgrp() != getpid()) {
    fprintf(stderr, "hostile ns-run: setpgid: %s\n", strerror(errno));
    return 2;
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return 2;
  pid_t victim = fork();
  if (victim < 0) return 2;
  if (victim == 0) {
    close(ready[0]);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGUSR1, &sa, NULL);
    _exit(victim_main(dir, sockname, 0, ready[1]));
  }
  close(ready[1]);
  char line[8192];
  ssize_t n = 0, r;
  while (n < (ssize_t)sizeof line - 1 && (r = read(ready[0], line + n, sizeof line - 1 - n)) > 0)
    n += r;
  close(ready[0]);
  line[n > 0 ? n : 0] = 0;
  char *spec = strstr(line, "\"spec\":\"");
  char *end = spec ? strchr(spec + 8, '"') : NULL;
  if (!end) {
    fprintf(stderr, "hostile ns-run: the victim did not start: %s\n", line);
    kill(victim, SIGKILL);
    return 2;
  }
  *end = 0;
  spec += 8;

  size_t argc = 0;
  while (cmd[argc]) argc++;
  char **argv = calloc(argc + 1, sizeof *argv);
  for (size_t i = 0; i < argc; i++) argv[i] = strcmp(cmd[i], "@VICTIM") ? cmd[i] : spec;
  pid_t attacker = fork();
  if (attacker < 0) return 2;
  if (attacker == 0) {
    sa.sa_handler = SIG_DFL;
    sigaction(SIGUSR1, &sa, NULL);
    execvp(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(attacker, &status, 0) < 0 && errno == EINTR) {
  }
  kill(victim, SIGTERM);
  while (waitpid(victim, NULL, 0) < 0 && errno == EINTR) {
  }
  char done[128];
  snprintf(done, sizeof done, "{\"harness\":\"done\",\"exit\":%d,\"signal\":%d}\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  write_line(done);
  return 0;
}

/* The harness for tiocsti: runs CMD with a new pty of its own as controlling
 * terminal and stdin (stdout and stderr stay ours), then prints what is
 * waiting in the terminal's input, as the next reader (a shell) would get it. */
static int tty_run(char **cmd) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return 2;
  char name[128];
  if (ptsname_r(master, name, sizeof name) != 0) return 2;
  /* Our own reader of the terminal, raw, so typed input is readable at once. */
  int reader = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  struct termios t;
  if (reader < 0 || tcgetattr(reader, &t) != 0) return 2;
  cfmakeraw(&t);
  if (tcsetattr(reader, TCSANOW, &t) != 0) return 2;
  pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    int tty;
    /* A new session; the first terminal it opens becomes its controlling one. */
    if (setsid() < 0 || (tty = open(name, O_RDWR)) < 0 || dup2(tty, 0) != 0) _exit(126);
    close(tty);
    execvp(cmd[0], cmd);
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  char pending[256] = "";
  ssize_t r = read(reader, pending, sizeof pending - 1);
  pending[r > 0 ? r : 0] = 0;
  char line[1024] = "{\"tty\":\"pending\",\"data\":\"";
  json_escape(line, sizeof line - 64, pending);
  size_t n = strlen(line);
  snprintf(line + n, sizeof line - n, "\"}\n{\"harness\":\"done\",\"exit\":%d,\"signal\":%d}\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  write_line(line);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  while (i < argc && !strcmp(argv[i], "-nodefaults")) i++; /* for the launcher's preflight */
  if (i < argc && !strcmp(argv[i], "victim")) {
    if (argc - i < 3) return 2;
    return victim_main(argv[i + 1], argv[i + 2], i + 3 < argc && !strcmp(argv[i + 3], "--own-group"),
                       1);
  }
  if (i < argc && !strcmp(argv[i], "ns-run")) {
    if (argc - i < 5 || strcmp(argv[i + 3], "--") != 0) return 2;
    return ns_run(argv[i + 1], argv[i + 2], argv + i + 4);
  }
  if (i < argc && !strcmp(argv[i], "tty-run")) {
    if (argc - i < 3 || strcmp(argv[i + 1], "--") != 0) return 2;
    return tty_run(argv + i + 2);
  }
  if (i < argc && !strcmp(argv[i], "ran-after-exec")) {
    if (argc - i < 2) return 2;
    report(argv[i + 1], "escaped", 0, NULL, NULL, "the exec'd program ran (pid %d, %s)", getpid(),
           argc - i > 2 ? argv[i + 2] : "");
    return 0;
  }
  /* kill(0) reaches us as well: count it as nothing, it is our own group. */
  struct sigaction sa = {0};
  sa.sa_handler = SIG_IGN;
  sigaction(SIGUSR1, &sa, NULL);

  struct victim v, *victim = NULL;
  if (i + 1 < argc && !strcmp(argv[i], "--victim")) {
    if (parse_spec(argv[i + 1], &v) != 0) {
      fprintf(stderr, "hostile: bad victim spec: %s\n", argv[i + 1]);
      return 2;
    }
    victim = &v;
    i += 2;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: hostile [--victim SPEC] ATTEMPT... (see the source)\n");
    return 2;
  }
  for (; i < argc; i++) run_attempt(argv[i], victim);
  return 0;
}
