/*
 * Builds QEMU's -sandbox deny-list with libseccomp, the way QEMU 9.x
 * (system/qemu-seccomp.c) does, and writes libseccomp's BPF for one ABI.
 * It is the independent side of the differential test and of the benchmark:
 * the rule set is written here from QEMU's source, never from our filters/.
 *
 * usage: libseccomp-export ARCH SETS OPTIMIZE OUTFILE [RULESFILE]
 *   ARCH      x86_64 | aarch64 (the program is built for that ABI only)
 *   SETS      "none" or a comma list of obsolete,privileged,spawn,resourcecontrol
 *             (QEMU's default set is always on, as in QEMU); or "rules": then
 *             the rules come from RULESFILE instead (the benchmark gives
 *             libseccomp exactly our rule set), one per line:
 *               NAME ACTION [ARG OP A B]   (ACTION hex SCMP_ACT_*, OP eq|ne|lt|gt|masked_eq,
 *                                           A B hex; masked_eq: (arg & A) == B)
 *   OPTIMIZE  1 (QEMU's build: libseccomp's default, priority-ordered) or
 *             2 (binary tree, SCMP_FLTATR_CTL_OPTIMIZE)
 *   OUTFILE   where seccomp_export_bpf writes the raw struct sock_filter array
 * exit: 0 ok; 2 usage; 3 the installed libseccomp lacks OPTIMIZE 2; 1 other error.
 */
#define _GNU_SOURCE /* CLONE_*, CSIGNAL and SCHED_IDLE from <sched.h> */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

enum { SET_DEFAULT = 1, SET_OBSOLETE = 2, SET_PRIVILEGED = 4, SET_SPAWN = 8, SET_RESOURCECTL = 16 };

/* Action markers resolved in add(): QEMU's TRAP is upgraded to KILL_PROCESS
 * when the kernel has it (it does here); its "no action given" entries are 0,
 * which is libseccomp's SCMP_ACT_KILL (kill thread). */
#define A_KILL SCMP_ACT_KILL_PROCESS
#define A_ZERO 0u

static const char *const default_set[] = {
    "reboot", "swapon",  "swapoff", "syslog", "mount",   "umount",  "kexec_load", "afs_syscall",
    "break",  "ftime",   "getpmsg", "gtty",   "lock",    "mpx",     "prof",       "profil",
    "putpmsg", "security", "stty",  "tuxcall", "ulimit", "vserver", NULL};
static const char *const obsolete_set[] = {"readdir",         "_sysctl",      "bdflush",  "create_module",
                                           "get_kernel_syms", "query_module", "sgetmask", "ssetmask",
                                           "sysfs",           "uselib",       "ustat",    NULL};
static const char *const privileged_set[] = {"setuid",    "setgid",    "setpgid",  "setsid",
                                             "setreuid",  "setregid",  "setresuid", "setresgid",
                                             "setfsuid",  "setfsgid",  NULL};

/* pthread_create always sets these; a clone lacking one is a process spawn. */
static const unsigned long required_clone[] = {
    CLONE_VM,     CLONE_FS,     CLONE_FILES,         CLONE_SIGHAND,        CLONE_THREAD,
    CLONE_SYSVSEM, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, 0};
/* Any of these means something other than a plain thread. */
static const unsigned long forbidden_clone[] = {
    CLONE_PIDFD,   CLONE_PTRACE,  CLONE_VFORK,   CLONE_PARENT,  CLONE_NEWNS,
    CLONE_UNTRACED, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
    CLONE_NEWPID,  CLONE_NEWNET,  CLONE_IO,      0};

static scmp_filter_ctx ctx;
/* In rules mode a name this libseccomp does not know (a syscall newer than
 * it) is skipped and reported on stdout as "skipped NAME", not an error. */
static int lenient;

static void die(const char *what, int rc) {
  fprintf(stderr, "libseccomp-export: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
  exit(1);
}

/* Resolves like QEMU's SCMP_SYS(): by name for the build host; libseccomp
 * translates the number to each filter ABI and skips names an ABI lacks. */
static void add(const char *name, uint32_t action, unsigned int narg, const struct scmp_arg_cmp *cmp) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) {
    if (lenient) {
      printf("skipped %s\n", name);
      return;
    }
    fprintf(stderr, "libseccomp-export: unknown syscall %s\n", name);
    exit(1);
  }
  int rc = seccomp_rule_add_array(ctx, action, nr, narg, cmp);
  if (rc < 0) die(name, rc);
}

static void add_list(const char *const *names, uint32_t action) {
  for (; *names; names++) add(*names, action, 0, NULL);
}

