/*
 * The I/O thread: one epoll set over every viewer's socket, recvmmsg in batches, protocol timers every
 * 10 ms, its own CPU time published every 100 ms. It ends when Node stops it or at the hard stop given at
 * creation, whichever comes first, and closes every socket on the way out.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TIMER_INTERVAL_NS (10 * 1000000LL)
#define CPU_INTERVAL_NS (100 * 1000000LL)
#define BATCHES_PER_WAKE 4 /* then let the other sockets have their turn (epoll is level-triggered) */

int64_t now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

void viewer_fail(viewer_t *viewer, const char *format, ...) {
  int state = __atomic_load_n(&viewer->state, __ATOMIC_ACQUIRE);
  if (state == V_FAILED || state == V_CLOSED) return;
  va_list args;
  va_start(args, format);
  vsnprintf(viewer->failure, sizeof viewer->failure, format, args);
  va_end(args);
  __atomic_store_n(&viewer->state, V_FAILED, __ATOMIC_RELEASE);
}

void viewer_send(viewer_t *viewer, const uint8_t *data, int length) {
  if (sendto(viewer->fd, data, (size_t)length, 0, (const struct sockaddr *)&viewer->remote, sizeof viewer->remote) < 0)
    PUBLISH(viewer->send_errors, viewer->send_errors + 1);
}

bool engine_address_allowed(const engine_t *engine, uint32_t address) {
  if ((ntohl(address) >> 24) == 127) return true;
  for (int i = 0; i < engine->allowed_count; i++)
    if (engine->allowed[i] == address) return true;
  return false;
}

static int grow(void **array, size_t *capacity, size_t needed, size_t item) {
  if (needed <= *capacity) return 0;
  size_t next = *capacity ? *capacity * 2 : 64;
  while (next < needed) next *= 2;
  void *bigger = realloc(*array, next * item);
  if (!bigger) return -1;
  *array = bigger;
  *capacity = next;
  return 0;
}

int engine_push(engine_t *engine, int kind, viewer_t *viewer) {
  pthread_mutex_lock(&engine->lock);
  int result = grow((void **)&engine->queue, &engine->queue_capacity, engine->queue_length + 1, sizeof(command_t));
  if (result == 0) engine->queue[engine->queue_length++] = (command_t){kind, viewer};
  pthread_mutex_unlock(&engine->lock);
  uint64_t one = 1;
  if (result == 0 && write(engine->wakefd, &one, sizeof one) < 0) result = -1;
  return result;
}

static void close_viewer(engine_t *engine, viewer_t *viewer) {
  if (viewer->fd < 0) return;
  dtls_close(viewer);
  epoll_ctl(engine->epfd, EPOLL_CTL_DEL, viewer->fd, NULL);
  close(viewer->fd);
  viewer->fd = -1;
  int expected = viewer->state;
  if (expected != V_FAILED) __atomic_store_n(&viewer->state, V_CLOSED, __ATOMIC_RELEASE);
  for (size_t i = 0; i < engine->active_count; i++) {
    if (engine->active[i] == viewer) {
      engine->active[i] = engine->active[--engine->active_count];
      break;
    }
  }
}

static void run_commands(engine_t *engine, int64_t now) {
  uint64_t count;
  if (read(engine->wakefd, &count, sizeof count) < 0 && errno != EAGAIN) return;
  pthread_mutex_lock(&engine->lock);
  size_t length = engine->queue_length;
  command_t *commands = malloc(length * sizeof *commands + 1);
  if (commands) {
    memcpy(commands, engine->queue, length * sizeof *commands);
    engine->queue_length = 0;
  }
  pthread_mutex_unlock(&engine->lock);
  if (!commands) return;
  for (size_t i = 0; i < length; i++) {
    viewer_t *viewer = commands[i].viewer;
    switch (commands[i].kind) {
    case CMD_ADD: {
      struct epoll_event event = {.events = EPOLLIN, .data.ptr = viewer};
      if (grow((void **)&engine->active, &engine->active_capacity, engine->active_count + 1, sizeof(viewer_t *)) ||
          epoll_ctl(engine->epfd, EPOLL_CTL_ADD, viewer->fd, &event) < 0) {
        viewer_fail(viewer, "could not watch its socket: %s", strerror(errno));
        break;
      }
      engine->active[engine->active_count++] = viewer;
      break;
    }
    case CMD_START:
      if (viewer->fd < 0 || READ(viewer->state) != V_NEW) break;
      viewer->deadline_ns = now + viewer->deadline_ns; /* Node put the connect timeout there */
      ice_start(viewer, now);
      break;
    case CMD_CLOSE:
      close_viewer(engine, viewer);
      break;
    }
  }
  free(commands);
}

/*
 * What the kernel says of a read (its control messages): when it received the datagram (SO_TIMESTAMPNS, wall
 * clock) on our monotonic clock, else now; and, with UDP_GRO, the size of each of the datagrams it coalesced
 * (0: one datagram).
 */
