/*
 * The send thread: the JavaScript thread writes each viewer's RTP header and decides what goes when (the
 * pacer); it queues the packet here (the header into a ring slot, with a reference to the payload: the
 * source packet's copy all its viewers share, or one of its own) and this thread seals it (AES-128-GCM,
 * srtp.c) and sends it, in batches:
 *
 *   JavaScript thread ── queue() ──► ring of slots (one producer, one consumer) ──► send thread
 *                                                                                   group by socket
 *                                                                                   seal into its scratch
 *                                                                                   sendmmsg, UDP GSO runs
 *
 * Why batches: a sendto(2) of one datagram costs ~2 µs of kernel time; one send of n equal-size datagrams
 * to one destination with UDP_SEGMENT costs ~0.7 µs each for n = 9 (this machine, loopback). The ring is
 * taken a batch at a time, its packets grouped by socket (a viewer's packets stay in order), and each
 * socket's run of same-destination packets of one size (the last may be shorter) goes as one GSO send;
 * what is left as sendmmsg messages. When the thread wakes up from idle it waits `linger_us` before taking
 * the batch, so that a frame's packets (ffmpeg sends them back to back) gather.
 *
 * Ordering and lifetimes: the producer counts each context's and socket's queued packets, the thread counts
 * those it is done with (sent or dropped), on a cache line of its own. A context is sealed on this thread
 * only while packets of it are queued: anything else that sends for the viewer (the synchronous path, or
 * JavaScript) first waits until none is (send_context_settle), so nothing overtakes and the cipher is never
 * used by two threads at once. A context or socket released with packets queued goes to the graveyard, and
 * is freed by the thread once they are gone. Sockets are the addon's own duplicates of werift's: a viewer's
 * socket closed by werift (and its number soon another's) stays open here until its last queued packet.
 *
 * Rewinding: a producer that finds the ring empty starts again at its first slot. It publishes where it
 * left off (`rewound_at`, before the release store of `head`) and moves `head` to the next multiple of the
 * capacity; the slots in between are void, and whoever takes packets next steps over them (past_void).
 * So the slots used are the first few, as many as the largest batch, not all of them in turn: what stays
 * resident follows the load (a frame for 500 viewers, ~5 000 slots: 1 MB, not the ring's 14 MB).
 *
 * Trimming: what a burst made resident stays so until the producer gives it back (send_thread_trim, when
 * viewers have come or gone: lib/session/memory-trim.ts). It does so only while the ring is empty, the
 * thread done with every slot, and the producer the only one that writes them: then, or at the next rewind.
 *
 * Waking: the thread sleeps on a condition variable when the ring is empty and says so (`sleeping`); the
 * producer publishes each slot (a release store) and signals only when it sees the thread asleep: one wake
 * per batch. A thread with nothing to send and no context or socket alive ends (it starts again at the next
 * packet); the teardown stops and joins it, and so does exit(), before OpenSSL's own exit handler runs.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "send-thread.h"
#include "payload-patch.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "udp.h"

/*
 * Slots in the ring (a power of two). A slot holds what a packet is until the thread seals it: where it goes,
 * the viewer's header and a reference to the payload (208 bytes); the thread seals it into its scratch
 * (SCRATCH_BYTES), not into the slot. A frame of the 720p stream (2.5 Mbit/s: ~10 packets) for 1000 viewers
 * is ~10 000 packets, a keyframe ~50 000: it fits, so neither a keyframe nor a send thread starved of CPU
 * for a frame or two (a join storm on a loaded machine) makes the JavaScript thread wait for room (with
 * 16 384 slots of 1.6 kB, the payload copied in: 439-524 waits a run of 1000 viewers joining, ~700 packets
 * sent on the JavaScript thread, and 26 MB resident). 14 MB of address space, of which only the slots used
 * are resident (see Rewinding), and given back (send_thread_trim).
 */
#define RING_CAPACITY 65536
/*
 * The most the thread takes at once: a frame for 1000 viewers fits below the frame wait's limit, so each
 * viewer's packets of it go as one GSO send (with 8192: 6 datagrams a send, not 8.5, and 1.9 µs of this
 * thread per packet, not 1.6).
 */
#define MAX_BATCH 16384
/* A datagram up to 1472 bytes: the largest UDP payload on a 1500-byte MTU (the server keeps RTP under the
   path MTU), with a header up to HEADER_INLINE bytes. Anything larger is sent at once. */
#define DATAGRAM_MAX 1472
#define HEADER_INLINE 128
/*
 * Where the thread seals a socket's packets of a batch before it sends them: a few hundred kB that stay in
 * the cache (the kernel copies from there), not a slot of a ring that is tens of MB. A larger run is sealed
 * and sent in parts.
 */
#define SCRATCH_BYTES (256 * 1024)
/*
 * While a frame's packets are being queued for many viewers (lanes: fanout.c), the thread waits for its last
 * one, at most this long, in steps: each viewer's packets of the frame then go as one GSO send, not a few.
 * Not past three quarters of the ring: the producer would soon wait for room.
 */
#define FRAME_WAIT_MAX_US 3000
#define FRAME_WAIT_STEP_US 150
/* A GSO send stays under 64 KB of UDP payload. */
#define GSO_MAX_BYTES 60000
/* How long the thread waits, per batch, for a socket whose buffer is full before it drops what is left for it. */
#define FULL_SOCKET_WAIT_MS 4
/*
 * How long a producer waits for room in a full ring, and for a viewer's queued packets to go. Backpressure:
 * the thread is behind (starved of CPU by a loaded machine: a batch of 8 ms of CPU measured taking 50-100 ms).
 * Once a wait ran out, the next ones fail at once until the thread frees a slot (`stalled_at`).
 */
#define FULL_RING_WAIT_MS 1000
#define NONE UINT32_MAX

