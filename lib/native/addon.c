/*
 * The N-API face of the native sender, for lib/sender/direct-sender.ts through lib/native/index.ts: a
 * viewer's SRTP context (srtp.c), socket addresses and the lookup of werift's socket (udp.c); `queue`,
 * which hands a packet to the send thread (send-thread.c: sealed and sent off the JavaScript thread, in
 * batches), and `sendWithHeader`, which seals and sends one on the calling thread (about 5 µs where Node's
 * crypto and dgram take about 18: docs/benchmarks.md).
 *
 * Each environment (the main thread, each worker) has its own send thread, torn down with it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_DEFAULT */
#endif
#include <dlfcn.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <node_api.h>

#include "fanout.h"
#include "handles.h"
#include "lane.h"
#include "payload-patch.h"
#include "send-batch.h"
#include "send-thread.h"
#include "sender-report.h"
#include "srtcp-open.h"
#include "srtp.h"
#include "udp.h"

/* Larger than any packet the server sends (it keeps RTP under the path MTU). */
#define MAX_SRTP_LENGTH 2048
/* How long a synchronous send waits for the viewer's queued packets to go before it gives up (-EBUSY). */
#define SETTLE_TIMEOUT_MS 1000
/* How long the send thread lets a burst gather after it wakes, unless WEBGEAR_SEND_LINGER_US says. */
#define DEFAULT_LINGER_US 1000

#define LANE_TAG 0x77676c6eu
#define OPENER_TAG 0x7767726fu
#define GROUP_TAG 0x77676770u

#define CHECK(call)                                                                                              \
  if ((call) != napi_ok) return NULL


/* The object behind an external made here, if it is the kind `tag` names: each begins with its tag. */
static void *unbox_tagged(napi_env env, napi_value value, uint32_t tag) {
  void *data;
  if (napi_get_value_external(env, value, &data) != napi_ok || !data || *(const uint32_t *)data != tag) return NULL;
  return data;
}

static handle *unbox(napi_env env, napi_value value, uint32_t tag) {
  return unbox_tagged(env, value, tag);
}

/* A context's or a socket's handle, whichever `value` is; NULL when it is neither. */
static handle *unbox_either(napi_env env, napi_value value) {
  handle *box = unbox(env, value, CONTEXT_TAG);
  return box ? box : unbox(env, value, SOCKET_TAG);
}

static void release_handle(handle *box) {
  if (!box->object) return;
  if (box->tag == CONTEXT_TAG) send_context_release(box->object);
  else send_socket_release(box->object);
  box->object = NULL;
}

static void free_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  handle_unregister(data);
  release_handle(data);
  free(data);
}

static napi_value wrap(napi_env env, uint32_t tag, void *object) {
  napi_value result;
  handle *box = malloc(sizeof *box);
  if (!box) return NULL;
  box->tag = tag;
  box->id = 0;
  box->object = object;
  if (handle_register(box) != 0) {
    free(box);
    return NULL;
  }
  if (napi_create_external(env, box, free_handle, NULL, &result) != napi_ok) {
    handle_unregister(box);
    free(box);
    return NULL;
  }
  return result;
}

/*
 * An object handed to JavaScript as an external (an SRTCP opener, a fan-out group): its tag first, so that
 * unbox_tagged() knows it; freed with `release` when the external is collected.
 */
typedef struct {
  uint32_t tag;
  void *object;
  void (*release)(void *object);
} object_box;

static void free_object_box(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  object_box *box = data;
  box->release(box->object);
  free(box);
}

/* `object` as an external tagged `tag`; NULL (the object released, an error thrown) when it cannot be. */
static napi_value wrap_object(napi_env env, uint32_t tag, void *object, void (*release)(void *object)) {
  napi_value result;
  object_box *box = malloc(sizeof *box);
  if (!box) {
    release(object);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  box->tag = tag;
  box->object = object;
  box->release = release;
  if (napi_create_external(env, box, free_object_box, NULL, &result) != napi_ok) {
    release(object);
    free(box);
    return NULL;
  }
  return result;
}

/* The object of an external wrap_object() made with `tag`; NULL when `value` is not one. */
static void *unwrap_object(napi_env env, napi_value value, uint32_t tag) {
  object_box *box = unbox_tagged(env, value, tag);
  return box ? box->object : NULL;
}

static send_thread *sender_of(napi_env env) {
  void *data = NULL;
  return napi_get_instance_data(env, &data) == napi_ok ? data : NULL;
}

/*
 * Before a context's stream seals on this thread: its queued packets must be gone (sent by the send thread,
 * which then no longer uses the stream; and nothing overtakes them). 0, -EBADF (released) or -EBUSY.
 */
static int settle_for_sync(handle *context) {
  if (!context->object) return -EBADF;
  return send_context_settle(context->object, SETTLE_TIMEOUT_MS) == 0 ? 0 : -EBUSY;
}

/*
 * context(key, salt, ssrc, payloadType): a viewer's stream, freed with its JS handle. key: 16 bytes,
 * salt: 12 bytes (the SRTP session key and salt); ssrc and payloadType: the viewer's.
 */
static napi_value create_context(napi_env env, napi_callback_info info) {
  size_t argc = 4, key_length, salt_length;
  napi_value argv[4], result;
  void *key, *salt;
  uint32_t ssrc, payload_type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || napi_get_buffer_info(env, argv[0], &key, &key_length) != napi_ok ||
      key_length != SRTP_KEY_LENGTH || napi_get_buffer_info(env, argv[1], &salt, &salt_length) != napi_ok ||
      salt_length < SRTP_SALT_LENGTH || napi_get_value_uint32(env, argv[2], &ssrc) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &payload_type) != napi_ok || payload_type > 127) {
    napi_throw_type_error(env, NULL, "context(key, salt, ssrc, payloadType): a 16-byte key, a 12-byte salt, numbers");
    return NULL;
  }
  srtp_stream *stream = srtp_stream_new(key, salt, ssrc, (unsigned char)payload_type);
  if (!stream) {
    napi_throw_error(env, NULL, "context(): OpenSSL could not set up AES-128-GCM");
    return NULL;
  }
  send_context *context = send_context_new(sender_of(env), stream);
  if (!context) {
    srtp_stream_free(stream);
    napi_throw_error(env, NULL, "context(): out of memory");
    return NULL;
  }
  result = wrap(env, CONTEXT_TAG, context);
  if (!result) send_context_release(context);
  return result;
}

