/*
 * The N-API face of the native sender, for lib/rtp-sender.ts through lib/native/index.ts: a viewer's SRTP
 * context (srtp.c), socket addresses and the lookup of werift's socket (udp.c), and `send`, which does
 * a packet's header, encryption and sendto(2) in one call (about 5 µs where Node's crypto and dgram take
 * about 18: docs/benchmarks.md).
 */
#include <errno.h>
#include <node_api.h>

#include "srtp.h"
#include "udp.h"

/* Larger than any packet the server sends (it keeps RTP under the path MTU). */
#define MAX_SRTP_LENGTH 2048

#define CHECK(call)                                                                                              \
  if ((call) != napi_ok) return NULL

static void free_stream(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  srtp_stream_free(data);
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
  if (napi_create_external(env, stream, free_stream, NULL, &result) != napi_ok) {
    srtp_stream_free(stream);
    return NULL;
  }
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
 * findSocket(address, port): the descriptor of this process's UDP socket bound to that address and port
 * (what a dgram socket's public `address()` says), or -1 when there is none, or several.
 */
static napi_value find_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  struct sockaddr_storage address;
  socklen_t length;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || read_address(env, argv[0], argv[1], &address, &length) != 0) {
    napi_throw_type_error(env, NULL, "findSocket(address, port): an IP address and a port");
    return NULL;
  }
  CHECK(napi_create_int32(env, udp_find_socket(&address), &result));
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
  void *stream, *target, *packet;
  int32_t fd;
  uint32_t header_length, roc;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || napi_get_value_external(env, argv[0], &stream) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &target, &target_length) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &packet, &packet_length) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &header_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &roc) != napi_ok || header_length < 12 || header_length > packet_length ||
      target_length > sizeof(struct sockaddr_storage)) {
    napi_throw_type_error(env, NULL, "send(context, fd, target, packet, headerLength, rolloverCounter): bad arguments");
    return NULL;
  }
  unsigned char srtp[MAX_SRTP_LENGTH];
  int sent = srtp_protect(stream, packet, packet_length, header_length, roc, srtp, sizeof srtp);
  if (sent > 0) sent = udp_send(fd, srtp, (size_t)sent, target, (socklen_t)target_length);
  CHECK(napi_create_int32(env, sent, &result));
  return result;
}

/*
 * sendWithHeader(context, fd, target, header, payload, rolloverCounter): a packet whose header the caller
 * wrote (the viewer's sequence number, timestamp, SSRC, extensions), SRTP protected (srtp.c) and sent from
 * socket fd to target. Returns the bytes sent, or -errno.
 */
static napi_value seal_and_send(napi_env env, napi_callback_info info) {
  size_t argc = 6, target_length, header_length, payload_length;
  napi_value argv[6], result;
  void *stream, *target, *header, *payload;
  int32_t fd;
  uint32_t roc;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || napi_get_value_external(env, argv[0], &stream) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &target, &target_length) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &header, &header_length) != napi_ok ||
      napi_get_buffer_info(env, argv[4], &payload, &payload_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &roc) != napi_ok || header_length < 12 ||
      target_length > sizeof(struct sockaddr_storage)) {
    napi_throw_type_error(env, NULL, "sendWithHeader(context, fd, target, header, payload, rolloverCounter): bad arguments");
    return NULL;
  }
  unsigned char srtp[MAX_SRTP_LENGTH];
  int sent = srtp_seal(stream, header, header_length, payload, payload_length, roc, srtp, sizeof srtp);
  if (sent > 0) sent = udp_send(fd, srtp, (size_t)sent, target, (socklen_t)target_length);
  CHECK(napi_create_int32(env, sent, &result));
  return result;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor functions[] = {
      {"context", NULL, create_context, NULL, NULL, NULL, napi_enumerable, NULL},
      {"target", NULL, create_target, NULL, NULL, NULL, napi_enumerable, NULL},
      {"findSocket", NULL, find_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, encrypt_and_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendWithHeader", NULL, seal_and_send, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions));
  return exports;
}
