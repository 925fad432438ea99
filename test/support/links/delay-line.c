/*
 * delay-line: holds every packet that netfilter hands to the given NFQUEUE queues for a fixed time,
 * then lets it go, in order. It is the delay of a test link (the kernel here has no netem qdisc).
 *
 *   delay-line <queue>:<delay_us> [<queue>:<delay_us> ...]
 *
 * Prints "ready" once every queue is bound. Reads stdin: "stats" prints one line per queue, and end of
 * file (the parent went away) stops it, as do SIGTERM/SIGINT and the parent's death.
 *
 * Built at first use by delay-line.ts with `cc -O2 delay-line.c -lnetfilter_queue`.
 *
 * How: only the packet's id is copied to us (NFQNL_COPY_META), GSO packets stay whole (NFQA_CFG_F_GSO),
 * and with one fixed delay per queue the packets are due in the order they came, so one batch verdict
 * ("accept every id up to N") releases all that are due. A batch verdict also releases any packet whose
 * message was lost to a full socket buffer, at the latest with the next packet after it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define MAX_QUEUES 4
/* Packets one queue holds at most: the kernel drops beyond this, as a router's full buffer would. */
#define CAPACITY 10000u

struct line {
  struct nfq_q_handle *handle;
  unsigned number;
  uint64_t delay_ns;
  uint32_t ids[CAPACITY];
  uint64_t due[CAPACITY];
  uint32_t head, count;
  uint64_t held, overflow;
  uint32_t deepest;
};

static struct line lines[MAX_QUEUES];
static unsigned line_count;
static volatile sig_atomic_t stopping;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int on_packet(struct nfq_q_handle *handle, struct nfgenmsg *message, struct nfq_data *data, void *context) {
  (void)message;
  struct line *line = context;
  struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
  if (!header) return 0;
  uint32_t id = ntohl(header->packet_id);
  if (line->count == CAPACITY) {
    /* Cannot happen while the kernel's queue is no longer than ours; never hold a packet we cannot track. */
    nfq_set_verdict(handle, id, NF_ACCEPT, 0, NULL);
    line->overflow++;
    return 0;
  }
  uint32_t tail = (line->head + line->count) % CAPACITY;
  line->ids[tail] = id;
  line->due[tail] = now_ns() + line->delay_ns;
  line->count++;
  line->held++;
  if (line->count > line->deepest) line->deepest = line->count;
  return 0;
}

/* Releases every packet that is due; returns the time the next one is due, or 0 when none is held. */
static uint64_t release_due(void) {
  uint64_t now = now_ns(), next = 0;
  for (unsigned i = 0; i < line_count; i++) {
    struct line *line = &lines[i];
    int release = 0;
    uint32_t last = 0;
    while (line->count && line->due[line->head] <= now) {
      last = line->ids[line->head];
      line->head = (line->head + 1) % CAPACITY;
      line->count--;
      release = 1;
    }
    if (release) nfq_set_verdict_batch(line->handle, last, NF_ACCEPT);
    if (line->count && (!next || line->due[line->head] < next)) next = line->due[line->head];
  }
  return next;
}

static void print_stats(void) {
  for (unsigned i = 0; i < line_count; i++) {
    struct line *line = &lines[i];
    printf("stats queue=%u delay_us=%llu held=%llu holding=%u deepest=%u overflow=%llu\n", line->number,
           (unsigned long long)(line->delay_ns / 1000), (unsigned long long)line->held, line->count, line->deepest,
           (unsigned long long)line->overflow);
  }
  fflush(stdout);
}

static void on_signal(int signal) {
  (void)signal;
  stopping = 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc - 1 > MAX_QUEUES) {
    fprintf(stderr, "usage: delay-line <queue>:<delay_us> [...] (at most %d queues)\n", MAX_QUEUES);
    return 2;
  }
  if (fcntl(STDIN_FILENO, F_GETFD) < 0) {
    fprintf(stderr, "delay-line: stdin must be open (its end stops the delay line)\n");
    return 2;
  }
  /* Never outlive the test process that started us. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  struct sigaction action = {0};
  action.sa_handler = on_signal;
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);

  struct nfq_handle *nfq = nfq_open();
  if (!nfq) {
    perror("delay-line: nfq_open");
    return 1;
  }
  /* Room for every queued packet's message: a lost one is released late (see above), never dropped. */
  int buffer_size = 8 << 20;
  if (setsockopt(nfq_fd(nfq), SOL_SOCKET, SO_RCVBUFFORCE, &buffer_size, sizeof buffer_size) < 0)
    perror("delay-line: SO_RCVBUFFORCE");
  for (int i = 1; i < argc; i++) {
    unsigned number;
    unsigned long long delay_us;
    if (sscanf(argv[i], "%u:%llu", &number, &delay_us) != 2 || delay_us > 10000000ull) {
      fprintf(stderr, "delay-line: bad argument '%s' (want <queue>:<delay_us>, delay at most 10 s)\n", argv[i]);
      return 2;
    }
    struct line *line = &lines[line_count++];
    line->number = number;
    line->delay_ns = delay_us * 1000u;
    line->handle = nfq_create_queue(nfq, (uint16_t)number, on_packet, line);
    if (!line->handle) {
      fprintf(stderr, "delay-line: cannot bind queue %u: %s\n", number, strerror(errno));
      return 1;
    }
    if (nfq_set_mode(line->handle, NFQNL_COPY_META, 0) < 0 || nfq_set_queue_maxlen(line->handle, CAPACITY) < 0 ||
        nfq_set_queue_flags(line->handle, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO) < 0) {
      fprintf(stderr, "delay-line: cannot configure queue %u: %s\n", number, strerror(errno));
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);

  int fd = nfq_fd(nfq);
  static char buffer[1 << 16];
  char command[64];
  size_t command_length = 0;
  struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
  while (!stopping) {
    uint64_t next = release_due();
    struct timespec timeout = {1, 0};
    if (next) {
      uint64_t now = now_ns();
      uint64_t wait = next > now ? next - now : 0;
      timeout.tv_sec = (time_t)(wait / 1000000000u);
      timeout.tv_nsec = (long)(wait % 1000000000u);
    }
    if (ppoll(fds, 2, &timeout, NULL) < 0) {
      if (errno == EINTR) continue;
      perror("delay-line: ppoll");
      break;
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        ssize_t length = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (length > 0) {
          nfq_handle_packet(nfq, buffer, (int)length);
        } else if (length < 0 && errno == ENOBUFS) {
          fprintf(stderr, "delay-line: socket buffer overrun; lost packets go with the next batch\n");
        } else {
          break;
        }
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t length = read(STDIN_FILENO, command + command_length, sizeof command - 1 - command_length);
      if (length <= 0) break; /* the parent closed our stdin: it is gone or done */
      command_length += (size_t)length;
      char *newline;
      while ((newline = memchr(command, '\n', command_length))) {
        *newline = 0;
        if (!strcmp(command, "stats")) print_stats();
        command_length -= (size_t)(newline + 1 - command);
        memmove(command, newline + 1, command_length);
      }
      if (command_length == sizeof command - 1) command_length = 0; /* a line too long: forget it */
    }
  }
  /* Let everything still held go at once, then unbind: the kernel would drop what is left. */
  for (unsigned i = 0; i < line_count; i++) {
    struct line *line = &lines[i];
    if (line->count) nfq_set_verdict_batch(line->handle, line->ids[(line->head + line->count - 1) % CAPACITY], NF_ACCEPT);
    line->count = 0;
    nfq_destroy_queue(line->handle);
  }
  nfq_close(nfq);
  return 0;
}