/*
 * contextReports(context, key, salt, lastIndex, cname): the context's viewer gets its sender reports from
 * here from now on (sender-report.h): the SRTCP session key (16 bytes) and salt (12), the SRTCP index
 * last used for its SSRC, its CNAME (a string, at most 255 bytes; '' for none).
 */
static napi_value set_context_reports(napi_env env, napi_callback_info info) {
  size_t argc = 5, key_length, salt_length, cname_length;
  napi_value argv[5];
  void *key, *salt;
  uint32_t last_index;
  char cname[SENDER_REPORT_MAX_CNAME + 1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *context = argc < 5 ? NULL : unbox(env, argv[0], CONTEXT_TAG);
  if (!context || !context->object || napi_get_buffer_info(env, argv[1], &key, &key_length) != napi_ok ||
      key_length != SRTP_KEY_LENGTH || napi_get_buffer_info(env, argv[2], &salt, &salt_length) != napi_ok ||
      salt_length < SRTP_SALT_LENGTH || napi_get_value_uint32(env, argv[3], &last_index) != napi_ok ||
      napi_get_value_string_utf8(env, argv[4], cname, sizeof cname, &cname_length) != napi_ok ||
      cname_length > SENDER_REPORT_MAX_CNAME - 1) {
    napi_throw_type_error(env, NULL,
                          "contextReports(context, key, salt, lastIndex, cname): a live context, a 16-byte key, a "
                          "12-byte salt, a number, a CNAME under 255 bytes");
    return NULL;
  }
  send_context *owner = context->object;
  sender_report *reports = sender_report_new(key, salt, srtp_stream_ssrc(send_context_stream(owner)), last_index, cname, cname_length);
  if (!reports) {
    napi_throw_error(env, NULL, "contextReports(): OpenSSL could not set up AES-128-GCM");
    return NULL;
  }
  send_context_set_reports(owner, reports);
  return NULL;
}

/*
 * senderReport(context, out, ntpSeconds, ntpFraction, rtpTimestamp, packets, octets): the context's next
 * sender report, sealed, written into `out` (at least 320 bytes). Returns its length (0: the context has
 * no reports set).
 */
static napi_value seal_sender_report(napi_env env, napi_callback_info info) {
  size_t argc = 7, out_length;
  napi_value argv[7], result;
  void *out;
  sender_report_fields fields;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *context = argc < 7 ? NULL : unbox(env, argv[0], CONTEXT_TAG);
  if (!context || napi_get_buffer_info(env, argv[1], &out, &out_length) != napi_ok ||
      out_length < SENDER_REPORT_MAX_LENGTH || napi_get_value_uint32(env, argv[2], &fields.ntp_seconds) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &fields.ntp_fraction) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &fields.rtp_timestamp) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &fields.packets) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &fields.octets) != napi_ok) {
    napi_throw_type_error(env, NULL,
                          "senderReport(context, out, ntpSeconds, ntpFraction, rtpTimestamp, packets, octets): a "
                          "context, a Buffer of at least 320 bytes, numbers");
    return NULL;
  }
  sender_report *reports = context->object ? send_context_reports(context->object) : NULL;
  int length = reports ? sender_report_seal(reports, &fields, out) : 0;
  if (length < 0) {
    napi_throw_error(env, NULL, "senderReport(): OpenSSL could not seal it");
    return NULL;
  }
  CHECK(napi_create_int32(env, length, &result));
  return result;
}

static void release_opener(void *opener) {
  srtcp_opener_free(opener);
}

