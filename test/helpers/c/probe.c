/*
 * probe: a stand-in for the QEMU binary in the launcher's kernel tests
 * (QEMU_SANDBOXED_BINARY=<probe>). It reports the process state it inherited
 * and makes raw system calls on request, so the tests can prove, with real
 * processes on the real kernel, that the launcher is transparent and that the
 * filter it loaded denies what the policy says.
 *
 * Usage: probe CMD [ARGS...] [then CMD [ARGS...]]...
 *   Every command writes one JSON line to stdout, flushed before the next
 *   command runs, so when a command kills the process the caller knows which.
 *   state                      the inherited process state (one JSON object)
 *   try NAME|NR [ARG...] [--x32]
 *                              raw syscall(2); ARG: integer (dec, 0x.., -n),
 *                              null, bad (a PROT_NONE page: EFAULT),
 *                              str:TEXT, buf:N (N zero bytes), self (getpid())
 *   fork | fork-raw | vfork | clone-raw FLAGS | clone3 | clone-thread
 *   execveat | exec PATH [ARG...] | execed | int80 [NR [ARG...]] (i386 ABI, 6 args max)
 *   read-file PATH | pid
 * Leading -nodefaults arguments (for the launcher's preflight) are ignored.
 * Global option, first: --fork-each  run every `try` and `int80` in a forked
 *   child (the filter is inherited) and report how the child ended, so one
 *   process can test many calls whose action kills.
 * Wrapper: probe wrap [OPTS] -- PROG [ARGS...]: sets up inheritable state
 *   (signals, mask, umask, rlimits, descriptors at chosen numbers), optionally
 *   snapshots it (the state command's JSON) to a file, then execs PROG in place,
 *   so the tests know exactly what the launcher inherited (same PID). OPTS:
 *   --close-others (first) --close FD --ign SIG --dfl SIG --block SIG
 *   --umask OCT --rlimit RES:SOFT:HARD --nonblock FD --pipe R:W[:nonblock]
 *   --socketpair FD --file FD:r|rw|a:PATH --snapshot FILE
 *   --deny-seccomp all|listener (a filter that makes the launcher's load fail)
 * PROBE_MARKER=<file>: every probe start (not wrap) appends a line to it, so
 * the error tests can prove the probe never ran.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define X32_BIT 0x40000000L

/* Names known to this machine's headers (Linux 6.1 uapi, x86_64); anything
 * newer can be passed by number (the TS side resolves names from the same
 * generated table the launcher uses). */
