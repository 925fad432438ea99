/*
 * The addon sends each viewer's packets from werift's own UDP socket (the one its ICE pair uses, so the
 * viewer sees the same source address and port). Node has no public way to hand out a socket's
 * descriptor, but `socket.address()` is public: the descriptor is the one socket of this process bound
 * there, which udp_find_socket looks up among the open descriptors (getsockname + SO_TYPE). A UDP
 * address can be bound by only one socket unless SO_REUSEPORT/SO_REUSEADDR is asked for: if several
 * sockets match, none is used and JavaScript sends. The search costs two system calls per open descriptor,
 * so with a thousand viewers open it costs milliseconds per join: the caller passes the descriptor Node's
 * handle holds as a hint, taken when it is bound to that address (it is that socket).
 */
#define _GNU_SOURCE /* sendmmsg */
#include "udp.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h: older libc headers lack it */
#endif
#endif

/* Descriptors tried where the system cannot list them (no /proc or /dev/fd). */
#define MAX_SCANNED_FDS 65536

int udp_address(const char *literal, int port, struct sockaddr_storage *address, socklen_t *length) {
  memset(address, 0, sizeof *address);
  if (port < 0 || port > 65535) return -1;
  struct sockaddr_in *v4 = (struct sockaddr_in *)address;
  if (inet_pton(AF_INET, literal, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *length = sizeof *v4;
    return 0;
  }
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;
  char host[INET6_ADDRSTRLEN];
  const char *scope = strchr(literal, '%');
  size_t host_length = scope ? (size_t)(scope - literal) : strlen(literal);
  if (host_length >= sizeof host) return -1;
  memcpy(host, literal, host_length);
  host[host_length] = '\0';
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1) return -1;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons((uint16_t)port);
  if (scope) {
    char *end;
    unsigned long index = strtoul(scope + 1, &end, 10);
    v6->sin6_scope_id = *end == '\0' && end != scope + 1 ? (uint32_t)index : if_nametoindex(scope + 1);
  }
  *length = sizeof *v6;
  return 0;
}

/* Whether `fd` is a UDP socket bound to `want` (family, port and address; an IPv6 scope is not compared). */
static int is_bound_to(int fd, const struct sockaddr_storage *want) {
  int type;
  socklen_t type_length = sizeof type;
  struct sockaddr_storage bound;
  socklen_t bound_length = sizeof bound;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_DGRAM) return 0;
  if (getsockname(fd, (struct sockaddr *)&bound, &bound_length) != 0 || bound.ss_family != want->ss_family) return 0;
  if (want->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&bound, *b = (const struct sockaddr_in *)want;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (want->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&bound, *b = (const struct sockaddr_in6 *)want;
    return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
  }
  return 0;
}

/* The search's state: the socket found so far (a duplicate descriptor of it is the same socket). */
typedef struct {
  int fd;
  int ambiguous;
  struct stat socket;
} match_t;

static void consider(int fd, const struct sockaddr_storage *want, match_t *match) {
  struct stat status;
  if (!is_bound_to(fd, want) || fstat(fd, &status) != 0) return;
  if (match->fd < 0) {
    match->fd = fd;
    match->socket = status;
  } else if (status.st_ino != match->socket.st_ino || status.st_dev != match->socket.st_dev) {
    match->ambiguous = 1;
  }
}

int udp_find_socket(const struct sockaddr_storage *address, int hint) {
  /* The hint is the descriptor Node's handle says the socket has: taken when it is bound there. */
  if (hint >= 0 && is_bound_to(hint, address)) return hint;
  match_t match = {.fd = -1, .ambiguous = 0};
  /* The open descriptors: Linux lists them in /proc/self/fd, macOS and the BSDs in /dev/fd. */
  DIR *directory = opendir("/proc/self/fd");
  if (!directory) directory = opendir("/dev/fd");
  if (directory) {
    int own = dirfd(directory);
    struct dirent *entry;
    while ((entry = readdir(directory)) && !match.ambiguous) {
      char *end;
      long fd = strtol(entry->d_name, &end, 10);
      if (*end == '\0' && end != entry->d_name && fd != own && fd >= 0 && fd <= INT_MAX) consider((int)fd, address, &match);
    }
    closedir(directory);
  } else {
    struct rlimit limit;
    rlim_t last = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < MAX_SCANNED_FDS ? limit.rlim_cur : MAX_SCANNED_FDS;
    for (int fd = 0; fd < (int)last && !match.ambiguous; fd++) consider(fd, address, &match);
  }
  return match.ambiguous ? -1 : match.fd;
}

int udp_send(int fd, const unsigned char *data, size_t length, const struct sockaddr *target, socklen_t target_length) {
  ssize_t sent = sendto(fd, data, length, 0, target, target_length);
  return sent < 0 ? -errno : (int)sent;
}

int udp_send_messages(int fd, struct msghdr *messages, unsigned count) {
#ifdef __linux__
  /* sendmmsg takes an array of struct mmsghdr, a msghdr and the count it fills in: built on the stack in
     chunks, so that callers deal in plain msghdrs. UIO_MAXIOV (1024) is the most it takes in one call. */
  struct mmsghdr vector[64];
  unsigned total = 0;
  while (total < count) {
    unsigned chunk = count - total < 64 ? count - total : 64;
    for (unsigned i = 0; i < chunk; i++) {
      vector[i].msg_hdr = messages[total + i];
      vector[i].msg_len = 0;
    }
    int sent = sendmmsg(fd, vector, chunk, MSG_DONTWAIT);
    if (sent < 0) return total > 0 ? (int)total : -errno;
    total += (unsigned)sent;
    if ((unsigned)sent < chunk) break;
  }
  return (int)total;
#else
  unsigned total = 0;
  for (; total < count; total++) {
    if (sendmsg(fd, &messages[total], MSG_DONTWAIT) < 0) return total > 0 ? (int)total : -errno;
  }
  return (int)total;
#endif
}

int udp_gso_supported(void) {
#ifdef __linux__
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return 0;
  int size = 1200;
  int supported = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof size) == 0;
  close(fd);
  return supported;
#else
  return 0;
#endif
}

void udp_gso_control(struct msghdr *message, void *control, uint16_t size) {
#ifdef __linux__
  memset(control, 0, UDP_GSO_CONTROL_LENGTH);
  message->msg_control = control;
  message->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
  struct cmsghdr *header = CMSG_FIRSTHDR(message);
  header->cmsg_level = SOL_UDP;
  header->cmsg_type = UDP_SEGMENT;
  header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  memcpy(CMSG_DATA(header), &size, sizeof size);
#else
  (void)message;
  (void)control;
  (void)size;
#endif
}