/* rtcpOpener(key, salt): an opener of one viewer's SRTCP (srtcp-open.h), its session key (16 bytes) and salt (12). */
static napi_value create_rtcp_opener(napi_env env, napi_callback_info info) {
  size_t argc = 2, key_length, salt_length;
  napi_value argv[2];
  void *key, *salt;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &key, &key_length) != napi_ok || key_length != SRTP_KEY_LENGTH ||
      napi_get_buffer_info(env, argv[1], &salt, &salt_length) != napi_ok || salt_length < SRTP_SALT_LENGTH) {
    napi_throw_type_error(env, NULL, "rtcpOpener(key, salt): a 16-byte key, a 12-byte salt");
    return NULL;
  }
  srtcp_opener *opener = srtcp_opener_new(key, salt);
  if (!opener) {
    napi_throw_error(env, NULL, "rtcpOpener(): OpenSSL could not set up AES-128-GCM");
    return NULL;
  }
  return wrap_object(env, OPENER_TAG, opener, release_opener);
}

/*
 * openRtcp(opener, packet, out): the compound RTCP packet in SRTCP `packet`, written into `out` (at least as
 * long as `packet`). Returns its length, or -1 when it does not authenticate (or is not SRTCP).
 */
static napi_value open_rtcp(napi_env env, napi_callback_info info) {
  size_t argc = 3, length, out_length;
  napi_value argv[3], result;
  void *packet, *out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  srtcp_opener *opener = argc < 3 ? NULL : unwrap_object(env, argv[0], OPENER_TAG);
  if (!opener || napi_get_buffer_info(env, argv[1], &packet, &length) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &out, &out_length) != napi_ok || out_length < length) {
    napi_throw_type_error(env, NULL, "openRtcp(opener, packet, out): an opener, a Buffer, a Buffer at least as long");
    return NULL;
  }
  int opened = srtcp_open(opener, packet, length, out);
  CHECK(napi_create_int32(env, opened < 0 ? -1 : opened, &result));
  return result;
}

/* Reads arguments `address` (an IP literal, not cut short) and `port` into a socket address; 0, or -1 when they are not. */
static int read_address(napi_env env, napi_value address, napi_value port, struct sockaddr_storage *result,
                        socklen_t *length) {
  char literal[64];
  size_t literal_length;
  int32_t number;
  if (napi_get_value_string_utf8(env, address, literal, sizeof literal, &literal_length) != napi_ok ||
      literal_length >= sizeof literal - 1 || napi_get_value_int32(env, port, &number) != napi_ok) {
    return -1;
  }
  return udp_address(literal, number, result, length);
}

/* target(address, port): the socket address to send to (an IPv4 or IPv6 literal, a port), as a Buffer. */
static napi_value create_target(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  struct sockaddr_storage address;
  socklen_t length;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || read_address(env, argv[0], argv[1], &address, &length) != 0) {
    napi_throw_type_error(env, NULL, "target(address, port): an IP address and a port");
    return NULL;
  }
  CHECK(napi_create_buffer_copy(env, length, &address, NULL, &result));
  return result;
}

/*
 * findSocket(address, port[, hint]): the descriptor of this process's UDP socket bound to that address and
 * port (what a dgram socket's public `address()` says), or -1 when there is none, or several. `hint`, a
 * descriptor that may be it, is checked first (a system call, where the search makes two for every open
 * descriptor).
 */
static napi_value find_socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int32_t hint = -1;
  struct sockaddr_storage address;
  socklen_t length;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || read_address(env, argv[0], argv[1], &address, &length) != 0) {
    napi_throw_type_error(env, NULL, "findSocket(address, port[, hint]): an IP address and a port");
    return NULL;
  }
  napi_valuetype type;
  if (argc > 2 && napi_typeof(env, argv[2], &type) == napi_ok && type == napi_number) CHECK(napi_get_value_int32(env, argv[2], &hint));
  CHECK(napi_create_int32(env, udp_find_socket(&address, hint), &result));
  return result;
}

/*
 * send(context, fd, target, packet, headerLength, rolloverCounter): the RTP packet as the viewer's, SRTP
 * protected (srtp.c) and sent from socket fd to target. Returns the bytes sent, or -errno (the packet is
 * then not sent: the caller decides whether another path sends it).
 */
static napi_value encrypt_and_send(napi_env env, napi_callback_info info) {
  size_t argc = 6, target_length, packet_length;
  napi_value argv[6], result;
  void *target, *packet;
  int32_t fd;
  uint32_t header_length, roc;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *context = argc < 6 ? NULL : unbox(env, argv[0], CONTEXT_TAG);
  if (!context || napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &target, &target_length) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &packet, &packet_length) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &header_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &roc) != napi_ok || header_length < 12 || header_length > packet_length ||
      target_length > sizeof(struct sockaddr_storage)) {
    napi_throw_type_error(env, NULL, "send(context, fd, target, packet, headerLength, rolloverCounter): bad arguments");
    return NULL;
  }
  unsigned char srtp[MAX_SRTP_LENGTH];
  int sent = settle_for_sync(context);
  if (sent == 0) sent = srtp_protect(send_context_stream(context->object), packet, packet_length, header_length, roc, srtp, sizeof srtp);
  if (sent > 0) sent = udp_send(fd, srtp, (size_t)sent, target, (socklen_t)target_length);
  CHECK(napi_create_int32(env, sent, &result));
  return result;
}