#define SYSCALL_NAMES \
  X(read) X(write) X(open) X(close) X(stat) X(fstat) X(lstat) X(poll)  \
  X(lseek) X(mmap) X(mprotect) X(munmap) X(brk) X(rt_sigaction) X(rt_sigprocmask) X(rt_sigreturn)  \
  X(ioctl) X(pread64) X(pwrite64) X(readv) X(writev) X(access) X(pipe) X(select)  \
  X(sched_yield) X(mremap) X(msync) X(mincore) X(madvise) X(shmget) X(shmat) X(shmctl)  \
  X(dup) X(dup2) X(pause) X(nanosleep) X(getitimer) X(alarm) X(setitimer) X(getpid)  \
  X(sendfile) X(socket) X(connect) X(accept) X(sendto) X(recvfrom) X(sendmsg) X(recvmsg)  \
  X(shutdown) X(bind) X(listen) X(getsockname) X(getpeername) X(socketpair) X(setsockopt) X(getsockopt)  \
  X(clone) X(fork) X(vfork) X(execve) X(exit) X(wait4) X(kill) X(uname)  \
  X(semget) X(semop) X(semctl) X(shmdt) X(msgget) X(msgsnd) X(msgrcv) X(msgctl)  \
  X(fcntl) X(flock) X(fsync) X(fdatasync) X(truncate) X(ftruncate) X(getdents) X(getcwd)  \
  X(chdir) X(fchdir) X(rename) X(mkdir) X(rmdir) X(creat) X(link) X(unlink)  \
  X(symlink) X(readlink) X(chmod) X(fchmod) X(chown) X(fchown) X(lchown) X(umask)  \
  X(gettimeofday) X(getrlimit) X(getrusage) X(sysinfo) X(times) X(ptrace) X(getuid) X(syslog)  \
  X(getgid) X(setuid) X(setgid) X(geteuid) X(getegid) X(setpgid) X(getppid) X(getpgrp)  \
  X(setsid) X(setreuid) X(setregid) X(getgroups) X(setgroups) X(setresuid) X(getresuid) X(setresgid)  \
  X(getresgid) X(getpgid) X(setfsuid) X(setfsgid) X(getsid) X(capget) X(capset) X(rt_sigpending)  \
  X(rt_sigtimedwait) X(rt_sigqueueinfo) X(rt_sigsuspend) X(sigaltstack) X(utime) X(mknod) X(uselib) X(personality)  \
  X(ustat) X(statfs) X(fstatfs) X(sysfs) X(getpriority) X(setpriority) X(sched_setparam) X(sched_getparam)  \
  X(sched_setscheduler) X(sched_getscheduler) X(sched_get_priority_max) X(sched_get_priority_min) X(sched_rr_get_interval) X(mlock) X(munlock) X(mlockall)  \
  X(munlockall) X(vhangup) X(modify_ldt) X(pivot_root) X(_sysctl) X(prctl) X(arch_prctl) X(adjtimex)  \
  X(setrlimit) X(chroot) X(sync) X(acct) X(settimeofday) X(mount) X(umount2) X(swapon)  \
  X(swapoff) X(reboot) X(sethostname) X(setdomainname) X(iopl) X(ioperm) X(create_module) X(init_module)  \
  X(delete_module) X(get_kernel_syms) X(query_module) X(quotactl) X(nfsservctl) X(getpmsg) X(putpmsg) X(afs_syscall)  \
  X(tuxcall) X(security) X(gettid) X(readahead) X(setxattr) X(lsetxattr) X(fsetxattr) X(getxattr)  \
  X(lgetxattr) X(fgetxattr) X(listxattr) X(llistxattr) X(flistxattr) X(removexattr) X(lremovexattr) X(fremovexattr)  \
  X(tkill) X(time) X(futex) X(sched_setaffinity) X(sched_getaffinity) X(set_thread_area) X(io_setup) X(io_destroy)  \
  X(io_getevents) X(io_submit) X(io_cancel) X(get_thread_area) X(lookup_dcookie) X(epoll_create) X(epoll_ctl_old) X(epoll_wait_old)  \
  X(remap_file_pages) X(getdents64) X(set_tid_address) X(restart_syscall) X(semtimedop) X(fadvise64) X(timer_create) X(timer_settime)  \
  X(timer_gettime) X(timer_getoverrun) X(timer_delete) X(clock_settime) X(clock_gettime) X(clock_getres) X(clock_nanosleep) X(exit_group)  \
  X(epoll_wait) X(epoll_ctl) X(tgkill) X(utimes) X(vserver) X(mbind) X(set_mempolicy) X(get_mempolicy)  \
  X(mq_open) X(mq_unlink) X(mq_timedsend) X(mq_timedreceive) X(mq_notify) X(mq_getsetattr) X(kexec_load) X(waitid)  \
  X(add_key) X(request_key) X(keyctl) X(ioprio_set) X(ioprio_get) X(inotify_init) X(inotify_add_watch) X(inotify_rm_watch)  \
  X(migrate_pages) X(openat) X(mkdirat) X(mknodat) X(fchownat) X(futimesat) X(newfstatat) X(unlinkat)  \
  X(renameat) X(linkat) X(symlinkat) X(readlinkat) X(fchmodat) X(faccessat) X(pselect6) X(ppoll)  \
  X(unshare) X(set_robust_list) X(get_robust_list) X(splice) X(tee) X(sync_file_range) X(vmsplice) X(move_pages)  \
  X(utimensat) X(epoll_pwait) X(signalfd) X(timerfd_create) X(eventfd) X(fallocate) X(timerfd_settime) X(timerfd_gettime)  \
  X(accept4) X(signalfd4) X(eventfd2) X(epoll_create1) X(dup3) X(pipe2) X(inotify_init1) X(preadv)  \
  X(pwritev) X(rt_tgsigqueueinfo) X(perf_event_open) X(recvmmsg) X(fanotify_init) X(fanotify_mark) X(prlimit64) X(name_to_handle_at)  \
  X(open_by_handle_at) X(clock_adjtime) X(syncfs) X(sendmmsg) X(setns) X(getcpu) X(process_vm_readv) X(process_vm_writev)  \
  X(kcmp) X(finit_module) X(sched_setattr) X(sched_getattr) X(renameat2) X(seccomp) X(getrandom) X(memfd_create)  \
  X(kexec_file_load) X(bpf) X(execveat) X(userfaultfd) X(membarrier) X(mlock2) X(copy_file_range) X(preadv2)  \
  X(pwritev2) X(pkey_mprotect) X(pkey_alloc) X(pkey_free) X(statx) X(io_pgetevents) X(rseq) X(pidfd_send_signal)  \
  X(io_uring_setup) X(io_uring_enter) X(io_uring_register) X(open_tree) X(move_mount) X(fsopen) X(fsconfig) X(fsmount)  \
  X(fspick) X(pidfd_open) X(clone3) X(close_range) X(openat2) X(pidfd_getfd) X(faccessat2) X(process_madvise)  \
  X(epoll_pwait2) X(mount_setattr) X(quotactl_fd) X(landlock_create_ruleset) X(landlock_add_rule) X(landlock_restrict_self) X(memfd_secret) X(process_mrelease)  \
  X(futex_waitv) X(set_mempolicy_home_node) 

struct sysname {
  const char *name;
  long nr;
};
#define X(n) {#n, SYS_##n},
static const struct sysname SYSCALLS[] = {SYSCALL_NAMES};
#undef X

/* ---- output: JSON built in memory, written with write(2) ---------------- */

struct buf {
  char *p;
  size_t len, cap;
};

static void b_put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->len + n + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) _exit(120);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void b_raw(struct buf *b, const char *s) { b_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void b_fmt(struct buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
  b_put(b, tmp, (size_t)n);
}

/* A JSON string. Bytes >= 0x80 pass through (paths and environment values
 * here are UTF-8); control characters are escaped. */
static void b_str(struct buf *b, const char *s) {
  b_raw(b, "\"");
  if (!s) s = "";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      b_put(b, e, 2);
    } else if (c < 0x20) {
      b_fmt(b, "\\u%04x", c);
    } else {
      b_put(b, (const char *)&c, 1);
    }
  }
  b_raw(b, "\"");
}

/* stdout may have been left O_NONBLOCK by whoever started us (that is one of
 * the things the transparency test looks for): wait instead of losing output. */
