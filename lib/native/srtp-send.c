/*
 * SRTP (AES-128-GCM, RFC 7714) encrypt + UDP send of one RTP packet to one viewer, for lib/rtp-sender.ts
 * (loaded by lib/native-srtp.ts).
 *
 * Why native: Node's crypto builds a new cipher object (and re-does the AES key schedule) for every
 * packet, and its dgram send goes through a lookup, a request object and libuv: about 18 µs per packet
 * and viewer here even in a bare loop. Here one OpenSSL context per viewer keeps its key and only takes a
 * new IV per packet, and the datagram goes out with one sendto(2) on werift's own socket: about 5 µs.
 *
 * OpenSSL is not linked: the symbols below are resolved when Node loads the addon, from the OpenSSL that
 * Node itself exports to addons (the same library its crypto module uses). Only this stable EVP API of
 * OpenSSL 1.1 and 3 is used, so no OpenSSL headers are needed to build.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <node_api.h>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct evp_cipher_st EVP_CIPHER;
typedef struct engine_st ENGINE;
EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void);
void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx);
const EVP_CIPHER *EVP_aes_128_gcm(void);
int EVP_EncryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type, ENGINE *impl, const unsigned char *key,
                       const unsigned char *iv);
int EVP_EncryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in, int inl);
int EVP_EncryptFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl);
int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr);
#define EVP_CTRL_GCM_GET_TAG 0x10

#define GCM_TAG_LENGTH 16
/* Larger than any packet the server sends (it keeps RTP under the path MTU). */
#define MAX_SRTP_LENGTH 2048

#define CHECK(call)                                                                                    \
  if ((call) != napi_ok) return NULL

/* One viewer's stream: its key (inside OpenSSL's context), salt, SSRC and payload type. */
typedef struct {
  EVP_CIPHER_CTX *cipher;
  unsigned char salt[12];
  uint32_t ssrc;
  unsigned char payload_type;
} stream_t;

static void free_stream(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  stream_t *stream = data;
  EVP_CIPHER_CTX_free(stream->cipher);
  free(stream);
}

/*
 * context(key, salt, ssrc, payloadType): a viewer's stream, freed with its JS handle. key: 16 bytes,
 * salt: 12 bytes (the SRTP session key and salt); ssrc and payloadType: the viewer's.
 */
static napi_value create_context(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result;
  void *key, *salt;
  size_t key_length, salt_length;
  uint32_t ssrc, payload_type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || napi_get_buffer_info(env, argv[0], &key, &key_length) != napi_ok || key_length != 16 ||
      napi_get_buffer_info(env, argv[1], &salt, &salt_length) != napi_ok || salt_length < 12 ||
      napi_get_value_uint32(env, argv[2], &ssrc) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &payload_type) != napi_ok || payload_type > 127) {
    napi_throw_type_error(env, NULL, "context(key, salt, ssrc, payloadType): a 16-byte key, a 12-byte salt, numbers");
    return NULL;
  }
  stream_t *stream = calloc(1, sizeof *stream);
  if (stream) stream->cipher = EVP_CIPHER_CTX_new();
  if (!stream || !stream->cipher || EVP_EncryptInit_ex(stream->cipher, EVP_aes_128_gcm(), NULL, key, NULL) != 1) {
    if (stream) free_stream(env, stream, NULL);
    napi_throw_error(env, NULL, "context(): OpenSSL could not set up AES-128-GCM");
    return NULL;
  }
  memcpy(stream->salt, salt, 12);
  stream->ssrc = ssrc;
  stream->payload_type = (unsigned char)payload_type;
  if (napi_create_external(env, stream, free_stream, NULL, &result) != napi_ok) {
    free_stream(env, stream, NULL);
    return NULL;
  }
  return result;
}