/*
 * sendWithHeader(context, fd, target, header, payload, rolloverCounter[, patch]): a packet whose header the
 * caller wrote (the viewer's sequence number, timestamp, SSRC, extensions), `patch` written into a copy of
 * its payload (payload-patch.h), SRTP protected (srtp.c) and sent from socket fd to target. Returns the
 * bytes sent, or -errno.
 */
static napi_value seal_and_send(napi_env env, napi_callback_info info) {
  size_t argc = 7, target_length, header_length, payload_length;
  napi_value argv[7], result;
  void *target, *header, *payload;
  int32_t fd;
  uint32_t roc, patch = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *context = argc < 6 ? NULL : unbox(env, argv[0], CONTEXT_TAG);
  if (!context || napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &target, &target_length) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &header, &header_length) != napi_ok ||
      napi_get_buffer_info(env, argv[4], &payload, &payload_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &roc) != napi_ok || header_length < 12 ||
      target_length > sizeof(struct sockaddr_storage) || (argc > 6 && napi_get_value_uint32(env, argv[6], &patch) != napi_ok) ||
      !payload_patch_fits(patch, payload_length) || (payload_patch_length(patch) > 0 && payload_length > MAX_SRTP_LENGTH)) {
    napi_throw_type_error(env, NULL, "sendWithHeader(context, fd, target, header, payload, rolloverCounter[, patch]): bad arguments");
    return NULL;
  }
  unsigned char srtp[MAX_SRTP_LENGTH];
  unsigned char patched[MAX_SRTP_LENGTH];
  payload = (void *)payload_patched(payload, payload_length, patch, patched, sizeof patched);
  int sent = settle_for_sync(context);
  if (sent == 0) sent = srtp_seal(send_context_stream(context->object), header, header_length, payload, payload_length, roc, srtp, sizeof srtp);
  if (sent > 0) sent = udp_send(fd, srtp, (size_t)sent, target, (socklen_t)target_length);
  CHECK(napi_create_int32(env, sent, &result));
  return result;
}

/*
 * socket(fd): the addon's own descriptor of socket `fd` (a duplicate), for `queue`: it stays open until
 * `release`d and its queued packets are sent, whatever becomes of `fd` meanwhile.
 */
static napi_value create_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "socket(fd): a descriptor");
    return NULL;
  }
  send_socket *socket = send_socket_new(sender_of(env), fd);
  if (!socket) {
    napi_throw_error(env, NULL, "socket(fd): the descriptor cannot be duplicated");
    return NULL;
  }
  napi_value result = wrap(env, SOCKET_TAG, socket);
  if (!result) send_socket_release(socket);
  return result;
}

/* release(handle): a context or socket is given back now (freed once its queued packets are sent). */
static napi_value release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *box = argc < 1 ? NULL : unbox_either(env, argv[0]);
  if (!box) {
    napi_throw_type_error(env, NULL, "release(handle): a context or a socket");
    return NULL;
  }
  release_handle(box);
  return NULL;
}

/*
 * queue(context, socket, target, header, headerLength, packet, payloadOffset, rolloverCounter[, patch]): the
 * packet (the first headerLength bytes of `header`, then `packet` from payloadOffset on, `patch` written into
 * the viewer's copy: payload-patch.h) to the send thread, which seals and sends it (send-thread.c). Whole
 * buffers and lengths, not views: a view is an allocation per packet on the JavaScript side. Returns the
 * bytes the datagram will have, or -errno (not sent).
 */
static napi_value queue_packet(napi_env env, napi_callback_info info) {
  size_t argc = 9, target_length, header_capacity, packet_length;
  napi_value argv[9], result;
  void *target, *header, *packet;
  uint32_t header_length, payload_offset, roc, patch = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *context = argc < 8 ? NULL : unbox(env, argv[0], CONTEXT_TAG);
  handle *socket = argc < 8 ? NULL : unbox(env, argv[1], SOCKET_TAG);
  if (!context || !socket || napi_get_buffer_info(env, argv[2], &target, &target_length) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &header, &header_capacity) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &header_length) != napi_ok ||
      napi_get_buffer_info(env, argv[5], &packet, &packet_length) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &payload_offset) != napi_ok ||
      napi_get_value_uint32(env, argv[7], &roc) != napi_ok || header_length < 12 || header_length > header_capacity ||
      payload_offset > packet_length || (argc > 8 && napi_get_value_uint32(env, argv[8], &patch) != napi_ok) ||
      !payload_patch_fits(patch, packet_length - payload_offset)) {
    napi_throw_type_error(env, NULL, "queue(context, socket, target, header, headerLength, packet, payloadOffset, rolloverCounter[, patch]): bad arguments");
    return NULL;
  }
  int queued = -EBADF;
  if (context->object && socket->object) {
    queued = send_thread_queue(sender_of(env), context->object, socket->object, target, (socklen_t)target_length,
                               header, header_length, (const unsigned char *)packet + payload_offset,
                               packet_length - payload_offset, roc, patch);
  }
  CHECK(napi_create_int32(env, queued, &result));
  return result;
}