static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, 1000);
        continue;
      }
      _exit(121);
    }
    p += w;
    n -= (size_t)w;
  }
}

static void emit(struct buf *b) {
  b_raw(b, "\n");
  write_all(1, b->p, b->len);
  b->len = 0;
}

static const char *errname(int e) {
  const char *n = e ? strerrorname_np(e) : NULL;
  return n ? n : "";
}

/* ---- state ---------------------------------------------------------------- */

static char *read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct buf b = {0};
  char tmp[4096];
  ssize_t n;
  while ((n = read(fd, tmp, sizeof tmp)) > 0) b_put(&b, tmp, (size_t)n);
  close(fd);
  if (!b.p) b_put(&b, "", 0);
  return b.p;
}

/* One "Key:\tvalue" line of /proc/self/status, or NULL. */
static char *status_field(const char *status, const char *key) {
  size_t kl = strlen(key);
  for (const char *l = status; l && *l;) {
    const char *nl = strchr(l, '\n');
    size_t ll = nl ? (size_t)(nl - l) : strlen(l);
    if (ll > kl && strncmp(l, key, kl) == 0 && l[kl] == ':') {
      const char *v = l + kl + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t vl = ll - (size_t)(v - l);
      char *r = malloc(vl + 1);
      if (!r) _exit(120);
      memcpy(r, v, vl);
      r[vl] = 0;
      return r;
    }
    l = nl ? nl + 1 : NULL;
  }
  return NULL;
}

static const char *RLIMIT_NAMES[] = {"CPU",     "FSIZE",   "DATA",   "STACK",  "CORE",   "RSS",
                                     "NPROC",   "NOFILE",  "MEMLOCK", "AS",    "LOCKS",  "SIGPENDING",
                                     "MSGQUEUE", "NICE",   "RTPRIO", "RTTIME"};

static void b_rlim(struct buf *b, rlim_t v) {
  if (v == RLIM_INFINITY)
    b_raw(b, "\"inf\"");
  else
    b_fmt(b, "\"%llu\"", (unsigned long long)v);
}

static void b_fds(struct buf *b) {
  /* First, before anything else opens a descriptor: the only extra one is the
   * directory stream's, which is skipped by number. */
  DIR *d = opendir("/proc/self/fd");
  b_raw(b, "[");
  if (!d) {
    b_raw(b, "]");
    return;
  }
  int self = dirfd(d);
  int fds[4096];
  int nfds = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && nfds < 4096) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd != self) fds[nfds++] = fd;
  }
  /* readdir order is the kernel's (ascending), but do not rely on it. */
  for (int i = 1; i < nfds; i++)
    for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
      int t = fds[j];
      fds[j] = fds[j - 1];
      fds[j - 1] = t;
    }
  for (int i = 0; i < nfds; i++) {
    int fd = fds[i];
    char path[64], target[4096];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    int fdfl = fcntl(fd, F_GETFD);
    int fl = fcntl(fd, F_GETFL);
    b_fmt(b, "%s{\"fd\":%d,\"cloexec\":%s,\"flags\":%d,\"target\":", i ? "," : "", fd,
          (fdfl >= 0 && (fdfl & FD_CLOEXEC)) ? "true" : "false", fl);
    b_str(b, target);
    b_raw(b, "}");
  }
  closedir(d);
  b_raw(b, "]");
}

static void b_sigset_hex(struct buf *b, const char *name, const char *hex) {
  /* Signals set in a /proc/self/status mask (SigBlk, SigIgn, SigCgt). */
  unsigned long long m = hex ? strtoull(hex, NULL, 16) : 0;
  b_fmt(b, "\"%s\":[", name);
  int first = 1;
  for (int s = 1; s <= 64; s++)
    if (m & (1ULL << (s - 1))) {
      b_fmt(b, "%s%d", first ? "" : ",", s);
      first = 0;
    }
  b_raw(b, "]");
}

