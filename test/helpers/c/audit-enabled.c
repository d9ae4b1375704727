/*
 * audit-enabled [0|1]: prints the kernel's audit_enabled, and sets it first
 * when given a value (AUDIT_GET / AUDIT_SET over NETLINK_AUDIT, as auditctl
 * -e does). The Landlock tests need audit on: the kernel writes Landlock
 * denials only then; they restore the value they found.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int request(int fd, int type, const void *payload, size_t len) {
  struct {
    struct nlmsghdr h;
    char data[sizeof(struct audit_status)];
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.h.nlmsg_len = NLMSG_LENGTH(len);
  msg.h.nlmsg_type = type;
  msg.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  msg.h.nlmsg_seq = 1;
  memcpy(msg.data, payload, len);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &msg, msg.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  return 0;
}

/* Reads replies until the kernel's ack: 0, or its -errno. */
static int ack(int fd) {
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) return -errno;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
  }
}

int main(int argc, char **argv) {
  int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
  if (fd < 0) { perror("socket(NETLINK_AUDIT)"); return 2; }
  if (argc > 1) {
    struct audit_status set = {.mask = AUDIT_STATUS_ENABLED, .enabled = (unsigned)atoi(argv[1])};
    int r = request(fd, AUDIT_SET, &set, sizeof set);
    if (r == 0) r = ack(fd);
    if (r < 0) { fprintf(stderr, "AUDIT_SET: %s\n", strerror(-r)); return 2; }
  }
  struct audit_status st;
  memset(&st, 0, sizeof st);
  int r = request(fd, AUDIT_GET, &st, 0);
  if (r < 0) { fprintf(stderr, "AUDIT_GET: %s\n", strerror(-r)); return 2; }
  /* The status reply comes before the ack. */
  char buf[8192];
  for (int got = 0; !got;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) { perror("recv"); return 2; }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == AUDIT_GET) {
        memcpy(&st, NLMSG_DATA(h), sizeof st);
        got = 1;
      } else if (h->nlmsg_type == NLMSG_ERROR && ((struct nlmsgerr *)NLMSG_DATA(h))->error != 0) {
        fprintf(stderr, "AUDIT_GET: %s\n", strerror(-((struct nlmsgerr *)NLMSG_DATA(h))->error));
        return 2;
      }
    }
  }
  printf("%u\n", st.enabled);
  return 0;
}