/* handleId(handle): the number that names a context or socket in a batch (sendBatch). */
static napi_value handle_id(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *box = argc < 1 ? NULL : unbox_either(env, argv[0]);
  if (!box) {
    napi_throw_type_error(env, NULL, "handleId(handle): a context or a socket");
    return NULL;
  }
  CHECK(napi_create_uint32(env, box->id, &result));
  return result;
}

/*
 * One record of a batch to the send thread; its result: the datagram's bytes, or -errno. With `shared` (a
 * copy of the packet several records send), the thread reads the payload from it as it seals it.
 */
static int queue_record(send_thread *thread, const batch_record *record, const unsigned char *packet, size_t packet_length,
                        shared_payload *shared) {
  if (record->header_length < 12 || record->header_length > BATCH_HEADER_CAPACITY || record->target_length == 0 ||
      record->target_length > BATCH_TARGET_CAPACITY || record->payload_offset > packet_length ||
      !payload_patch_fits(record->patch, packet_length - record->payload_offset)) {
    return -EINVAL;
  }
  handle *context = handle_lookup(record->context_id, CONTEXT_TAG);
  handle *socket = handle_lookup(record->socket_id, SOCKET_TAG);
  if (!context || !context->object || !socket || !socket->object) return -EBADF;
  if (shared) {
    return send_thread_queue_shared(thread, context->object, socket->object, record->target, record->target_length,
                                    record->header, record->header_length, shared, record->payload_offset, record->roc,
                                    record->patch);
  }
  return send_thread_queue(thread, context->object, socket->object, record->target, record->target_length,
                           record->header, record->header_length, packet + record->payload_offset,
                           packet_length - record->payload_offset, record->roc, record->patch);
}

/*
 * sendBatch(records, count, packet): queues `count` records (send-batch.h, written by
 * lib/native/send-batch.ts) of one packet to the send thread, as `queue` would one by one, in order. Each
 * record's result is written back into it; returns how many were not queued (a handle gone, a bad record).
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 3, records_length, packet_length;
  napi_value argv[3], result;
  void *records, *packet;
  uint32_t count;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || napi_get_buffer_info(env, argv[0], &records, &records_length) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &count) != napi_ok || (size_t)count * sizeof(batch_record) > records_length ||
      ((uintptr_t)records % _Alignof(batch_record)) != 0 || napi_get_buffer_info(env, argv[2], &packet, &packet_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "sendBatch(records, count, packet): bad arguments");
    return NULL;
  }
  send_thread *thread = sender_of(env);
  uint32_t failed = 0;
  batch_record *record = records;
  /* For several viewers, one copy of the packet that their slots refer to (for one, the queue makes its own). */
  shared_payload *shared = count > 1 ? shared_payload_new(packet, packet_length) : NULL;
  handles_lock();
  for (uint32_t i = 0; i < count; i++, record++) {
    record->result = queue_record(thread, record, packet, packet_length, shared);
    if (record->result < 0) failed++;
  }
  handles_unlock();
  if (shared) shared_payload_release(shared);
  CHECK(napi_create_uint32(env, failed, &result));
  return result;
}

/*
 * settle(context, timeoutMs): waits until none of the viewer's queued packets is left, before something
 * else sends for it. Returns whether none is.
 */
static napi_value settle(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  uint32_t timeout_ms = SETTLE_TIMEOUT_MS;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  handle *context = argc < 1 ? NULL : unbox(env, argv[0], CONTEXT_TAG);
  if (!context || (argc >= 2 && napi_get_value_uint32(env, argv[1], &timeout_ms) != napi_ok)) {
    napi_throw_type_error(env, NULL, "settle(context, timeoutMs): a context");
    return NULL;
  }
  int settled = !context->object || send_context_settle(context->object, (int)timeout_ms) == 0;
  CHECK(napi_get_boolean(env, settled, &result));
  return result;
}

static int set_number(napi_env env, napi_value object, const char *name, double number) {
  napi_value value;
  return napi_create_double(env, number, &value) == napi_ok && napi_set_named_property(env, object, name, value) == napi_ok;
}

/*
 * trimMemory(callback): gives the send queue's slots back to the system (send_thread_trim, here: now, or
 * once the queue is empty), and the C heap's free memory (glibc's malloc_trim) on a libuv worker thread;
 * then callback(trimmed: boolean): whether the heap could be trimmed. What viewers' handshakes and sockets allocated outside
 * JavaScript's heap stays mapped once freed (200 viewers gone: 285 MB resident where 162 were before, 199
 * after a trim). Not glibc: nothing to do, false.
 */