static void state(struct buf *b, int argc, char **argv) {
  b_raw(b, "{\"op\":\"state\",\"fds\":");
  b_fds(b);
  b_fmt(b, ",\"pid\":%d,\"ppid\":%d,\"pgid\":%d,\"sid\":%d", getpid(), getppid(), getpgid(0),
        getsid(0));
  b_raw(b, ",\"argv\":[");
  for (int i = 0; i < argc; i++) {
    if (i) b_raw(b, ",");
    b_str(b, argv[i]);
  }
  b_raw(b, "],\"environ\":[");
  for (char **e = environ; e && *e; e++) {
    if (e != environ) b_raw(b, ",");
    b_str(b, *e);
  }
  char cwd[4096];
  b_raw(b, "],\"cwd\":");
  b_str(b, getcwd(cwd, sizeof cwd) ? cwd : "");
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n < 0 ? 0 : n] = 0;
  b_raw(b, ",\"exe\":");
  b_str(b, exe);

  b_raw(b, ",\"rlimits\":{");
  for (int r = 0; r < RLIM_NLIMITS && r < (int)(sizeof RLIMIT_NAMES / sizeof *RLIMIT_NAMES); r++) {
    struct rlimit rl;
    if (getrlimit((__rlimit_resource_t)r, &rl) != 0) continue;
    b_fmt(b, "%s\"%s\":[", r ? "," : "", RLIMIT_NAMES[r]);
    b_rlim(b, rl.rlim_cur);
    b_raw(b, ",");
    b_rlim(b, rl.rlim_max);
    b_raw(b, "]");
  }
  b_raw(b, "}");

  char *cg = read_file("/proc/self/cgroup");
  b_raw(b, ",\"cgroup\":");
  b_str(b, cg);
  free(cg);
  char *oom = read_file("/proc/self/oom_score_adj");
  if (oom) oom[strcspn(oom, "\n")] = 0;
  b_raw(b, ",\"oom_score_adj\":");
  b_str(b, oom);
  free(oom);
  char *comm = read_file("/proc/self/comm");
  if (comm) comm[strcspn(comm, "\n")] = 0;
  b_raw(b, ",\"comm\":");
  b_str(b, comm);
  free(comm);

  /* Values only prctl/getters show. All survive execve, so a launcher that
   * changed them would be visible to QEMU. */
  int pdeath = 0;
  prctl(PR_GET_PDEATHSIG, &pdeath);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  struct itimerval it[3];
  for (int i = 0; i < 3; i++) getitimer(i, &it[i]);
  b_fmt(b,
        ",\"uid\":[%d,%d],\"gid\":[%d,%d],\"nice\":%d,\"personality\":%d,\"pdeathsig\":%d,"
        "\"dumpable\":%d,\"subreaper\":%d,\"securebits\":%d,\"timerslack\":%d,"
        "\"sched_policy\":%d,\"at_secure\":%lu,\"itimers\":[%ld,%ld,%ld]",
        getuid(), geteuid(), getgid(), getegid(), nice, personality(0xffffffff), pdeath,
        prctl(PR_GET_DUMPABLE), ({
          int sr = 0;
          prctl(PR_GET_CHILD_SUBREAPER, &sr);
          sr;
        }),
        prctl(PR_GET_SECUREBITS), prctl(PR_GET_TIMERSLACK), sched_getscheduler(0),
        getauxval(AT_SECURE), (long)(it[0].it_value.tv_sec + it[0].it_interval.tv_sec),
        (long)(it[1].it_value.tv_sec + it[1].it_interval.tv_sec),
        (long)(it[2].it_value.tv_sec + it[2].it_interval.tv_sec));

  char *st = read_file("/proc/self/status");
  static const char *keys[] = {"Umask",  "NoNewPrivs",        "Seccomp",          "Seccomp_filters",
                               "SigBlk", "SigIgn",            "SigCgt",           "CapInh",
                               "CapPrm", "CapEff",            "CapBnd",           "CapAmb",
                               "Groups", "Cpus_allowed_list", "Mems_allowed_list", "Speculation_Store_Bypass"};
  b_raw(b, ",\"status\":{");
  int first = 1;
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    char *v = status_field(st, keys[i]);
    if (!v) continue;
    b_fmt(b, "%s\"%s\":", first ? "" : ",", keys[i]);
    b_str(b, v);
    first = 0;
    free(v);
  }
  b_raw(b, "}");
  /* Per-signal view of the masks (the kernel's, not glibc's, which hides 32
   * and 33): blocked, ignored, caught. */
  char *blk = status_field(st, "SigBlk"), *ign = status_field(st, "SigIgn"),
       *cgt = status_field(st, "SigCgt");
  b_raw(b, ",");
  b_sigset_hex(b, "blocked", blk);
  b_raw(b, ",");
  b_sigset_hex(b, "ignored", ign);
  b_raw(b, ",");
  b_sigset_hex(b, "caught", cgt);
  free(blk);
  free(ign);
  free(cgt);
  free(st);
  b_raw(b, "}");
}

/* ---- try: raw system calls ------------------------------------------------ */

static void *bad_page;

static long lookup_nr(const char *s, int *ok) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 0);
  if (*s && !*end && !errno) {
    *ok = 1;
    return v;
  }
  for (size_t i = 0; i < sizeof SYSCALLS / sizeof *SYSCALLS; i++)
    if (strcmp(SYSCALLS[i].name, s) == 0) {
      *ok = 1;
      return SYSCALLS[i].nr;
    }
  *ok = 0;
  return -1;
}

static long parse_arg(const char *s, int *ok) {
  *ok = 1;
  if (strcmp(s, "null") == 0) return 0;
  if (strcmp(s, "bad") == 0) return (long)bad_page;
  if (strcmp(s, "self") == 0) return getpid();
  if (strncmp(s, "str:", 4) == 0) {
    char *p = strdup(s + 4);
    if (!p) _exit(120);
    return (long)p;
  }
  if (strncmp(s, "buf:", 4) == 0) {
    size_t n = strtoul(s + 4, NULL, 0);
    void *p = calloc(1, n ? n : 1);
    if (!p) _exit(120);
    return (long)p;
  }
  char *end;
  errno = 0;
  long v;
  if (s[0] == '-')
    v = strtol(s, &end, 0);
  else
    v = (long)strtoul(s, &end, 0);
  if (!*s || *end || errno) *ok = 0;
  return v;
}

/* SIGSYS from SECCOMP_RET_TRAP is catchable: record it, so the tests tell the
 * trap action (caught here, the process lives) from kill (uncatchable death). */
static volatile sig_atomic_t trap_count;
static volatile long trap_nr, trap_code;
static volatile unsigned long trap_arch;

static void on_sigsys(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  trap_count++;
  trap_nr = si->si_syscall;
  trap_arch = si->si_arch;
  trap_code = si->si_code;
}

static void install_sigsys(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSYS, &sa, NULL);
}