typedef struct tracked tracked;
struct tracked {
  /* Packets queued that name it: the JavaScript thread's, final once it is released. */
  uint64_t queued;
  send_thread *owner;
  void (*destroy)(tracked *object);
  tracked *next_retired;
  /* Of those, the ones the send thread is done with (sent or dropped): on a cache line of its own. */
  _Alignas(64) _Atomic uint64_t done;
};

struct send_context {
  tracked base;
  srtp_stream *stream;
  /* Its sender reports (sender-report.h), NULL until set: used on the JavaScript thread only, freed with it. */
  sender_report *reports;
};

struct send_socket {
  tracked base;
  int fd;
  /* A GSO send failed on it (a device that does not segment, IPsec): plain datagrams. The thread's. */
  int no_gso;
};

typedef struct {
  send_context *context;
  send_socket *socket;
  union {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } target;
  uint32_t target_length;
  uint32_t roc;
  uint16_t header_length, payload_length;
  /* The SRTP datagram's length once sealed; 0 when sealing failed. */
  uint16_t length;
  /* Where the payload starts in `shared`, and the viewer's bytes written into its copy (payload-patch.h). */
  uint16_t shared_offset;
  uint32_t patch;
  /* The payload: the source packet's copy several viewers' slots share, or one of its own (a reference). */
  shared_payload *shared;
  /* Where the thread sealed it (its scratch), while it sends the batch. */
  unsigned char *sealed;
  unsigned char header[HEADER_INLINE];
} job;

struct shared_payload {
  _Atomic uint32_t references;
  size_t length;
  unsigned char bytes[];
};

shared_payload *shared_payload_new(const unsigned char *bytes, size_t length) {
  shared_payload *payload = malloc(sizeof *payload + length);
  if (!payload) return NULL;
  atomic_init(&payload->references, 1);
  payload->length = length;
  memcpy(payload->bytes, bytes, length);
  return payload;
}

const unsigned char *shared_payload_bytes(const shared_payload *payload) {
  return payload->bytes;
}

void shared_payload_retain(shared_payload *payload) {
  atomic_fetch_add_explicit(&payload->references, 1, memory_order_relaxed);
}

void shared_payload_release(shared_payload *payload) {
  if (atomic_fetch_sub_explicit(&payload->references, 1, memory_order_acq_rel) == 1) free(payload);
}

/*
 * Seals a packet into `out` (room for DATAGRAM_MAX bytes): its header, the payload's bytes up to its patch
 * copied and patched there, the rest encrypted straight from the shared payload (one pass over it). Its
 * reference to the payload goes.
 */
static int seal_into(job *packet, unsigned char *out) {
  srtp_stream *stream = packet->context->stream;
  const unsigned char *source = packet->shared->bytes + packet->shared_offset;
  size_t own = payload_patch_end(packet->patch);
  memcpy(out, packet->header, packet->header_length);
  memcpy(out + packet->header_length, source, own);
  payload_patch_apply(out + packet->header_length, packet->patch);
  int length = srtp_seal_in_place(stream, out, packet->header_length, own, source + own,
                                  packet->payload_length - own, packet->roc);
  shared_payload_release(packet->shared);
  packet->shared = NULL;
  return length;
}

/* One socket's packets in a batch: a chain through `next`. */
typedef struct {
  send_socket *socket;
  uint64_t stamp;
  uint32_t first, last;
} group;

#define GROUP_TABLE_SIZE (2 * MAX_BATCH)
#define RING_BYTES ((size_t)RING_CAPACITY * sizeof(job))

struct send_thread {
  unsigned linger_us;
  int gso;
  job *ring;
  /* The batch's scratch: the thread's (or the JavaScript thread's while no thread runs). */
  job **batch;
  /* Each packet's context, read from its slot with its socket: what the thread is done with after sending
     is counted without going back to the slots (by then their lines had left the cache). */
  send_context **owners;
  uint32_t *next, *heads;
  group *groups;
  uint64_t stamp;
  struct msghdr *messages;
  struct iovec *iovecs;
  unsigned char (*controls)[UDP_GSO_CONTROL_LENGTH];
  uint32_t *segments;
  unsigned char *scratch;

  /* Slots published by the producer, and freed by the thread: each written by one side only. */
  _Alignas(64) _Atomic uint64_t head;
  /* The producer's, read by the thread: where the last rewind left off (UINT64_MAX: none yet). */
  _Atomic uint64_t rewound_at;
  /* The producer's: the slots it has written to, from the first (the ring's resident part) since the last
     trim; whether a trim waits for the ring to empty, and the trims done. */
  uint32_t slots_used;
  /* The producer's: how many holds of wakes are open (send_thread_hold_wakes), and whether a packet was
     published under them without the check for a sleeping thread. */
  int wakes_held, wake_owed;
  int trim_wanted;
  uint64_t trims;
  _Alignas(64) _Atomic uint64_t tail;
  _Alignas(64) _Atomic int sleeping;
  _Atomic int stopping;
  /* Frames the fan-out is queueing (send_thread_frames): the thread lets them close before it sends. */
  _Atomic int open_frames;

  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_t thread;
  /* Under `lock`: a thread runs; one ended and is not joined yet; the teardown happened. */
  int running, joinable, shut_down;
  tracked *graveyard;

  _Atomic int contexts, sockets;
  /* The producer's counters (read on its thread), then the thread's. */
  uint64_t queued, sent_at_once, full_waits;
  _Atomic uint64_t sent, dropped, batches, send_calls, gso_sends, gso_datagrams, cpu_ns;
  _Atomic int last_error;
  int full_socket_budget_ms;
  /* The producer's: the tail when a wait for the thread ran out (UINT64_MAX: none did). */
  uint64_t stalled_at;

  send_thread *next_alive;
};

/* Every send thread not torn down, for the exit handler. */
static pthread_mutex_t alive_lock = PTHREAD_MUTEX_INITIALIZER;
static send_thread *alive;
static pthread_once_t exit_handler_once = PTHREAD_ONCE_INIT;

static void stop_thread(send_thread *thread);