typedef struct {
  napi_async_work work;
  napi_ref callback;
  int trimmed;
} trim_job;

static void trim_execute(napi_env env, void *data) {
  (void)env;
  trim_job *job = data;
#ifdef __GLIBC__
  job->trimmed = malloc_trim(0) >= 0;
#else
  job->trimmed = 0;
#endif
}

static void trim_complete(napi_env env, napi_status status, void *data) {
  trim_job *job = data;
  napi_value callback, global, result;
  if (napi_get_reference_value(env, job->callback, &callback) == napi_ok && callback &&
      napi_get_global(env, &global) == napi_ok &&
      napi_get_boolean(env, status == napi_ok && job->trimmed, &result) == napi_ok) {
    napi_call_function(env, global, callback, 1, &result, NULL);
  }
  napi_delete_reference(env, job->callback);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value trim_memory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_valuetype type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "trimMemory(callback): callback must be a function");
    return NULL;
  }
  /* The send queue's slots: on this thread, the only one that writes them. */
  send_thread_trim(sender_of(env));
  trim_job *job = calloc(1, sizeof *job);
  if (!job) {
    napi_throw_error(env, NULL, "trimMemory: out of memory");
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &job->callback) != napi_ok ||
      napi_create_string_utf8(env, "webgear-rtc:trimMemory", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, trim_execute, trim_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work) napi_delete_async_work(env, job->work);
    if (job->callback) napi_delete_reference(env, job->callback);
    free(job);
    napi_throw_error(env, NULL, "trimMemory: the work could not be queued");
    return NULL;
  }
  return NULL;
}

/*
 * reduceHeap(): asks V8 for a garbage collection that gives memory back (v8::Isolate::MemoryPressureNotification
 * with kModerate: incremental marking, then compaction, then V8's pool of free heap pages unmapped). Returns
 * whether it could ask.
 *
 * Why: V8 keeps the pages its heap no longer needs in a pool, mapped and resident, until a memory-reducing
 * collection; its memory reducer starts one only while allocation is low, which a server that still
 * receives its stream never is ("Memory reducer: high alloc", every 8 s). Measured: 300 viewers gone, 62 MB
 * in that pool 90 s later; the process 227 MB resident where it was 159 before they came.
 *
 * N-API has no such call and this addon stays N-API (one build for every Node version): V8's public embedder
 * function is looked up by name in the process at run time (the node binary exports V8's API for addons).
 * Where it is not there (another runtime), nothing is done and false is returned.
 */
typedef void *(*isolate_get_current)(void);
typedef void (*isolate_memory_pressure)(void *isolate, int level);
#define V8_MEMORY_PRESSURE_MODERATE 1 /* v8::MemoryPressureLevel::kModerate */

static napi_value reduce_heap(napi_env env, napi_callback_info info) {
  (void)info;
  static int looked_up;
  static isolate_get_current get_current;
  static isolate_memory_pressure memory_pressure;
  if (!looked_up) {
    looked_up = 1;
    *(void **)&get_current = dlsym(RTLD_DEFAULT, "_ZN2v87Isolate10GetCurrentEv");
    *(void **)&memory_pressure = dlsym(RTLD_DEFAULT, "_ZN2v87Isolate26MemoryPressureNotificationENS_19MemoryPressureLevelE");
  }
  void *isolate = get_current && memory_pressure ? get_current() : NULL;
  if (isolate) memory_pressure(isolate, V8_MEMORY_PRESSURE_MODERATE);
  napi_value result;
  CHECK(napi_get_boolean(env, isolate != NULL, &result));
  return result;
}

/* sendThreadStats(): the send thread's counters (send-thread.h). */
static napi_value send_thread_statistics(napi_env env, napi_callback_info info) {
  (void)info;
  send_stats stats;
  napi_value result;
  send_thread_stats(sender_of(env), &stats);
  CHECK(napi_create_object(env, &result));
  if (!set_number(env, result, "queued", (double)stats.queued) ||
      !set_number(env, result, "sentAtOnce", (double)stats.sent_at_once) ||
      !set_number(env, result, "fullWaits", (double)stats.full_waits) ||
      !set_number(env, result, "sent", (double)stats.sent) || !set_number(env, result, "dropped", (double)stats.dropped) ||
      !set_number(env, result, "batches", (double)stats.batches) ||
      !set_number(env, result, "sendCalls", (double)stats.send_calls) ||
      !set_number(env, result, "gsoSends", (double)stats.gso_sends) ||
      !set_number(env, result, "gsoDatagrams", (double)stats.gso_datagrams) ||
      !set_number(env, result, "cpuMs", (double)stats.cpu_ns / 1e6) ||
      !set_number(env, result, "lastError", stats.last_error) || !set_number(env, result, "gso", stats.gso) ||
      !set_number(env, result, "running", stats.running) || !set_number(env, result, "contexts", stats.contexts) ||
      !set_number(env, result, "capacity", stats.capacity) ||
      !set_number(env, result, "slotsUsed", stats.slots_used) ||
      !set_number(env, result, "trims", (double)stats.trims) ||
      !set_number(env, result, "ringBytes", (double)stats.resident_bytes) ||
      !set_number(env, result, "sockets", stats.sockets)) {
    return NULL;
  }
  return result;
}

