/* The send thread: viewers' packets sealed and sent off the JavaScript thread, in batches (send-thread.c). */
#ifndef WEBGEAR_SEND_THREAD_H
#define WEBGEAR_SEND_THREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sender-report.h"
#include "srtp.h"

typedef struct send_thread send_thread;
/* A viewer's SRTP stream as queued packets name it: freed once released and its queued packets are gone. */
typedef struct send_context send_context;
/* The addon's own descriptor of a UDP socket (a dup): closed once released and its queued packets are gone. */
typedef struct send_socket send_socket;

typedef struct {
  /* The JavaScript thread's: packets queued; sent at once instead (the queue full and the viewer's own
     packets all gone, a datagram over 1472 bytes or a header over 128, no thread); waits for room in a full queue. */
  uint64_t queued, sent_at_once, full_waits;
  /* The send thread's: datagrams sent, datagrams dropped (the socket's buffer full past the wait, or an
     error), batches taken, send calls (sendmmsg), GSO sends and the datagrams in them, its CPU time. */
  uint64_t sent, dropped, batches, send_calls, gso_sends, gso_datagrams, cpu_ns;
  /* The last error that dropped a datagram (errno), 0 if none. */
  int last_error;
  int gso, running;
  int contexts, sockets;
  /* The ring's slots: how many packets can wait at once; how many of them were ever used (from the first:
     the resident part, as many as the most that waited at once since an empty ring). */
  int capacity, slots_used;
  /* Times the slots used were given back to the system (send_thread_trim). */
  uint64_t trims;
  /* The ring's bytes in memory now (mincore). */
  uint64_t resident_bytes;
} send_stats;

/*
 * A send queue with no thread yet (it starts at the first packet); NULL when out of memory. `linger_us`: how
 * long the thread lets a burst gather after it wakes; `gso`: 0 keeps it from UDP GSO even where the kernel
 * has it (plain sendmmsg).
 */
send_thread *send_thread_new(unsigned linger_us, int gso);

/*
 * Stops the thread and waits for it (packets still queued are dropped): at the environment's teardown.
 * The memory goes once the last context and socket are released.
 */
void send_thread_shutdown(send_thread *thread);

/* A context that owns `stream`; NULL when out of memory (the stream is then the caller's to free). */
send_context *send_context_new(send_thread *thread, srtp_stream *stream);
srtp_stream *send_context_stream(const send_context *context);
/* Its sender reports from now on (the context owns them; a previous set is freed), on the JavaScript thread. */
void send_context_set_reports(send_context *context, sender_report *reports);
/* NULL until set. */
sender_report *send_context_reports(const send_context *context);

/*
 * Waits until none of the context's packets is queued any more (sent, or dropped), at most `timeout_ms`:
 * before anything else sends for this viewer (JavaScript, or the context's stream on this thread), so that
 * nothing overtakes a queued packet. 0, or -EBUSY when the time ran out.
 */
int send_context_settle(send_context *context, int timeout_ms);
void send_context_release(send_context *context);

/* The socket with descriptor `fd`, duplicated; NULL and errno set when it cannot be. */
send_socket *send_socket_new(send_thread *thread, int fd);
int send_socket_fd(const send_socket *socket);
void send_socket_release(send_socket *socket);

/*
 * Queues a packet: `header` (the viewer's, written by the caller) and `payload` with `patch` written into
 * the viewer's copy of it (payload-patch.h; 0: none), sealed with the context's stream and rollover counter
 * `roc` and sent from `socket` to `target` by the thread. Returns the bytes the datagram will have, or
 * -errno: the packet then is not sent (-EAGAIN: sent at once, and the socket's buffer was full).
 */
int send_thread_queue(send_thread *thread, send_context *context, send_socket *socket, const void *target,
                      socklen_t target_length, const unsigned char *header, size_t header_length,
                      const unsigned char *payload, size_t payload_length, uint32_t roc, uint32_t patch);

/*
 * A payload that queued packets share (the viewers of one source packet: a batch, send-batch.h; or one
 * packet's own). A slot holds the viewer's header and a reference; the send thread reads the payload as it
 * seals each packet into its scratch: the JavaScript thread writes only the headers (a copy per viewer of a
 * 1.1 kB payload into a ring slot not in the cache was most of a packet's cost there). Freed with its last
 * reference.
 */
typedef struct shared_payload shared_payload;

/* A copy of `bytes`, with one reference: the caller's. NULL when out of memory. */
shared_payload *shared_payload_new(const unsigned char *bytes, size_t length);
/* Its bytes (the whole packet it was made of). */
const unsigned char *shared_payload_bytes(const shared_payload *payload);
/* Another reference (a lane's history keeps what it sent: lane.c). */
void shared_payload_retain(shared_payload *payload);
void shared_payload_release(shared_payload *payload);

/*
 * Queues a packet as send_thread_queue does, its payload the shared one's bytes from `offset` on (a
 * reference is taken while it waits).
 */
int send_thread_queue_shared(send_thread *thread, send_context *context, send_socket *socket, const void *target,
                             socklen_t target_length, const unsigned char *header, size_t header_length,
                             shared_payload *payload, size_t offset, uint32_t roc, uint32_t patch);

/*
 * A frame's packets are being queued (+1: its first, without the marker bit) or are all queued (-1: its
 * last): until they are, the thread waits a little (FRAME_WAIT_MAX_US at most), so that each viewer's
 * packets of the frame go out as one GSO send.
 */
void send_thread_frames(send_thread *thread, int change);

/*
 * Packets queued while wakes are held (the holds nest) are published as always, but a sleeping thread is
 * woken once, when the last hold is released, not checked for at each one (a full memory fence each, which
 * waited for the slot's stores: for a source packet's fan-out to 1000 viewers, 1000 fences). The producer's
 * calls; a full ring wakes the thread at once.
 */
void send_thread_hold_wakes(send_thread *thread);
void send_thread_release_wakes(send_thread *thread);

/*
 * Gives the memory of the ring's slots back to the system: now if the ring is empty, else once it is (at the
 * next packet queued to an empty ring). The producer's: when viewers have come or gone, not per packet.
 */
void send_thread_trim(send_thread *thread);

void send_thread_stats(send_thread *thread, send_stats *stats);

#endif