/* At exit(): no thread may be sealing while OpenSSL's exit handler tears it down. */
static void stop_all_at_exit(void) {
  pthread_mutex_lock(&alive_lock);
  for (send_thread *thread = alive; thread; thread = thread->next_alive) stop_thread(thread);
  pthread_mutex_unlock(&alive_lock);
}

static void register_exit_handler(void) {
  atexit(stop_all_at_exit);
}

/* Adds n to a counter only this thread writes: a plain store, no locked instruction. */
static inline void add(_Atomic uint64_t *counter, uint64_t n) {
  atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n, memory_order_relaxed);
}

/* The thread is done with n more of the object's packets (only it writes `done`). */
static inline void finished(tracked *object, uint64_t n) {
  atomic_store_explicit(&object->done, atomic_load_explicit(&object->done, memory_order_relaxed) + n,
                        memory_order_release);
}

static inline int idle(const tracked *object) {
  return atomic_load_explicit(&object->done, memory_order_acquire) == object->queued;
}

static inline job *slot(send_thread *thread, uint64_t sequence) {
  return &thread->ring[sequence & (RING_CAPACITY - 1)];
}

/*
 * Asks the cache for every line of a slot, for reading (rw 0) or writing (rw 1). Slots are not line-aligned
 * but start at multiples of 16 bytes from the page-aligned ring, so one of at most 208 bytes spans at most
 * four lines, and its first byte, the bytes 64 and 128 on and its last byte fall one in each.
 */
_Static_assert(sizeof(job) % 16 == 0 && sizeof(job) > 128 && sizeof(job) <= 208, "PREFETCH_SLOT covers a slot");
#define PREFETCH_SLOT(packet, rw)                                  \
  do {                                                             \
    const char *slot_bytes_ = (const char *)(packet);              \
    __builtin_prefetch(slot_bytes_, (rw));                         \
    __builtin_prefetch(slot_bytes_ + 64, (rw));                    \
    __builtin_prefetch(slot_bytes_ + 128, (rw));                   \
    __builtin_prefetch(slot_bytes_ + sizeof(job) - 1, (rw));       \
  } while (0)

/*
 * The first sequence from `tail` on that holds a packet: past the void a rewind left there, if any. The thread
 * calls it only once it has seen `head` past `tail` (so `rewound_at` is the rewind's, published with `head`).
 */
static inline uint64_t past_void(send_thread *thread, uint64_t tail) {
  if (tail != atomic_load_explicit(&thread->rewound_at, memory_order_relaxed)) return tail;
  return (tail | (RING_CAPACITY - 1)) + 1;
}

static uint64_t now_ns(clockid_t clock) {
  struct timespec time;
  clock_gettime(clock, &time);
  return (uint64_t)time.tv_sec * 1000000000u + (uint64_t)time.tv_nsec;
}

static void free_thread(send_thread *thread) {
  pthread_mutex_destroy(&thread->lock);
  pthread_cond_destroy(&thread->wake);
  if (thread->ring) munmap(thread->ring, RING_BYTES);
  free(thread->batch);
  free(thread->owners);
  free(thread->next);
  free(thread->heads);
  free(thread->groups);
  free(thread->messages);
  free(thread->iovecs);
  free(thread->controls);
  free(thread->segments);
  free(thread->scratch);
  free(thread);
}

/*
 * The last context or socket is gone (freed on the JavaScript thread): the thread, with nothing left to
 * send, is woken to end; after the teardown the memory goes (no thread runs then).
 */
static void object_gone(send_thread *thread) {
  if (atomic_load(&thread->contexts) + atomic_load(&thread->sockets) > 0) return;
  pthread_mutex_lock(&thread->lock);
  int shut_down = thread->shut_down;
  if (!shut_down && thread->running) pthread_cond_signal(&thread->wake);
  pthread_mutex_unlock(&thread->lock);
  if (shut_down) free_thread(thread);
}

static void destroy_context(tracked *object) {
  send_context *context = (send_context *)object;
  send_thread *thread = object->owner;
  srtp_stream_free(context->stream);
  sender_report_free(context->reports);
  free(context);
  atomic_fetch_sub(&thread->contexts, 1);
}

static void destroy_socket(tracked *object) {
  send_socket *socket = (send_socket *)object;
  send_thread *thread = object->owner;
  close(socket->fd);
  free(socket);
  atomic_fetch_sub(&thread->sockets, 1);
}

/* Frees what was released and has nothing queued any more. With `lock` held; on the thread, or after it. */
static void bury(send_thread *thread) {
  tracked **link = &thread->graveyard;
  while (*link) {
    tracked *object = *link;
    if (idle(object)) {
      *link = object->next_retired;
      object->destroy(object);
    } else {
      link = &object->next_retired;
    }
  }
}

/* How many slots ahead group_by_socket asks the cache for the slot it will read. */
#define GROUPING_AHEAD 16

/*
 * Chains the batch's packets (the `count` slots from `from`) by socket, in order within each; `heads` gets
 * each socket's first, in order of appearance. Returns how many sockets.
 */
static uint32_t group_by_socket(send_thread *thread, uint64_t from, uint32_t count) {
  uint64_t stamp = ++thread->stamp;
  uint32_t groups = 0;
  for (uint32_t i = 0; i < count; i++) {
    /* The slots come from the other core's cache; the hardware's prefetcher stops at each page's end. */
    if (i + GROUPING_AHEAD < count) __builtin_prefetch(slot(thread, from + i + GROUPING_AHEAD));
    job *packet = slot(thread, from + i);
    thread->batch[i] = packet;
    thread->owners[i] = packet->context;
    send_socket *socket = packet->socket;
    thread->next[i] = NONE;
    size_t hash = ((uintptr_t)socket >> 6) * 0x9E3779B97F4A7C15u;
    size_t index = (hash >> 20) & (GROUP_TABLE_SIZE - 1);
    for (;;) {
      group *entry = &thread->groups[index];
      if (entry->stamp != stamp) {
        *entry = (group){.socket = socket, .stamp = stamp, .first = i, .last = i};
        thread->heads[groups++] = i;
        break;
      }
      if (entry->socket == socket) {
        thread->next[entry->last] = i;
        entry->last = i;
        break;
      }
      index = (index + 1) & (GROUP_TABLE_SIZE - 1);
    }
  }
  return groups;
}