/* Runs one `try` into b (without the trailing newline). */
static void do_try(struct buf *b, int argc, char **argv) {
  int x32 = 0, n = 0, ok;
  long args[6] = {0};
  if (argc < 1) {
    b_raw(b, "{\"op\":\"try\",\"error\":\"usage: try NAME|NR [ARGS...] [--x32]\"}");
    return;
  }
  long nr = lookup_nr(argv[0], &ok);
  if (!ok) {
    b_raw(b, "{\"op\":\"try\",\"error\":\"unknown syscall\",\"name\":");
    b_str(b, argv[0]);
    b_raw(b, "}");
    return;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--x32") == 0) {
      x32 = 1;
      continue;
    }
    if (n == 6) {
      b_raw(b, "{\"op\":\"try\",\"error\":\"more than 6 arguments\"}");
      return;
    }
    args[n++] = parse_arg(argv[i], &ok);
    if (!ok) {
      b_raw(b, "{\"op\":\"try\",\"error\":\"bad argument\",\"arg\":");
      b_str(b, argv[i]);
      b_raw(b, "}");
      return;
    }
  }
  /* A raw fork/vfork/clone that succeeded would leave two copies running the
   * rest of the command list (and a raw vfork would corrupt our stack): those
   * have their own commands. x32 numbers never create a process here (the
   * kernel has no x32), so they stay allowed. */
  if (!x32 && (nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone || nr == SYS_clone3)) {
    b_raw(b, "{\"op\":\"try\",\"error\":\"use the fork/vfork/clone-raw/clone3 commands\"}");
    return;
  }
  long real = x32 ? (nr | X32_BIT) : nr;
  int before = trap_count;
  errno = 0;
  long r = syscall(real, args[0], args[1], args[2], args[3], args[4], args[5]);
  int e = r == -1 ? errno : 0;
  b_raw(b, "{\"op\":\"try\",\"name\":");
  b_str(b, argv[0]);
  b_fmt(b, ",\"nr\":%ld,\"abi\":\"%s\",\"ret\":%ld,\"errno\":%d,\"errname\":\"%s\",\"pid\":%d", nr,
        x32 ? "x32" : "x86_64", r, e, errname(e), getpid());
  if (trap_count != before)
    b_fmt(b, ",\"trap\":{\"nr\":%ld,\"arch\":%lu,\"code\":%ld}", (long)trap_nr,
          (unsigned long)trap_arch, (long)trap_code);
  b_raw(b, "}");
}

/* ---- process creation and exec -------------------------------------------- */