/* target(address, port): the socket address to send to (an IPv4 or IPv6 literal), as a Buffer. */
static napi_value create_target(napi_env env, napi_callback_info info) {
  size_t argc = 2, address_length;
  napi_value argv[2], result;
  char address[64];
  int32_t port;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], address, sizeof address, &address_length) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 1 || port > 65535) {
    napi_throw_type_error(env, NULL, "target(address, port): an IP address and a port");
    return NULL;
  }
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
  memset(&v4, 0, sizeof v4);
  memset(&v6, 0, sizeof v6);
  if (inet_pton(AF_INET, address, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons((uint16_t)port);
    CHECK(napi_create_buffer_copy(env, sizeof v4, &v4, NULL, &result));
  } else if (inet_pton(AF_INET6, address, &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons((uint16_t)port);
    CHECK(napi_create_buffer_copy(env, sizeof v6, &v6, NULL, &result));
  } else {
    napi_throw_type_error(env, NULL, "target(address, port): not an IP address");
    return NULL;
  }
  return result;
}

/*
 * send(context, fd, target, packet, headerLength, rolloverCounter): the RTP packet as the viewer's (its
 * payload type and SSRC in the header), encrypted (RFC 7714: the header is the AAD, the IV is the salt
 * XOR SSRC | ROC | SEQ) and sent from socket fd to target. Returns the bytes sent, or -errno (the packet
 * is then dropped: a live stream does not queue).
 */
static napi_value encrypt_and_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], result;
  void *stream_data, *target, *packet;
  size_t target_length, packet_length;
  int32_t fd;
  uint32_t header_length, roc;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6 || napi_get_value_external(env, argv[0], &stream_data) != napi_ok ||
      napi_get_value_int32(env, argv[1], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &target, &target_length) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &packet, &packet_length) != napi_ok ||
      napi_get_value_uint32(env, argv[4], &header_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &roc) != napi_ok || header_length < 12 || header_length > packet_length) {
    napi_throw_type_error(env, NULL, "send(context, fd, target, packet, headerLength, rolloverCounter): bad arguments");
    return NULL;
  }
  stream_t *stream = stream_data;
  const unsigned char *rtp = packet;
  unsigned char srtp[MAX_SRTP_LENGTH], iv[12];
  size_t payload_length = packet_length - header_length, total = packet_length + GCM_TAG_LENGTH;
  int sent, length = 0;
  if (total > sizeof srtp) {
    sent = -EMSGSIZE;
  } else {
    memcpy(srtp, rtp, header_length);
    srtp[1] = (unsigned char)((rtp[1] & 0x80) | stream->payload_type);
    srtp[8] = (unsigned char)(stream->ssrc >> 24);
    srtp[9] = (unsigned char)(stream->ssrc >> 16);
    srtp[10] = (unsigned char)(stream->ssrc >> 8);
    srtp[11] = (unsigned char)stream->ssrc;
    unsigned char counter[12] = {0, 0, srtp[8], srtp[9], srtp[10], srtp[11],
                                 (unsigned char)(roc >> 24), (unsigned char)(roc >> 16), (unsigned char)(roc >> 8),
                                 (unsigned char)roc, rtp[2], rtp[3]};
    for (int i = 0; i < 12; i++) iv[i] = counter[i] ^ stream->salt[i];
    if (EVP_EncryptInit_ex(stream->cipher, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(stream->cipher, NULL, &length, srtp, (int)header_length) != 1 ||
        EVP_EncryptUpdate(stream->cipher, srtp + header_length, &length, rtp + header_length, (int)payload_length) != 1 ||
        EVP_EncryptFinal_ex(stream->cipher, srtp + header_length + length, &length) != 1 ||
        EVP_CIPHER_CTX_ctrl(stream->cipher, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LENGTH, srtp + packet_length) != 1) {
      sent = -EINVAL;
    } else {
      ssize_t n = sendto(fd, srtp, total, 0, (const struct sockaddr *)target, (socklen_t)target_length);
      sent = n < 0 ? -errno : (int)n;
    }
  }
  CHECK(napi_create_int32(env, sent, &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(napi_create_function(env, "context", NAPI_AUTO_LENGTH, create_context, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "context", fn));
  CHECK(napi_create_function(env, "target", NAPI_AUTO_LENGTH, create_target, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "target", fn));
  CHECK(napi_create_function(env, "send", NAPI_AUTO_LENGTH, encrypt_and_send, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "send", fn));
  return exports;
}