static void dropped(send_thread *thread, uint32_t datagrams, int error) {
  add(&thread->dropped, datagrams);
  atomic_store_explicit(&thread->last_error, error, memory_order_relaxed);
}

/* A GSO send the path refused: its datagrams one by one. */
static void send_one_by_one(send_thread *thread, send_socket *socket, const struct msghdr *message) {
  for (size_t i = 0; i < message->msg_iovlen; i++) {
    struct msghdr single = {.msg_name = message->msg_name, .msg_namelen = message->msg_namelen,
                            .msg_iov = &message->msg_iov[i], .msg_iovlen = 1};
    int sent = udp_send_messages(socket->fd, &single, 1);
    add(&thread->send_calls, 1);
    if (sent > 0) add(&thread->sent, 1);
    else dropped(thread, 1, -sent);
  }
}

/* Waits until `fd` can take more, within the batch's budget; 0 when the budget is spent. */
static int wait_writable(send_thread *thread, int fd) {
  if (thread->full_socket_budget_ms <= 0) return 0;
  struct pollfd descriptor = {.fd = fd, .events = POLLOUT};
  uint64_t start = now_ns(CLOCK_MONOTONIC);
  int ready = poll(&descriptor, 1, thread->full_socket_budget_ms < 2 ? thread->full_socket_budget_ms : 2);
  int spent = (int)((now_ns(CLOCK_MONOTONIC) - start) / 1000000u);
  thread->full_socket_budget_ms -= spent > 0 ? spent : 1;
  return ready > 0;
}

static void transmit(send_thread *thread, send_socket *socket, uint32_t count) {
  uint32_t i = 0;
  while (i < count) {
    int sent = udp_send_messages(socket->fd, &thread->messages[i], count - i);
    add(&thread->send_calls, 1);
    if (sent > 0) {
      for (uint32_t k = i; k < i + (uint32_t)sent; k++) {
        add(&thread->sent, thread->segments[k]);
        if (thread->segments[k] > 1) {
          add(&thread->gso_sends, 1);
          add(&thread->gso_datagrams, thread->segments[k]);
        }
      }
      i += (uint32_t)sent;
      continue;
    }
    int error = -sent;
    if (error == EINTR) continue;
    if ((error == EAGAIN || error == EWOULDBLOCK) && wait_writable(thread, socket->fd)) continue;
    if (thread->segments[i] > 1 && (error == EINVAL || error == EIO || error == ENOPROTOOPT || error == EOPNOTSUPP)) {
      socket->no_gso = 1;
      send_one_by_one(thread, socket, &thread->messages[i]);
    } else {
      dropped(thread, thread->segments[i], error);
    }
    i++;
  }
}

/*
 * Seals one socket's packets of the batch into the scratch (just before the kernel copies them: still in the
 * cache) and sends them in order: runs of one destination and size as GSO sends. What does not fit in the
 * scratch at once is sealed and sent in parts, in order.
 */
static void send_group(send_thread *thread, uint32_t first) {
  send_socket *socket = thread->batch[first]->socket;
  int gso = thread->gso && !socket->no_gso;
  uint32_t index = first;
  while (index != NONE) {
    /* Seal as many as fit; `end` is the first left for the next part. */
    size_t used = 0;
    uint32_t start = index, end;
    for (end = index; end != NONE; end = thread->next[end]) {
      job *packet = thread->batch[end];
      if (used + DATAGRAM_MAX > SCRATCH_BYTES) break;
      packet->sealed = thread->scratch + used;
      int length = seal_into(packet, packet->sealed);
      packet->length = length > 0 ? (uint16_t)length : 0;
      used += packet->length;
    }
    uint32_t messages = 0, iovecs = 0;
    index = start;
    while (index != end) {
      job *packet = thread->batch[index];
      if (packet->length == 0) {
        dropped(thread, 1, EINVAL);
        index = thread->next[index];
        continue;
      }
      struct msghdr *message = &thread->messages[messages];
      memset(message, 0, sizeof *message);
      message->msg_name = &packet->target;
      message->msg_namelen = packet->target_length;
      message->msg_iov = &thread->iovecs[iovecs];
      uint16_t size = packet->length;
      uint32_t segments = 0;
      size_t bytes = 0;
      for (;;) {
        thread->iovecs[iovecs++] = (struct iovec){.iov_base = packet->sealed, .iov_len = packet->length};
        segments++;
        bytes += packet->length;
        index = thread->next[index];
        if (!gso || index == end || packet->length < size) break; /* a shorter one ends a run */
        job *following = thread->batch[index];
        if (following->length == 0 || following->length > size || segments == UDP_GSO_MAX_SEGMENTS ||
            bytes + following->length > GSO_MAX_BYTES || following->target_length != packet->target_length ||
            memcmp(&following->target, &packet->target, packet->target_length) != 0) {
          break;
        }
        packet = following;
      }
      message->msg_iovlen = segments;
      if (segments > 1) udp_gso_control(message, thread->controls[messages], size);
      thread->segments[messages++] = segments;
    }
    if (messages > 0) transmit(thread, socket, messages);
  }
  /* Done with them: one store per run of a context's packets (a viewer's video and audio share a socket). */
  uint64_t packets = 0;
  for (index = first; index != NONE;) {
    send_context *context = thread->owners[index];
    uint64_t run = 0;
    do {
      run++;
      index = thread->next[index];
    } while (index != NONE && thread->owners[index] == context);
    finished(&context->base, run);
    packets += run;
  }
  finished(&socket->base, packets);
}