static void b_child(struct buf *b, const char *op, long r, int e) {
  b_fmt(b, "{\"op\":\"%s\",\"ret\":%ld,\"errno\":%d,\"errname\":\"%s\"", op, r, e, errname(e));
  if (r > 0) {
    int status = 0;
    waitpid((pid_t)r, &status, __WALL);
    b_fmt(b, ",\"child_exit\":%d", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
  }
  b_raw(b, "}");
}

static void *thread_main(void *arg) {
  *(int *)arg = 42;
  return arg;
}

static int fault_sig;
static sigjmp_buf fault_jmp;
static void on_fault(int sig) {
  fault_sig = sig;
  siglongjmp(fault_jmp, 1);
}

static void do_int80(struct buf *b, int argc, char **argv) {
  /* int $0x80: the i386 ABI from a 64-bit process. Default: eax = 20 (getpid
   * in the i386 table). A kernel without IA32 emulation raises #GP before any
   * seccomp filter runs (SIGSEGV, caught here); with it, seccomp sees
   * AUDIT_ARCH_I386 and our filter must kill. Arguments: NR [ARG...] (ebx ecx edx esi edi ebp). */
  long nr = 20, a[6] = {0, 0, 0, 0, 0, 0};
  int ok = 1;
  if (argc > 1) nr = parse_arg(argv[1], &ok);
  for (int i = 0; i < 6 && i + 2 < argc && ok; i++)
    /* 32-bit registers: our PROT_NONE page's address would be truncated to
     * some other, maybe mapped, address; page 1 is never mapped
     * (vm.mmap_min_addr) and always gives EFAULT. */
    a[i] = strcmp(argv[i + 2], "bad") == 0 ? 0x1000 : parse_arg(argv[i + 2], &ok);
  if (!ok || argc > 8) {
    b_raw(b, "{\"op\":\"int80\",\"error\":\"bad argument\"}");
    return;
  }
  struct sigaction sa, old_segv, old_bus, old_ill;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  sigaction(SIGILL, &sa, &old_ill);
  int before = trap_count;
  if (sigsetjmp(fault_jmp, 1) == 0) {
    long ret = nr;
    /* ebp carries the 6th argument: saved around the call by hand, below
     * the red zone, since it cannot be named as an operand. */
    __asm__ volatile(
        "sub $128, %%rsp\n\t"
        "push %%rbp\n\t"
        "mov %[a5], %%rbp\n\t"
        "int $0x80\n\t"
        "pop %%rbp\n\t"
        "add $128, %%rsp"
        : "+a"(ret)
        : "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4]), [a5] "r"(a[5])
        : "memory", "cc", "r8", "r9", "r10", "r11");
    /* If a filter wrongly let an i386 fork/vfork/clone through, this is the
     * child: leave at once (a vfork child must not return from here). */
    if (ret == 0 && (nr == 2 || nr == 190 || nr == 120)) _exit(7);
    /* i386 returns -errno in eax (32-bit) */
    int r32 = (int)ret;
    int e = r32 < 0 && r32 > -4096 ? -r32 : 0;
    b_fmt(b,
          "{\"op\":\"int80\",\"nr\":%ld,\"outcome\":\"returned\",\"ret\":%d,\"errno\":%d,"
          "\"errname\":\"%s\",\"pid\":%d",
          nr, e ? -1 : r32, e, errname(e), getpid());
  } else {
    b_fmt(b, "{\"op\":\"int80\",\"nr\":%ld,\"outcome\":\"fault\",\"signal\":%d", nr, fault_sig);
  }
  if (trap_count != before) b_fmt(b, ",\"trap\":{\"nr\":%ld,\"arch\":%lu}", (long)trap_nr, (unsigned long)trap_arch);
  b_raw(b, "}");
  sigaction(SIGSEGV, &old_segv, NULL);
  sigaction(SIGBUS, &old_bus, NULL);
  sigaction(SIGILL, &old_ill, NULL);
}

/* The whole command line, for `state` (QEMU's argv as the launcher built it). */
static int g_argc;
static char **g_argv;

/* Runs one command (argv[0..argc)) and writes its JSON line. */
static void run_one(struct buf *b, int argc, char **argv, int fork_each) {
  const char *op = argv[0];
  if (strcmp(op, "state") == 0) {
    state(b, g_argc, g_argv);
  } else if (strcmp(op, "pid") == 0) {
    b_fmt(b, "{\"op\":\"pid\",\"pid\":%d,\"ppid\":%d}", getpid(), getppid());
  } else if ((strcmp(op, "try") == 0 || strcmp(op, "int80") == 0) && fork_each) {
    /* The child inherits the filter; it reports through a pipe, the parent
     * adds how the child ended (a kill action leaves only that). */
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      b_fmt(b, "{\"op\":\"%s\",\"error\":\"pipe: %s\"}", op, strerror(errno));
      return;
    }
    pid_t c = fork();
    if (c == 0) {
      close(p[0]);
      struct buf cb = {0};
      if (op[0] == 't')
        do_try(&cb, argc - 1, argv + 1);
      else
        do_int80(&cb, argc, argv);
      write_all(p[1], cb.p, cb.len);
      _exit(0);
    }
    close(p[1]);
    if (c < 0) {
      close(p[0]);
      b_fmt(b, "{\"op\":\"%s\",\"error\":\"fork: %s\"}", op, strerror(errno));
      return;
    }
    struct buf cb = {0};
    char tmp[4096];
    ssize_t n;
    while ((n = read(p[0], tmp, sizeof tmp)) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      b_put(&cb, tmp, (size_t)n);
    }
    close(p[0]);
    int status = 0;
    waitpid(c, &status, 0);
    b_fmt(b, "{\"op\":\"%s\",\"forked\":true,\"result\":", op);
    b_raw(b, cb.len ? cb.p : "null");
    if (WIFSIGNALED(status))
      b_fmt(b, ",\"signal\":%d,\"core\":%s}", WTERMSIG(status), WCOREDUMP(status) ? "true" : "false");
    else
      b_fmt(b, ",\"exit\":%d}", WEXITSTATUS(status));
    free(cb.p);
  } else if (strcmp(op, "try") == 0) {
    b_raw(b, "{\"op\":\"try\",\"forked\":false,\"result\":");
    struct buf cb = {0};
    do_try(&cb, argc - 1, argv + 1);
    b_raw(b, cb.p);
    b_raw(b, "}");
    free(cb.p);
  } else if (strcmp(op, "fork") == 0) {
    /* glibc fork(): clone(SIGCHLD | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID) */
    pid_t r = fork();
    if (r == 0) _exit(7);
    b_child(b, op, r, r < 0 ? errno : 0);
  } else if (strcmp(op, "fork-raw") == 0) {
    long r = syscall(SYS_fork);
    if (r == 0) _exit(7);
    b_child(b, op, r, r < 0 ? errno : 0);
  } else if (strcmp(op, "vfork") == 0) {
    pid_t r = vfork(); /* glibc's vfork is the vfork syscall on x86_64 */
    if (r == 0) _exit(7);
    b_child(b, op, r, r < 0 ? errno : 0);
  } else if (strcmp(op, "clone-raw") == 0) {
    /* clone(flags) without CLONE_VM and with a NULL stack: fork-like, safe. */
    int ok = 1;
    long flags = argc > 1 ? parse_arg(argv[1], &ok) : SIGCHLD;
    if (!ok || (flags & CLONE_VM)) {
      b_raw(b, "{\"op\":\"clone-raw\",\"error\":\"bad flags (CLONE_VM is not allowed here)\"}");
      return;
    }
    long r = syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);
    if (r == 0) _exit(7);
    b_child(b, op, r, r < 0 ? errno : 0);
  } else if (strcmp(op, "clone3") == 0) {
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0) _exit(7);
    b_child(b, op, r, r < 0 ? errno : 0);
  } else if (strcmp(op, "clone-thread") == 0) {
    pthread_t t;
    int v = 0;
    void *res = NULL;
    int e = pthread_create(&t, NULL, thread_main, &v);
    if (e == 0) pthread_join(t, &res);
    b_fmt(b, "{\"op\":\"clone-thread\",\"ret\":%d,\"errno\":%d,\"errname\":\"%s\",\"ran\":%s}",
          e ? -1 : 0, e, errname(e), v == 42 ? "true" : "false");
  } else if (strcmp(op, "execveat") == 0 || strcmp(op, "exec") == 0) {
    /* Exec ourselves (or PATH) again; success is shown by the new image's
     * `execed` line with the same pid. */
    const char *path = strcmp(op, "exec") == 0 && argc > 1 ? argv[1] : "/proc/self/exe";
    char *nargv[64];
    int k = 0;
    nargv[k++] = (char *)path;
    if (strcmp(op, "exec") == 0 && argc > 2)
      for (int i = 2; i < argc && k < 63; i++) nargv[k++] = argv[i];
    else
      nargv[k++] = "execed";
    nargv[k] = NULL;
    long r;
    if (strcmp(op, "execveat") == 0)
      r = syscall(SYS_execveat, AT_FDCWD, path, nargv, environ, 0);
    else
      r = syscall(SYS_execve, path, nargv, environ);
    int e = errno;
    b_fmt(b, "{\"op\":\"%s\",\"ret\":%ld,\"errno\":%d,\"errname\":\"%s\",\"pid\":%d}", op, r, e,
          errname(e), getpid());
  } else if (strcmp(op, "execed") == 0) {
    b_fmt(b, "{\"op\":\"execed\",\"pid\":%d}", getpid());
  } else if (strcmp(op, "int80") == 0) {
    do_int80(b, argc, argv);
  } else if (strcmp(op, "read-file") == 0) {
    const char *path = argc > 1 ? argv[1] : "/proc/self/stat";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char tmp[64];
    long r = fd < 0 ? -1 : read(fd, tmp, sizeof tmp);
    int e = r < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    b_fmt(b, "{\"op\":\"read-file\",\"ret\":%ld,\"errno\":%d,\"errname\":\"%s\"}", r, e, errname(e));
  } else {
    b_raw(b, "{\"error\":\"unknown command\",\"op\":");
    b_str(b, op);
    b_raw(b, "}");
  }
}