static int64_t arrival(const struct msghdr *header, int64_t now, int64_t realtime_offset, int *segment_size) {
  int64_t at = now;
  *segment_size = 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(header); cmsg; cmsg = CMSG_NXTHDR((struct msghdr *)header, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec stamp;
      memcpy(&stamp, CMSG_DATA(cmsg), sizeof stamp);
      int64_t stamped = (int64_t)stamp.tv_sec * 1000000000LL + stamp.tv_nsec - realtime_offset;
      at = stamped < now ? stamped : now;
    } else if (cmsg->cmsg_level == SOL_UDP && cmsg->cmsg_type == UDP_GRO) {
      memcpy(segment_size, CMSG_DATA(cmsg), sizeof *segment_size);
    }
  }
  return at;
}

/* One datagram from `from`, demultiplexed by its first byte (RFC 7983). */
static void datagram(engine_t *engine, viewer_t *viewer, uint8_t *data, int length, const struct sockaddr_in *from,
                     int64_t at, int64_t now) {
  if (length < 1) return;
  if (data[0] < 4) {
    ice_receive(engine, viewer, data, length, from, at);
    return;
  }
  /* DTLS and media only from the pair ICE nominated. */
  if (from->sin_addr.s_addr != viewer->remote.sin_addr.s_addr || from->sin_port != viewer->remote.sin_port) return;
  if (data[0] >= 20 && data[0] <= 63)
    dtls_receive(engine, viewer, data, length, now);
  else if (data[0] >= 128 && data[0] <= 191)
    media_receive(viewer, data, length, at);
}

