/*
 * The native load generator: many receive-only WebRTC viewers on one thread (see ../README.md).
 *
 * Threads: Node's thread creates viewers (a socket each) and hands them to the I/O thread through a
 * command queue; from then on only the I/O thread touches a viewer's protocol state. Node reads the
 * counters under "published" below at any time: they are written with relaxed atomic stores and read
 * with relaxed atomic loads, so a reading is a snapshot that may be a packet old, never torn. Viewers are
 * freed only when the engine is destroyed, after the I/O thread has been joined.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#define PUBLISH(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* A viewer's life; FAILED and CLOSED are final. */
enum viewer_state { V_NEW = 0, V_CHECKING = 1, V_DTLS = 2, V_CONNECTED = 3, V_FAILED = 4, V_CLOSED = 5 };

/* SRTP protection profiles (RFC 5764, RFC 7714), by their DTLS-SRTP ids. */
#define PROFILE_AES128_CM_SHA1_80 0x0001
#define PROFILE_AEAD_AES_128_GCM 0x0007

/* One direction of SRTP or SRTCP: session keys derived from the DTLS master key (srtp.c). */
typedef struct srtp_stream {
  int profile;
  EVP_CIPHER_CTX *cipher; /* AES-128-GCM, or AES-128-CTR for the CM profile */
  EVP_MAC_CTX *mac;       /* HMAC-SHA1, CM profile only */
  uint8_t salt[14];       /* GCM uses the first 12 bytes */
} srtp_stream_t;

typedef struct viewer {
  uint32_t id;
  int fd;
  struct sockaddr_in local;
  struct sockaddr_in remote; /* the server's candidate, once started */
  int64_t created_ns;        /* CLOCK_MONOTONIC when Node created it, just before its POST */

  /* ICE: our credentials (in the offer) and the server's (from the answer). */
  char local_ufrag[9], local_pwd[25];
  char remote_ufrag[257], remote_pwd[257];
  uint64_t tie_breaker;
  uint8_t check_txid[12];   /* the nominating check, retransmitted with the same id */
  uint8_t consent_txid[12]; /* our latest consent check */
  int64_t next_check_ns, check_interval_ns, deadline_ns, next_consent_ns, last_consent_ns;

  /* DTLS and SRTP, set on start. */
  char srtp_profiles[96];
  uint8_t expected_fingerprint[32];
  SSL *ssl;
  srtp_stream_t rtp_in, rtcp_in, rtcp_out;
  uint32_t srtcp_index;

  /* RTP receive state (RFC 3711 appendix A for the rollover counter, RFC 3550 for the report). */
  bool seen;
  uint32_t ssrc, rtcp_ssrc;
  uint16_t highest_seq;
  uint32_t roc;
  uint64_t first_index, max_index, received;
  uint64_t expected_prior, received_prior;
  int64_t transit;
  double jitter; /* RTP timestamp units */
  uint32_t lsr;
  int64_t lsr_at_ns, next_rr_ns;

  /* Published to Node (relaxed atomics). */
  int state;
  char failure[200]; /* written before state becomes V_FAILED (release), read after (acquire) */
  uint64_t packets, bytes, frames, lost, auth_failures, rtcp_auth_failures, other_ssrc;
  uint64_t rtcp_sent, rtcp_received, stun_answered, consent_responses, send_errors;
  int64_t connected_ns, first_media_ns, last_media_ns;
  uint32_t jitter_us;
} viewer_t;

enum command_kind { CMD_ADD, CMD_START, CMD_CLOSE };
typedef struct command {
  int kind;
  viewer_t *viewer;
} command_t;

#include <netinet/udp.h>
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h, Linux 5.0 */
#endif

#define RECV_BATCH 64
/* A datagram, or with UDP_GRO a run of them coalesced (up to 64 KB). */
#define DATAGRAM_MAX 65536

typedef struct engine {
  int epfd, wakefd;
  pthread_t thread;
  bool thread_started;
  int64_t epoch_ns, hard_stop_ns, batch_ns;
  bool receive_offload; /* UDP_GRO on the viewers' sockets */
  int stop; /* atomic: set by Node to end the thread */

  /* Node's side: every viewer ever created (freed on destroy), and the queue to the I/O thread. */
  pthread_mutex_t lock;
  command_t *queue;
  size_t queue_length, queue_capacity;
  viewer_t **all;
  size_t all_count, all_capacity;

  /* The I/O thread's side: viewers it runs (started or not, not closed). */
  viewer_t **active;
  size_t active_count, active_capacity;

  SSL_CTX *ssl_ctx;
  uint8_t fingerprint[32];
  uint32_t allowed[16]; /* IPv4 addresses (network order) besides 127.0.0.0/8 that may be sent to */
  int allowed_count;

  /* Published (relaxed atomics): the I/O thread's own CPU and its work. */
  uint64_t thread_cpu_us, datagrams, recv_calls, wakeups;
  int thread_done;

  struct mmsghdr msgs[RECV_BATCH];
  struct iovec iovs[RECV_BATCH];
  struct sockaddr_in from[RECV_BATCH];
  uint8_t buffers[RECV_BATCH][DATAGRAM_MAX];
  uint64_t controls[RECV_BATCH][8]; /* room for SCM_TIMESTAMPNS and UDP_GRO, aligned for cmsghdr */
} engine_t;

int64_t now_ns(void);

/* engine.c */
int engine_init(engine_t *engine, int64_t hard_stop_ms, int64_t batch_us, char *error, size_t error_size);
int engine_push(engine_t *engine, int kind, viewer_t *viewer);
void engine_stop(engine_t *engine);
uint64_t engine_thread_cpu_us(engine_t *engine);
void engine_destroy(engine_t *engine);
void viewer_fail(viewer_t *viewer, const char *format, ...) __attribute__((format(printf, 2, 3)));
void viewer_send(viewer_t *viewer, const uint8_t *data, int length);
bool engine_address_allowed(const engine_t *engine, uint32_t address);

/* ice.c: STUN checks both ways (RFC 8445, RFC 5389, RFC 7675). */
void ice_start(viewer_t *viewer, int64_t now);
void ice_receive(engine_t *engine, viewer_t *viewer, uint8_t *data, int length, const struct sockaddr_in *from,
                 int64_t now);
void ice_timers(engine_t *engine, viewer_t *viewer, int64_t now);

/* dtls.c: the DTLS 1.2 client and the SRTP keys it exports (RFC 5764). */
int dtls_context(engine_t *engine, char *error, size_t error_size);
void dtls_start(engine_t *engine, viewer_t *viewer, int64_t now);
void dtls_receive(engine_t *engine, viewer_t *viewer, uint8_t *data, int length, int64_t now);
void dtls_timers(viewer_t *viewer, int64_t now);
void dtls_close(viewer_t *viewer);

/* srtp.c */
int srtp_stream_init(srtp_stream_t *stream, int profile, const uint8_t *master_key, const uint8_t *master_salt,
                     bool rtcp, bool encrypt);
void srtp_stream_free(srtp_stream_t *stream);
int srtp_unprotect_rtp(srtp_stream_t *stream, uint8_t *packet, int length, int header_length, uint32_t ssrc,
                       uint32_t roc, uint16_t seq);
int srtcp_unprotect(srtp_stream_t *stream, uint8_t *packet, int length);
int srtcp_protect(srtp_stream_t *stream, uint8_t *packet, int length, uint32_t index);

/* media.c: RTP and RTCP in, receiver reports out. */
void media_receive(viewer_t *viewer, uint8_t *data, int length, int64_t now);
void media_timers(viewer_t *viewer, int64_t now);

#endif