/* ---- wrap: set up inherited state, then exec ------------------------------ */

static int parse_sig(const char *s) {
  static const struct {
    const char *n;
    int s;
  } names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
               {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
               {"CHLD", SIGCHLD}, {"XFSZ", SIGXFSZ}, {"WINCH", SIGWINCH}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(names[i].n, s) == 0) return names[i].s;
  return atoi(s);
}

static void die(const char *what) {
  fprintf(stderr, "probe wrap: %s: %s\n", what, strerror(errno));
  exit(125);
}

/* A new descriptor parked high and close-on-exec until it is put in place. */
static int park(int fd) {
  int h = fcntl(fd, F_DUPFD_CLOEXEC, 600);
  if (h < 0) die("F_DUPFD");
  close(fd);
  return h;
}

/*
 * A filter the launcher inherits, to make its own filter load fail (the
 * fail-closed tests): "all" answers EPERM to seccomp() and
 * prctl(PR_SET_SECCOMP); "listener" answers EINVAL to seccomp() with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER, like a kernel without user notification.
 */
static void deny_seccomp(const char *how) {
  struct sock_filter all[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),               /* nr */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 3, 0), /* -> deny */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 0, 3),   /* -> allow */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),              /* args[0] low */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_SECCOMP, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_filter listener[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 24), /* args[1] low: flags */
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog;
  if (strcmp(how, "all") == 0) {
    prog.len = sizeof all / sizeof *all;
    prog.filter = all;
  } else if (strcmp(how, "listener") == 0) {
    prog.len = sizeof listener / sizeof *listener;
    prog.filter = listener;
  } else {
    fprintf(stderr, "probe wrap: --deny-seccomp all|listener\n");
    exit(125);
  }
  /* root with CAP_SYS_ADMIN needs no no-new-privs for this (and must not set
   * it: the launcher decides that) */
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) die("PR_SET_SECCOMP");
}