/*
 * Asks the cache for what sending a socket's packets (send_group) will read, in stages a few sockets ahead,
 * each needing what the one before brought: 4 ahead its slots (written by the JavaScript thread, on the
 * other core), 3 ahead its socket and context, 2 ahead the context's SRTP stream, 1 ahead the stream's
 * cipher. Without it the thread waited for memory at each socket's first packet.
 */
#define PREFETCH_AHEAD 4
static void prefetch_group(send_thread *thread, uint32_t first, int stage) {
  if (stage == 4) {
    for (uint32_t index = first; index != NONE; index = thread->next[index]) PREFETCH_SLOT(thread->batch[index], 0);
    return;
  }
  const job *packet = thread->batch[first];
  if (stage == 3) {
    __builtin_prefetch(&packet->socket->fd);
    __builtin_prefetch(&packet->context->stream);
    __builtin_prefetch(&packet->context->base.done, 1);
  } else if (stage == 2) {
    __builtin_prefetch(packet->context->stream);
  } else {
    srtp_stream_prefetch(packet->context->stream);
  }
}

static void process(send_thread *thread, uint64_t from, uint32_t count) {
  thread->full_socket_budget_ms = FULL_SOCKET_WAIT_MS;
  uint32_t groups = group_by_socket(thread, from, count);
  for (uint32_t g = 0; g < groups && g < PREFETCH_AHEAD; g++) {
    for (int stage = PREFETCH_AHEAD; stage > (int)g; stage--) prefetch_group(thread, thread->heads[g], stage);
  }
  for (uint32_t i = 0; i < groups; i++) {
    for (uint32_t ahead = 1; ahead <= PREFETCH_AHEAD && i + ahead < groups; ahead++) {
      prefetch_group(thread, thread->heads[i + ahead], (int)ahead);
    }
    send_group(thread, thread->heads[i]);
  }
  add(&thread->batches, 1);
  atomic_store_explicit(&thread->tail, from + count, memory_order_release);
}

/*
 * Sleeps until a packet is queued. Returns 0 when the thread should end instead: the teardown, or nothing
 * queued and no context or socket alive (a server without viewers keeps no thread).
 */
static int wait_for_packets(send_thread *thread, uint64_t tail) {
  pthread_mutex_lock(&thread->lock);
  int result = 1;
  for (;;) {
    if (thread->graveyard) bury(thread);
    if (atomic_load(&thread->stopping)) {
      result = 0;
      break;
    }
    atomic_store(&thread->sleeping, 1);
    if (atomic_load(&thread->head) != tail) break;
    if (atomic_load(&thread->contexts) + atomic_load(&thread->sockets) == 0 && !thread->graveyard) {
      result = 0;
      break;
    }
    pthread_cond_wait(&thread->wake, &thread->lock);
  }
  if (result) {
    atomic_store(&thread->sleeping, 0);
  } else if (!atomic_load(&thread->stopping)) {
    /* `sleeping` stays set: the next producer takes the lock, and starts a thread again (joining this one). */
    thread->running = 0;
    thread->joinable = 1;
  }
  pthread_mutex_unlock(&thread->lock);
  return result;
}

static void *run(void *argument) {
  send_thread *thread = argument;
#ifdef __linux__
  pthread_setname_np(pthread_self(), "webgear-send");
#endif
  uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
  unsigned frame_waited_us = 0;
  for (;;) {
    uint64_t tail = atomic_load_explicit(&thread->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&thread->head, memory_order_acquire);
    uint64_t from = head != tail ? past_void(thread, tail) : tail;
    if (from != tail) {
      tail = from;
      atomic_store_explicit(&thread->tail, tail, memory_order_release);
    }
    if (head != tail && atomic_load_explicit(&thread->open_frames, memory_order_relaxed) > 0 &&
        frame_waited_us < FRAME_WAIT_MAX_US && head - tail < RING_CAPACITY / 4 * 3 &&
        !atomic_load_explicit(&thread->stopping, memory_order_relaxed)) {
      struct timespec step = {.tv_sec = 0, .tv_nsec = FRAME_WAIT_STEP_US * 1000L};
      nanosleep(&step, NULL);
      frame_waited_us += FRAME_WAIT_STEP_US;
      continue;
    }
    frame_waited_us = 0;
    if (head == tail || atomic_load_explicit(&thread->stopping, memory_order_relaxed)) {
      if (!wait_for_packets(thread, tail)) break;
      if (thread->linger_us > 0) {
        /* Woken by the first packet of a burst: let the rest of it come, so that it goes in a few sends. */
        struct timespec linger = {.tv_sec = thread->linger_us / 1000000, .tv_nsec = (long)(thread->linger_us % 1000000) * 1000};
        nanosleep(&linger, NULL);
      }
      continue;
    }
    uint64_t count = head - tail;
    process(thread, tail, count > MAX_BATCH ? MAX_BATCH : (uint32_t)count);
    uint64_t now = now_ns(CLOCK_THREAD_CPUTIME_ID);
    add(&thread->cpu_ns, now - cpu);
    cpu = now;
  }
  add(&thread->cpu_ns, now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu);
  return NULL;
}

/* Starts the thread, with `lock` held. Its signals are blocked: they go to Node's threads, as Node expects. */
static int start_thread(send_thread *thread) {
  if (thread->joinable) {
    pthread_join(thread->thread, NULL); /* it has ended, or is about to return */
    thread->joinable = 0;
  }
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int error = pthread_create(&thread->thread, NULL, run, thread);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  if (error != 0) return -error;
  thread->running = 1;
  return 0;
}

/*
 * Gets the queued packets going: wakes the thread, or starts it. Where no thread can be started the
 * JavaScript thread sends them itself, now.
 */