/* A lane's JavaScript handle: the lane, and its state (a Buffer both sides use: lane.h) kept alive with it. */
typedef struct {
  uint32_t tag;
  lane *lane;
  napi_ref state;
} lane_box;

static void free_lane(napi_env env, void *data, void *hint) {
  (void)hint;
  lane_box *box = data;
  fanout_lane_remove(box->lane);
  lane_free(box->lane);
  napi_delete_reference(env, box->state);
  free(box);
}

static void release_group(void *group) {
  fanout_group_free(group);
}

static lane_box *unbox_lane(napi_env env, napi_value value) {
  return unbox_tagged(env, value, LANE_TAG);
}

static fanout_group *unbox_group(napi_env env, napi_value value) {
  return unwrap_object(env, value, GROUP_TAG);
}

/* lane(state): a viewer's lane over `state`, a Buffer of LANE_STATE_DOUBLES doubles (8-byte aligned). */
static napi_value create_lane(napi_env env, napi_callback_info info) {
  size_t argc = 1, length;
  napi_value argv[1], result;
  void *state;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &state, &length) != napi_ok || length < LANE_STATE_DOUBLES * sizeof(double) ||
      (uintptr_t)state % _Alignof(double) != 0) {
    napi_throw_type_error(env, NULL, "lane(state): an 8-byte aligned Buffer of the lane's fields");
    return NULL;
  }
  lane_box *box = malloc(sizeof *box);
  lane *created = box ? lane_new(state) : NULL;
  if (!created) {
    free(box);
    napi_throw_error(env, NULL, "lane(): out of memory");
    return NULL;
  }
  box->tag = LANE_TAG;
  box->lane = created;
  if (napi_create_reference(env, argv[0], 1, &box->state) != napi_ok) {
    lane_free(created);
    free(box);
    return NULL;
  }
  if (napi_create_external(env, box, free_lane, NULL, &result) != napi_ok) {
    napi_delete_reference(env, box->state);
    lane_free(created);
    free(box);
    return NULL;
  }
  return result;
}

/* laneRoute(lane, target): where the lane's packets go (a socket address from `target()`). */
static napi_value route_lane(napi_env env, napi_callback_info info) {
  size_t argc = 2, length;
  napi_value argv[2];
  void *target;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lane_box *box = argc < 2 ? NULL : unbox_lane(env, argv[0]);
  if (!box || napi_get_buffer_info(env, argv[1], &target, &length) != napi_ok ||
      lane_route(box->lane, target, (socklen_t)length) != 0) {
    napi_throw_type_error(env, NULL, "laneRoute(lane, target): a lane and a socket address");
    return NULL;
  }
  return NULL;
}

/* fanoutGroup(vp8): a group of lanes for one rendition; `vp8`: PictureIDs numbered per viewer. */
static napi_value create_group(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool vp8 = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_bool(env, argv[0], &vp8) != napi_ok) {
    napi_throw_type_error(env, NULL, "fanoutGroup(vp8): a boolean");
    return NULL;
  }
  fanout_group *group = fanout_group_new(vp8);
  if (!group) {
    napi_throw_error(env, NULL, "fanoutGroup(): out of memory");
    return NULL;
  }
  return wrap_object(env, GROUP_TAG, group, release_group);
}

/* fanoutAdd(group, lane): the lane gets the group's packets (out of any other group). */
static napi_value add_to_group(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fanout_group *group = argc < 2 ? NULL : unbox_group(env, argv[0]);
  lane_box *box = argc < 2 ? NULL : unbox_lane(env, argv[1]);
  if (!group || !box) {
    napi_throw_type_error(env, NULL, "fanoutAdd(group, lane)");
    return NULL;
  }
  if (fanout_group_add(group, box->lane) != 0) napi_throw_error(env, NULL, "fanoutAdd(): out of memory");
  return NULL;
}

/* fanoutRemove(lane): out of its group, if in one. */
static napi_value remove_from_group(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lane_box *box = argc < 1 ? NULL : unbox_lane(env, argv[0]);
  if (!box) {
    napi_throw_type_error(env, NULL, "fanoutRemove(lane)");
    return NULL;
  }
  fanout_lane_remove(box->lane);
  return NULL;
}

/*
 * fanoutWrite(group, packet, nowMs, wallMs): `packet` (a whole Buffer: an RTP packet) to every lane of the
 * group. Returns how many refused it (their state's LANE_REFUSED says why), or -errno (not an RTP packet).
 */