static void receive(engine_t *engine, viewer_t *viewer) {
  for (int round = 0; round < BATCHES_PER_WAKE && viewer->fd >= 0; round++) {
    for (int i = 0; i < RECV_BATCH; i++) {
      engine->msgs[i].msg_hdr.msg_namelen = sizeof engine->from[i];
      engine->msgs[i].msg_hdr.msg_controllen = sizeof engine->controls[i];
    }
    int count = recvmmsg(viewer->fd, engine->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (count <= 0) return;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t now = now_ns();
    int64_t realtime_offset = (int64_t)wall.tv_sec * 1000000000LL + wall.tv_nsec - now;
    uint64_t datagrams = 0;
    for (int i = 0; i < count; i++) {
      uint8_t *data = engine->buffers[i];
      int length = (int)engine->msgs[i].msg_len;
      int segment_size;
      /* Times are the kernel's, so the pause between reads (batch_ns) does not show in them. */
      int64_t at = arrival(&engine->msgs[i].msg_hdr, now, realtime_offset, &segment_size);
      if (segment_size <= 0 || segment_size >= length) segment_size = length;
      /* Coalesced (UDP_GRO): datagrams of segment_size bytes, the last one maybe shorter. */
      for (int offset = 0; offset < length && viewer->fd >= 0; offset += segment_size, datagrams++) {
        int size = length - offset < segment_size ? length - offset : segment_size;
        datagram(engine, viewer, data + offset, size, &engine->from[i], at, now);
      }
    }
    PUBLISH(engine->recv_calls, engine->recv_calls + 1);
    PUBLISH(engine->datagrams, engine->datagrams + datagrams);
    if (count < RECV_BATCH) return;
  }
}

static void timers(engine_t *engine, int64_t now) {
  for (size_t i = 0; i < engine->active_count; i++) {
    viewer_t *viewer = engine->active[i];
    int state = READ(viewer->state);
    if ((state == V_CHECKING || state == V_DTLS) && now >= viewer->deadline_ns) {
      viewer_fail(viewer, state == V_CHECKING ? "ICE: no answer to our checks before the connect timeout"
                                              : "DTLS: handshake not done before the connect timeout");
      continue;
    }
    ice_timers(engine, viewer, now);
    dtls_timers(viewer, now);
    media_timers(viewer, now);
  }
}

static bool connecting(const engine_t *engine) {
  for (size_t i = 0; i < engine->active_count; i++)
    if (READ(engine->active[i]->state) < V_CONNECTED) return true;
  return false;
}

static void publish_cpu(engine_t *engine) {
  struct rusage usage;
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return;
  uint64_t us = (uint64_t)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000ULL +
                (uint64_t)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  PUBLISH(engine->thread_cpu_us, us);
}

/* The I/O thread's CPU time now: read from its CPU clock while it runs, else the last it published. */
uint64_t engine_thread_cpu_us(engine_t *engine) {
  clockid_t clock;
  struct timespec cpu;
  if (engine->thread_started && !__atomic_load_n(&engine->thread_done, __ATOMIC_ACQUIRE) &&
      pthread_getcpuclockid(engine->thread, &clock) == 0 && clock_gettime(clock, &cpu) == 0)
    return (uint64_t)cpu.tv_sec * 1000000ULL + (uint64_t)cpu.tv_nsec / 1000;
  return READ(engine->thread_cpu_us);
}

static void *run(void *argument) {
  engine_t *engine = argument;
  struct epoll_event events[256];
  int64_t next_timers = 0, next_cpu = 0;
  for (;;) {
    int64_t now = now_ns();
    if (READ(engine->stop) || now >= engine->hard_stop_ns) break;
    int64_t wait_ms = (next_timers - now + 999999) / 1000000;
    int count = epoll_wait(engine->epfd, events, 256, wait_ms < 0 ? 0 : wait_ms > 10 ? 10 : (int)wait_ms);
    PUBLISH(engine->wakeups, engine->wakeups + 1);
    for (int i = 0; i < count; i++) {
      if (events[i].data.ptr == NULL)
        run_commands(engine, now_ns());
      else
        receive(engine, events[i].data.ptr);
    }
    now = now_ns();
    /*
     * Coalescing: let datagrams gather for batch_ns, so a wake-up and a recvmmsg carry many. Not while a
     * viewer is still connecting: its ICE and DTLS answers would wait, and its first media with them.
     */
    if (count > 0 && engine->batch_ns > 0 && !connecting(engine)) {
      struct timespec pause = {0, (long)engine->batch_ns};
      nanosleep(&pause, NULL);
      now = now_ns();
    }
    if (now >= next_timers) {
      timers(engine, now);
      next_timers = now + TIMER_INTERVAL_NS;
    }
    if (now >= next_cpu) {
      publish_cpu(engine);
      next_cpu = now + CPU_INTERVAL_NS;
    }
  }
  /* Commands still queued (a late add) are dropped: their sockets are closed by engine_destroy. */
  while (engine->active_count > 0) close_viewer(engine, engine->active[engine->active_count - 1]);
  publish_cpu(engine);
  __atomic_store_n(&engine->thread_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

int engine_init(engine_t *engine, int64_t hard_stop_ms, int64_t batch_us, char *error, size_t error_size) {
  engine->batch_ns = batch_us * 1000;
  engine->epfd = epoll_create1(EPOLL_CLOEXEC);
  engine->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  pthread_mutex_init(&engine->lock, NULL);
  engine->epoch_ns = now_ns();
  engine->hard_stop_ns = engine->epoch_ns + hard_stop_ms * 1000000LL;
  for (int i = 0; i < RECV_BATCH; i++) {
    engine->iovs[i] = (struct iovec){engine->buffers[i], DATAGRAM_MAX};
    engine->msgs[i].msg_hdr = (struct msghdr){.msg_name = &engine->from[i], .msg_namelen = sizeof engine->from[i],
                                              .msg_iov = &engine->iovs[i], .msg_iovlen = 1,
                                              .msg_control = engine->controls[i], .msg_controllen = sizeof engine->controls[i]};
  }
  struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
  if (engine->epfd < 0 || engine->wakefd < 0 || epoll_ctl(engine->epfd, EPOLL_CTL_ADD, engine->wakefd, &event) < 0) {
    snprintf(error, error_size, "epoll/eventfd: %s", strerror(errno));
    return -1;
  }
  if (dtls_context(engine, error, error_size) != 0) return -1;
  if (pthread_create(&engine->thread, NULL, run, engine) != 0) {
    snprintf(error, error_size, "pthread_create: %s", strerror(errno));
    return -1;
  }
  engine->thread_started = true;
  pthread_setname_np(engine->thread, "loadgen-io"); /* for top -H and perf -t */
  return 0;
}

void engine_stop(engine_t *engine) {
  if (!engine->thread_started) return;
  PUBLISH(engine->stop, 1);
  uint64_t one = 1;
  if (write(engine->wakefd, &one, sizeof one) < 0) { /* the 5 ms epoll timeout wakes it anyway */ }
  pthread_join(engine->thread, NULL);
  engine->thread_started = false;
  /* Viewers added after the thread ended (hard stop) never reached it: close their sockets now. */
  for (size_t i = 0; i < engine->all_count; i++) {
    viewer_t *viewer = engine->all[i];
    if (viewer->fd < 0) continue;
    close(viewer->fd);
    viewer->fd = -1;
    if (READ(viewer->state) != V_FAILED) __atomic_store_n(&viewer->state, V_CLOSED, __ATOMIC_RELEASE);
  }
}

void engine_destroy(engine_t *engine) {
  engine_stop(engine);
  for (size_t i = 0; i < engine->all_count; i++) {
    viewer_t *viewer = engine->all[i];
    if (viewer->fd >= 0) close(viewer->fd);
    SSL_free(viewer->ssl);
    srtp_stream_free(&viewer->rtp_in);
    srtp_stream_free(&viewer->rtcp_in);
    srtp_stream_free(&viewer->rtcp_out);
    free(viewer);
  }
  free(engine->all);
  free(engine->active);
  free(engine->queue);
  SSL_CTX_free(engine->ssl_ctx);
  if (engine->epfd >= 0) close(engine->epfd);
  if (engine->wakefd >= 0) close(engine->wakefd);
  pthread_mutex_destroy(&engine->lock);
  free(engine);
}