static void kick(send_thread *thread) {
  pthread_mutex_lock(&thread->lock);
  if (thread->running) {
    atomic_store(&thread->sleeping, 0);
    pthread_cond_signal(&thread->wake);
  } else if (!thread->shut_down && !atomic_load(&thread->stopping) && start_thread(thread) == 0) {
    atomic_store(&thread->sleeping, 0);
  } else {
    uint64_t tail = atomic_load(&thread->tail), head = atomic_load(&thread->head);
    if (tail < head) tail = past_void(thread, tail);
    while (tail < head) {
      uint64_t count = head - tail > MAX_BATCH ? MAX_BATCH : head - tail;
      process(thread, tail, (uint32_t)count);
      tail += count;
      thread->sent_at_once += count;
    }
    bury(thread);
  }
  pthread_mutex_unlock(&thread->lock);
}

/* Stops the thread and joins it; the packets it did not take are dropped. The JavaScript thread's (or exit's). */
static void stop_thread(send_thread *thread) {
  pthread_mutex_lock(&thread->lock);
  atomic_store(&thread->stopping, 1);
  pthread_cond_signal(&thread->wake);
  int join = thread->running || thread->joinable;
  thread->running = 0;
  thread->joinable = 0;
  pthread_mutex_unlock(&thread->lock);
  if (join) pthread_join(thread->thread, NULL);
  if (!thread->ring) return;
  uint64_t tail = atomic_load(&thread->tail), head = atomic_load(&thread->head);
  for (tail = tail < head ? past_void(thread, tail) : tail; tail < head; tail++) {
    job *packet = slot(thread, tail);
    if (packet->shared) {
      shared_payload_release(packet->shared);
      packet->shared = NULL;
    }
    finished(&packet->context->base, 1);
    finished(&packet->socket->base, 1);
    add(&thread->dropped, 1);
  }
  atomic_store(&thread->tail, head);
}

send_thread *send_thread_new(unsigned linger_us, int gso) {
  pthread_once(&exit_handler_once, register_exit_handler);
  send_thread *thread;
  if (posix_memalign((void **)&thread, 64, sizeof *thread) != 0) return NULL;
  memset(thread, 0, sizeof *thread);
  if (pthread_mutex_init(&thread->lock, NULL) != 0) {
    free(thread);
    return NULL;
  }
  if (pthread_cond_init(&thread->wake, NULL) != 0) {
    pthread_mutex_destroy(&thread->lock);
    free(thread);
    return NULL;
  }
  thread->linger_us = linger_us > 1000000 ? 1000000 : linger_us;
  thread->stalled_at = UINT64_MAX;
  atomic_init(&thread->rewound_at, UINT64_MAX);
  thread->gso = gso && udp_gso_supported();
  /* No thread yet: the first producer takes the lock and starts one. */
  atomic_store(&thread->sleeping, 1);
  pthread_mutex_lock(&alive_lock);
  thread->next_alive = alive;
  alive = thread;
  pthread_mutex_unlock(&alive_lock);
  return thread;
}

/* The ring and the batch's scratch, at the first packet queued; 0, or -ENOMEM. */
static int allocate(send_thread *thread) {
  if (thread->ring) return 0;
  /* Mapped on its own: its pages can be given back (trim_ring) without touching anything else's. */
  void *ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring == MAP_FAILED) return -ENOMEM;
  thread->batch = calloc(MAX_BATCH, sizeof *thread->batch);
  thread->owners = calloc(MAX_BATCH, sizeof *thread->owners);
  thread->next = calloc(MAX_BATCH, sizeof *thread->next);
  thread->heads = calloc(MAX_BATCH, sizeof *thread->heads);
  thread->groups = calloc(GROUP_TABLE_SIZE, sizeof *thread->groups);
  thread->messages = calloc(MAX_BATCH, sizeof *thread->messages);
  thread->iovecs = calloc(MAX_BATCH, sizeof *thread->iovecs);
  thread->controls = calloc(MAX_BATCH, sizeof *thread->controls);
  thread->segments = calloc(MAX_BATCH, sizeof *thread->segments);
  thread->scratch = malloc(SCRATCH_BYTES);
  if (!thread->batch || !thread->owners || !thread->next || !thread->heads || !thread->groups || !thread->messages ||
      !thread->iovecs || !thread->controls || !thread->segments || !thread->scratch) {
    munmap(ring, RING_BYTES);
    free(thread->batch);
    free(thread->owners);
    free(thread->next);
    free(thread->heads);
    free(thread->groups);
    free(thread->messages);
    free(thread->iovecs);
    free(thread->controls);
    free(thread->segments);
    free(thread->scratch);
    thread->batch = NULL;
    thread->owners = NULL;
    thread->next = thread->heads = NULL;
    thread->groups = NULL;
    thread->messages = NULL;
    thread->iovecs = NULL;
    thread->controls = NULL;
    thread->segments = NULL;
    thread->scratch = NULL;
    return -ENOMEM;
  }
  thread->ring = ring;
  return 0;
}

void send_thread_shutdown(send_thread *thread) {
  pthread_mutex_lock(&alive_lock);
  for (send_thread **link = &alive; *link; link = &(*link)->next_alive) {
    if (*link == thread) {
      *link = thread->next_alive;
      break;
    }
  }
  pthread_mutex_unlock(&alive_lock);
  stop_thread(thread);
  pthread_mutex_lock(&thread->lock);
  bury(thread); /* nothing is queued any more: everything released goes */
  thread->shut_down = 1;
  pthread_mutex_unlock(&thread->lock);
  object_gone(thread);
}

static void track(tracked *object, send_thread *thread, void (*destroy)(tracked *)) {
  object->owner = thread;
  object->destroy = destroy;
  object->queued = 0;
  object->next_retired = NULL;
  atomic_init(&object->done, 0);
}

/* Freed now when nothing of it is queued, else by the thread once its last packet is gone. */
static void retire(tracked *object) {
  send_thread *thread = object->owner;
  if (idle(object)) {
    object->destroy(object);
    object_gone(thread);
    return;
  }
  pthread_mutex_lock(&thread->lock);
  object->next_retired = thread->graveyard;
  thread->graveyard = object;
  if (thread->running) pthread_cond_signal(&thread->wake);
  pthread_mutex_unlock(&thread->lock);
}