static napi_value write_to_group(napi_env env, napi_callback_info info) {
  size_t argc = 4, length;
  napi_value argv[4], result;
  void *packet;
  double now_ms, wall_ms;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  fanout_group *group = argc < 4 ? NULL : unbox_group(env, argv[0]);
  if (!group || napi_get_buffer_info(env, argv[1], &packet, &length) != napi_ok ||
      napi_get_value_double(env, argv[2], &now_ms) != napi_ok || napi_get_value_double(env, argv[3], &wall_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "fanoutWrite(group, packet, nowMs, wallMs): bad arguments");
    return NULL;
  }
  CHECK(napi_create_int32(env, fanout_group_write(sender_of(env), group, packet, length, now_ms, wall_ms), &result));
  return result;
}

/* laneHistory(lane, seq): whether the lane's history holds packet `seq` (then its details are in LANE_FOUND_*). */
static napi_value lane_history_of(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  uint32_t seq;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lane_box *box = argc < 2 ? NULL : unbox_lane(env, argv[0]);
  if (!box || napi_get_value_uint32(env, argv[1], &seq) != napi_ok) {
    napi_throw_type_error(env, NULL, "laneHistory(lane, seq)");
    return NULL;
  }
  CHECK(napi_get_boolean(env, lane_history(box->lane, seq), &result));
  return result;
}

/*
 * laneResend(lane, seq, header, headerLength, rolloverCounter): packet `seq` of the lane's history again,
 * under the first headerLength bytes of `header`. Returns the datagram's bytes, or -errno.
 */
static napi_value lane_resend_packet(napi_env env, napi_callback_info info) {
  size_t argc = 5, header_capacity;
  napi_value argv[5], result;
  void *header;
  uint32_t seq, header_length, roc;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  lane_box *box = argc < 5 ? NULL : unbox_lane(env, argv[0]);
  if (!box || napi_get_value_uint32(env, argv[1], &seq) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &header, &header_capacity) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &header_length) != napi_ok || napi_get_value_uint32(env, argv[4], &roc) != napi_ok ||
      header_length < 12 || header_length > header_capacity) {
    napi_throw_type_error(env, NULL, "laneResend(lane, seq, header, headerLength, rolloverCounter): bad arguments");
    return NULL;
  }
  CHECK(napi_create_int32(env, lane_resend(sender_of(env), box->lane, seq, header, header_length, roc), &result));
  return result;
}

static void shut_down(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  send_thread_shutdown(data);
}

/*
 * The send thread's settings from the environment, read when the addon loads: WEBGEAR_SEND_LINGER_US, how
 * long it lets a burst gather after it wakes (0-1000000); WEBGEAR_SEND_GSO=0, no UDP GSO (tests compare).
 */
static unsigned linger_from_environment(void) {
  const char *text = getenv("WEBGEAR_SEND_LINGER_US");
  if (!text || !*text) return DEFAULT_LINGER_US;
  char *end;
  unsigned long value = strtoul(text, &end, 10);
  return *end == '\0' && value <= 1000000 ? (unsigned)value : DEFAULT_LINGER_US;
}

static int gso_from_environment(void) {
  const char *text = getenv("WEBGEAR_SEND_GSO");
  return !text || strcmp(text, "0") != 0;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor functions[] = {
      {"context", NULL, create_context, NULL, NULL, NULL, napi_enumerable, NULL},
      {"contextReports", NULL, set_context_reports, NULL, NULL, NULL, napi_enumerable, NULL},
      {"senderReport", NULL, seal_sender_report, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rtcpOpener", NULL, create_rtcp_opener, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openRtcp", NULL, open_rtcp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"target", NULL, create_target, NULL, NULL, NULL, napi_enumerable, NULL},
      {"findSocket", NULL, find_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, encrypt_and_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendWithHeader", NULL, seal_and_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socket", NULL, create_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"release", NULL, release, NULL, NULL, NULL, napi_enumerable, NULL},
      {"queue", NULL, queue_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"handleId", NULL, handle_id, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"settle", NULL, settle, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendThreadStats", NULL, send_thread_statistics, NULL, NULL, NULL, napi_enumerable, NULL},
      {"trimMemory", NULL, trim_memory, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reduceHeap", NULL, reduce_heap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lane", NULL, create_lane, NULL, NULL, NULL, napi_enumerable, NULL},
      {"laneRoute", NULL, route_lane, NULL, NULL, NULL, napi_enumerable, NULL},
      {"laneHistory", NULL, lane_history_of, NULL, NULL, NULL, napi_enumerable, NULL},
      {"laneResend", NULL, lane_resend_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fanoutGroup", NULL, create_group, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fanoutAdd", NULL, add_to_group, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fanoutRemove", NULL, remove_from_group, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fanoutWrite", NULL, write_to_group, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  send_thread *thread = send_thread_new(linger_from_environment(), gso_from_environment());
  if (!thread) {
    napi_throw_error(env, NULL, "the send thread's state could not be allocated");
    return NULL;
  }
  if (napi_set_instance_data(env, thread, shut_down, NULL) != napi_ok) {
    send_thread_shutdown(thread);
    return NULL;
  }
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}