/* Rules given as data (see the usage above). */
static void add_rules_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die(path, errno);
  char line[512];
  while (fgets(line, sizeof(line), f)) {
    char name[128], op[32];
    unsigned int action, arg;
    unsigned long long a, b;
    int n = sscanf(line, "%127s %x %u %31s %llx %llx", name, &action, &arg, op, &a, &b);
    if (n == 2) {
      add(name, action, 0, NULL);
    } else if (n == 6) {
      struct scmp_arg_cmp c = {arg, SCMP_CMP_EQ, a, b};
      if (strcmp(op, "ne") == 0) c.op = SCMP_CMP_NE;
      else if (strcmp(op, "masked_eq") == 0) c.op = SCMP_CMP_MASKED_EQ;
      else if (strcmp(op, "lt") == 0) c.op = SCMP_CMP_LT;
      else if (strcmp(op, "gt") == 0) c.op = SCMP_CMP_GT;
      else if (strcmp(op, "eq") != 0) {
        fprintf(stderr, "libseccomp-export: bad op in %s", line);
        exit(2);
      }
      add(name, action, 1, &c);
    } else if (n > 0) {
      fprintf(stderr, "libseccomp-export: bad rule line: %s", line);
      exit(2);
    }
  }
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: %s x86_64|aarch64 SETS 1|2 OUTFILE [RULESFILE]\n", argv[0]);
    return 2;
  }
  uint32_t arch;
  int flags_arg = 0; /* clone's flags argument: 0 on both ABIs we export */
  if (strcmp(argv[1], "x86_64") == 0) {
    arch = SCMP_ARCH_X86_64;
  } else if (strcmp(argv[1], "aarch64") == 0) {
    arch = SCMP_ARCH_AARCH64;
  } else {
    fprintf(stderr, "libseccomp-export: unsupported arch %s\n", argv[1]);
    return 2;
  }
  unsigned sets = SET_DEFAULT;
  const char *rules_file = NULL;
  if (strcmp(argv[2], "rules") == 0) {
    if (argc != 6) {
      fprintf(stderr, "libseccomp-export: SETS \"rules\" needs RULESFILE\n");
      return 2;
    }
    rules_file = argv[5];
    sets = 0;
    lenient = 1;
  } else if (strcmp(argv[2], "none") != 0) {
    char *copy = strdup(argv[2]);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
      if (strcmp(tok, "obsolete") == 0) sets |= SET_OBSOLETE;
      else if (strcmp(tok, "privileged") == 0) sets |= SET_PRIVILEGED;
      else if (strcmp(tok, "spawn") == 0) sets |= SET_SPAWN;
      else if (strcmp(tok, "resourcecontrol") == 0) sets |= SET_RESOURCECTL;
      else {
        fprintf(stderr, "libseccomp-export: unknown set %s\n", tok);
        return 2;
      }
    }
    free(copy);
  }
  int optimize = atoi(argv[3]);
  if (optimize != 1 && optimize != 2) {
    fprintf(stderr, "libseccomp-export: OPTIMIZE must be 1 or 2\n");
    return 2;
  }

  ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) die("seccomp_init", ENOMEM);
  /* Export for one ABI only, like QEMU built for that host. */
  if (seccomp_arch_exist(ctx, arch) != 0) {
    int rc = seccomp_arch_add(ctx, arch);
    if (rc < 0) die("seccomp_arch_add", rc);
    rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
    if (rc < 0) die("seccomp_arch_remove", rc);
  }
  if (optimize == 2) {
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0) {
      fprintf(stderr, "libseccomp-export: this libseccomp has no binary-tree optimisation: %s\n",
              strerror(-rc));
      return 3;
    }
  }

  if (sets & SET_DEFAULT) add_list(default_set, A_KILL);
  if (sets & SET_OBSOLETE) add_list(obsolete_set, A_KILL);
  if (sets & SET_PRIVILEGED) add_list(privileged_set, A_KILL);
  if (sets & SET_SPAWN) {
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    add("fork", eperm, 0, NULL);
    add("vfork", eperm, 0, NULL);
    add("execve", eperm, 0, NULL);
    /* No flag at all besides the exit signal: a plain fork. */
    struct scmp_arg_cmp none = {flags_arg, SCMP_CMP_MASKED_EQ, ~(scmp_datum_t)CSIGNAL, 0};
    add("clone", eperm, 1, &none);
    for (const unsigned long *f = required_clone; *f; f++) {
      struct scmp_arg_cmp c = {flags_arg, SCMP_CMP_MASKED_EQ, *f, 0};
      add("clone", eperm, 1, &c);
    }
    for (const unsigned long *f = forbidden_clone; *f; f++) {
      struct scmp_arg_cmp c = {flags_arg, SCMP_CMP_MASKED_EQ, *f, *f};
      add("clone", eperm, 1, &c);
    }
    add("clone3", SCMP_ACT_ERRNO(ENOSYS), 0, NULL);
    add("execveat", A_ZERO, 0, NULL);
    add("setns", A_ZERO, 0, NULL);
    add("unshare", A_ZERO, 0, NULL);
  }
  if (sets & SET_RESOURCECTL) {
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    add("setpriority", eperm, 0, NULL);
    add("sched_setparam", eperm, 0, NULL);
    struct scmp_arg_cmp not_idle = {1, SCMP_CMP_NE, SCHED_IDLE, 0};
    add("sched_setscheduler", eperm, 1, &not_idle);
    add("sched_setaffinity", eperm, 0, NULL);
  }

  if (rules_file) add_rules_file(rules_file);

  int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die(argv[4], errno);
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) die("seccomp_export_bpf", rc);
  if (close(fd) != 0) die("close", errno);
  seccomp_release(ctx);
  return 0;
}