send_context *send_context_new(send_thread *thread, srtp_stream *stream) {
  send_context *context;
  if (posix_memalign((void **)&context, 64, sizeof *context) != 0) return NULL;
  track(&context->base, thread, destroy_context);
  context->stream = stream;
  context->reports = NULL;
  atomic_fetch_add(&thread->contexts, 1);
  return context;
}

srtp_stream *send_context_stream(const send_context *context) {
  return context->stream;
}

void send_context_set_reports(send_context *context, sender_report *reports) {
  sender_report_free(context->reports);
  context->reports = reports;
}

sender_report *send_context_reports(const send_context *context) {
  return context->reports;
}

/* Waits until `done(object)`, at most `timeout_ms` (and not at all while the thread is stalled); 0 or -EBUSY. */
static int wait_for(send_thread *thread, int (*done)(send_thread *, const void *), const void *object, int timeout_ms) {
  uint64_t tail = atomic_load_explicit(&thread->tail, memory_order_acquire);
  if (thread->stalled_at == tail) return -EBUSY;
  thread->stalled_at = UINT64_MAX;
  kick(thread);
  uint64_t deadline = now_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000u;
  for (unsigned spin = 0; !done(thread, object); spin++) {
    if (now_ns(CLOCK_MONOTONIC) >= deadline) {
      thread->stalled_at = atomic_load_explicit(&thread->tail, memory_order_acquire);
      return -EBUSY;
    }
    if (spin < 64) {
      sched_yield();
    } else {
      struct timespec pause = {.tv_sec = 0, .tv_nsec = 20000};
      nanosleep(&pause, NULL);
    }
  }
  return 0;
}

static int context_idle(send_thread *thread, const void *context) {
  (void)thread;
  return idle(&((const send_context *)context)->base);
}

/* The producer's view of where the thread is: its tail, or past the void of a rewind it has yet to step over. */
static inline uint64_t taken_to(send_thread *thread) {
  return past_void(thread, atomic_load_explicit(&thread->tail, memory_order_acquire));
}

static int ring_has_room(send_thread *thread, const void *head) {
  return *(const uint64_t *)head - taken_to(thread) < RING_CAPACITY;
}

int send_context_settle(send_context *context, int timeout_ms) {
  if (idle(&context->base)) return 0;
  return wait_for(context->base.owner, context_idle, context, timeout_ms);
}

void send_context_release(send_context *context) {
  retire(&context->base);
}

send_socket *send_socket_new(send_thread *thread, int fd) {
  send_socket *socket;
  if (posix_memalign((void **)&socket, 64, sizeof *socket) != 0) {
    errno = ENOMEM;
    return NULL;
  }
  socket->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (socket->fd < 0) {
    int error = errno;
    free(socket);
    errno = error;
    return NULL;
  }
  socket->no_gso = 0;
  track(&socket->base, thread, destroy_socket);
  atomic_fetch_add(&thread->sockets, 1);
  return socket;
}

int send_socket_fd(const send_socket *socket) {
  return socket->fd;
}

void send_socket_release(send_socket *socket) {
  retire(&socket->base);
}

/* Seals and sends on the JavaScript thread, once the viewer's queued packets are gone. */
static int send_at_once(send_thread *thread, send_context *context, send_socket *socket, const void *target,
                        socklen_t target_length, const unsigned char *header, size_t header_length,
                        const unsigned char *payload, size_t payload_length, uint32_t roc, uint32_t patch) {
  if (send_context_settle(context, FULL_RING_WAIT_MS) != 0) return -EBUSY;
  unsigned char datagram[2048];
  unsigned char patched[2048];
  payload = payload_patched(payload, payload_length, patch, patched, sizeof patched);
  if (!payload) return -EMSGSIZE;
  int length = srtp_seal(context->stream, header, header_length, payload, payload_length, roc, datagram, sizeof datagram);
  if (length > 0) length = udp_send(socket->fd, datagram, (size_t)length, target, target_length);
  thread->sent_at_once++;
  return length;
}


/*
 * Gives the pages of the slots used back to the system (they read as zeros when next used). The producer's,
 * with the ring empty: the thread touches no slot, and the next packet goes to the first.
 */
static void trim_ring(send_thread *thread) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t used = (size_t)thread->slots_used * sizeof(job);
  size_t length = (used + page - 1) / page * page;
  if (length > RING_BYTES) length = RING_BYTES;
  if (length > 0) madvise(thread->ring, length, MADV_DONTNEED);
  thread->slots_used = 0;
  thread->trim_wanted = 0;
  thread->trims++;
}