static int wrap(int argc, char **argv) {
  int place_from[64], place_to[64], nplace = 0;
  const char *snapshot = NULL;
  int i = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(o, "--ign") == 0 || strcmp(o, "--dfl") == 0) {
      if (signal(parse_sig(v), o[2] == 'i' ? SIG_IGN : SIG_DFL) == SIG_ERR) die("signal");
      i++;
    } else if (strcmp(o, "--block") == 0) {
      /* glibc refuses 32/33 in sigprocmask; the raw call takes any signal */
      unsigned long long m = 1ULL << (parse_sig(v) - 1);
      if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, &m, NULL, 8) != 0) die("rt_sigprocmask");
      i++;
    } else if (strcmp(o, "--umask") == 0) {
      umask((mode_t)strtoul(v, NULL, 8));
      i++;
    } else if (strcmp(o, "--rlimit") == 0) {
      /* RES:SOFT:HARD, values or "inf" */
      int res = atoi(v);
      const char *s = strchr(v, ':');
      const char *h = s ? strchr(s + 1, ':') : NULL;
      if (!s || !h) {
        fprintf(stderr, "probe wrap: --rlimit RES:SOFT:HARD\n");
        return 125;
      }
      struct rlimit rl;
      rl.rlim_cur = strncmp(s + 1, "inf", 3) == 0 ? RLIM_INFINITY : strtoull(s + 1, NULL, 0);
      rl.rlim_max = strcmp(h + 1, "inf") == 0 ? RLIM_INFINITY : strtoull(h + 1, NULL, 0);
      if (setrlimit((__rlimit_resource_t)res, &rl) != 0) die("setrlimit");
      i++;
    } else if (strcmp(o, "--nonblock") == 0) {
      int fd = atoi(v);
      int fl = fcntl(fd, F_GETFL);
      if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) die("F_SETFL");
      i++;
    } else if (strcmp(o, "--pipe") == 0) {
      /* RFD:WFD[:nonblock-w] */
      int p[2];
      if (pipe(p) != 0) die("pipe");
      place_from[nplace] = park(p[0]);
      place_to[nplace++] = atoi(v);
      const char *w = strchr(v, ':');
      place_from[nplace] = park(p[1]);
      place_to[nplace++] = w ? atoi(w + 1) : -1;
      if (w && strstr(w + 1, ":nonblock")) fcntl(place_from[nplace - 1], F_SETFL, O_NONBLOCK);
      i++;
    } else if (strcmp(o, "--socketpair") == 0) {
      /* AFD (the other end is closed) */
      int sp[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) != 0) die("socketpair");
      place_from[nplace] = park(sp[0]);
      place_to[nplace++] = atoi(v);
      close(sp[1]);
      i++;
    } else if (strcmp(o, "--file") == 0) {
      /* FD:MODE:PATH, MODE r | rw | a (O_WRONLY|O_APPEND) */
      int fd = atoi(v);
      const char *m = strchr(v, ':');
      const char *p = m ? strchr(m + 1, ':') : NULL;
      if (!m || !p) {
        fprintf(stderr, "probe wrap: --file FD:MODE:PATH\n");
        return 125;
      }
      int fl = strncmp(m + 1, "rw", 2) == 0 ? O_RDWR : strncmp(m + 1, "a", 1) == 0 ? O_WRONLY | O_APPEND : O_RDONLY;
      int f = open(p + 1, fl | O_CREAT, 0600);
      if (f < 0) die("open");
      place_from[nplace] = park(f);
      place_to[nplace++] = fd;
      i++;
    } else if (strcmp(o, "--deny-seccomp") == 0) {
      deny_seccomp(v);
      i++;
    } else if (strcmp(o, "--close") == 0) {
      close(atoi(v));
      i++;
    } else if (strcmp(o, "--close-others") == 0) {
      /* Put first: closes what our own parent leaked (fds > 2), so the set of
       * descriptors is exactly the one the options build. */
      if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) die("close_range");
    } else if (strcmp(o, "--snapshot") == 0) {
      snapshot = v;
      i++;
    } else {
      fprintf(stderr, "probe wrap: unknown option %s\n", o);
      return 125;
    }
  }
  if (i >= argc - 1) {
    fprintf(stderr, "probe wrap: missing -- PROG [ARGS]\n");
    return 125;
  }
  for (int k = 0; k < nplace; k++) {
    if (place_to[k] >= 0 && dup2(place_from[k], place_to[k]) < 0) die("dup2");
    close(place_from[k]);
  }
  char **prog = argv + i + 1;
  if (snapshot) {
    struct buf b = {0};
    int n = 0;
    while (prog[n]) n++;
    state(&b, n, prog);
    int f = open(snapshot, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (f < 0) die("open snapshot");
    write_all(f, b.p, b.len);
    close(f);
  }
  execv(prog[0], prog);
  die("execv");
  return 125;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "wrap") == 0) return wrap(argc - 2, argv + 2);

  const char *marker = getenv("PROBE_MARKER");
  if (marker && *marker) {
    int f = open(marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (f >= 0) {
      struct buf m = {0};
      b_fmt(&m, "%d", getpid());
      for (int i = 1; i < argc; i++) {
        b_raw(&m, " ");
        b_raw(&m, argv[i]);
      }
      b_raw(&m, "\n");
      write_all(f, m.p, m.len);
      close(f);
      free(m.p);
    }
  }

  g_argc = argc;
  g_argv = argv;
  int i = 1, fork_each = 0;
  /* QEMU options the launcher must see are accepted and ignored before the
   * commands: -nodefaults (so a network=deny policy does not expect QEMU's
   * default user-net NIC) and -name NAME (which picks the site config's
   * per-VM policy). */
  for (;;) {
    if (i < argc && strcmp(argv[i], "-nodefaults") == 0)
      i++;
    else if (i + 1 < argc && strcmp(argv[i], "-name") == 0)
      i += 2;
    else
      break;
  }
  if (i < argc && strcmp(argv[i], "--fork-each") == 0) {
    fork_each = 1;
    i++;
  }
  if (i >= argc) {
    fprintf(stderr, "usage: probe [--fork-each] CMD [ARGS...] [then CMD [ARGS...]]...\n");
    return 2;
  }
  /* Only commands that make system calls change anything: `state` must see
   * exactly what it inherited. */
  int needs_setup = 0;
  for (int k = i; k < argc; k++)
    if (strcmp(argv[k], "state") != 0 && strcmp(argv[k], "pid") != 0 && strcmp(argv[k], "then") != 0 &&
        (k == i || strcmp(argv[k - 1], "then") == 0))
      needs_setup = 1;
  if (needs_setup) {
    bad_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    install_sigsys();
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore); /* a SIGSYS kill would dump core */
  }
  struct buf b = {0};
  while (i < argc) {
    int j = i;
    while (j < argc && strcmp(argv[j], "then") != 0) j++;
    char *saved = argv[j];
    argv[j] = NULL;
    run_one(&b, j - i, argv + i, fork_each);
    argv[j] = saved;
    emit(&b);
    i = j + 1;
  }
  return 0;
}