/* Wakes the thread if it sleeps, after a packet was published. */
static void wake_if_asleep(send_thread *thread) {
  /* Pairs with the thread's store of `sleeping` and load of `head`: one of the two sees the other. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&thread->sleeping, memory_order_relaxed)) kick(thread);
}

/* The wake a hold put off, if one is owed. */
static void wake_owed(send_thread *thread) {
  if (!thread->wake_owed) return;
  thread->wake_owed = 0;
  wake_if_asleep(thread);
}

/* How many slots ahead of the one it writes the producer asks the cache for one. */
#define PRODUCER_AHEAD 8

/* send_thread_queue and send_thread_queue_shared: the payload copied into the slot now, or (`shared`) by the thread. */
static int enqueue(send_thread *thread, send_context *context, send_socket *socket, const void *target,
                   socklen_t target_length, const unsigned char *header, size_t header_length,
                   const unsigned char *payload, size_t payload_length, uint32_t roc, uint32_t patch,
                   shared_payload *shared) {
  if (header_length < 12 || target_length == 0 || target_length > sizeof(((job *)0)->target)) return -EINVAL;
  if (!payload_patch_fits(patch, payload_length)) return -EINVAL;
  size_t length = header_length + payload_length + SRTP_TAG_LENGTH;
  if (length > DATAGRAM_MAX || header_length > HEADER_INLINE || thread->shut_down || allocate(thread) != 0) {
    return send_at_once(thread, context, socket, target, target_length, header, header_length, payload,
                        payload_length, roc, patch);
  }
  uint64_t head = atomic_load_explicit(&thread->head, memory_order_relaxed);
  uint64_t tail = taken_to(thread);
  if (head == tail && (head & (RING_CAPACITY - 1)) != 0) {
    /* Empty: start again at the first slot (published with `head` below). */
    atomic_store_explicit(&thread->rewound_at, head, memory_order_relaxed);
    head = (head | (RING_CAPACITY - 1)) + 1;
    if (thread->trim_wanted) trim_ring(thread);
  } else if (head - tail >= RING_CAPACITY) {
    /* The thread is behind. A viewer with nothing queued is sent at once (both threads send); one with
       packets queued waits for room, so that its packets stay in order. */
    if (idle(&context->base)) {
      return send_at_once(thread, context, socket, target, target_length, header, header_length, payload,
                          payload_length, roc, patch);
    }
    thread->full_waits++;
    wake_owed(thread);
    if (wait_for(thread, ring_has_room, &head, FULL_RING_WAIT_MS) != 0) return -EBUSY;
  }
  if (shared) {
    atomic_fetch_add_explicit(&shared->references, 1, memory_order_relaxed); /* published with `head` */
  } else {
    /* A payload of its own: its one reference is the slot's. */
    shared = shared_payload_new(payload, payload_length);
    if (!shared) {
      return send_at_once(thread, context, socket, target, target_length, header, header_length, payload,
                          payload_length, roc, patch);
    }
    payload = shared->bytes;
  }
  job *packet = slot(thread, head);
  if ((head & (RING_CAPACITY - 1)) >= thread->slots_used) thread->slots_used = (uint32_t)(head & (RING_CAPACITY - 1)) + 1;
  packet->context = context;
  packet->socket = socket;
  memcpy(&packet->target, target, target_length);
  packet->target_length = target_length;
  packet->roc = roc;
  packet->header_length = (uint16_t)header_length;
  packet->payload_length = (uint16_t)payload_length;
  memcpy(packet->header, header, header_length);
  packet->shared = shared;
  packet->shared_offset = (uint16_t)(payload - shared->bytes);
  packet->patch = patch;
  context->base.queued++;
  socket->base.queued++;
  thread->queued++;
  atomic_store_explicit(&thread->head, head + 1, memory_order_release);
  /* The slots the next packets will be written to, from the other core's cache (the thread read them last). */
  PREFETCH_SLOT(slot(thread, head + 1 + PRODUCER_AHEAD), 1);
  if (thread->wakes_held) {
    thread->wake_owed = 1;
  } else {
    wake_if_asleep(thread);
  }
  return (int)length;
}

void send_thread_hold_wakes(send_thread *thread) {
  thread->wakes_held++;
}

void send_thread_release_wakes(send_thread *thread) {
  if (thread->wakes_held > 0 && --thread->wakes_held == 0) wake_owed(thread);
}

int send_thread_queue(send_thread *thread, send_context *context, send_socket *socket, const void *target,
                      socklen_t target_length, const unsigned char *header, size_t header_length,
                      const unsigned char *payload, size_t payload_length, uint32_t roc, uint32_t patch) {
  return enqueue(thread, context, socket, target, target_length, header, header_length, payload, payload_length,
                 roc, patch, NULL);
}

int send_thread_queue_shared(send_thread *thread, send_context *context, send_socket *socket, const void *target,
                             socklen_t target_length, const unsigned char *header, size_t header_length,
                             shared_payload *payload, size_t offset, uint32_t roc, uint32_t patch) {
  if (offset > payload->length || offset > UINT16_MAX) return -EINVAL;
  return enqueue(thread, context, socket, target, target_length, header, header_length, payload->bytes + offset,
                 payload->length - offset, roc, patch, payload);
}

void send_thread_trim(send_thread *thread) {
  if (!thread->ring || thread->slots_used == 0) return;
  uint64_t head = atomic_load_explicit(&thread->head, memory_order_relaxed);
  if (head == taken_to(thread)) {
    trim_ring(thread);
  } else {
    thread->trim_wanted = 1;
  }
}

void send_thread_frames(send_thread *thread, int change) {
  atomic_fetch_add_explicit(&thread->open_frames, change, memory_order_relaxed);
}

void send_thread_stats(send_thread *thread, send_stats *stats) {
  stats->queued = thread->queued;
  stats->sent_at_once = thread->sent_at_once;
  stats->full_waits = thread->full_waits;
  stats->sent = atomic_load(&thread->sent);
  stats->dropped = atomic_load(&thread->dropped);
  stats->batches = atomic_load(&thread->batches);
  stats->send_calls = atomic_load(&thread->send_calls);
  stats->gso_sends = atomic_load(&thread->gso_sends);
  stats->gso_datagrams = atomic_load(&thread->gso_datagrams);
  stats->cpu_ns = atomic_load(&thread->cpu_ns);
  stats->last_error = atomic_load(&thread->last_error);
  stats->gso = thread->gso;
  stats->capacity = RING_CAPACITY;
  stats->slots_used = (int)thread->slots_used;
  stats->trims = thread->trims;
  stats->resident_bytes = 0;
  if (thread->ring) {
    /* What of the ring is in memory now: of the slots used since the last trim (none after them was touched). */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t used = (size_t)thread->slots_used * sizeof(job);
    size_t pages = (used + page - 1) / page;
    unsigned char *resident = pages ? malloc(pages) : NULL;
    if (resident && mincore(thread->ring, used, resident) == 0) {
      for (size_t i = 0; i < pages; i++) stats->resident_bytes += (resident[i] & 1) * page;
    }
    free(resident);
  }
  pthread_mutex_lock(&thread->lock);
  stats->running = thread->running;
  pthread_mutex_unlock(&thread->lock);
  stats->contexts = atomic_load(&thread->contexts);
  stats->sockets = atomic_load(&thread->sockets);
}
