/*
 * Node-API surface of the load generator (driven by ../index.ts). Node does the signaling; these calls
 * only create viewers, hand them the answer's parameters, close them, and read counters. Everything per
 * packet happens on the engine's own thread (engine.c).
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <node_api.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECEIVE_BUFFER (4 * 1024 * 1024) /* a joiner's GOP burst must not overflow the socket */
#define MAX_ARGS 10

#define TRY(call)                                                                                                     \
  do {                                                                                                                \
    if ((call) != napi_ok) return throw_error(env, "Node-API call failed: " #call);                                   \
  } while (0)

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static const char *const HEADER_FIELDS[] = {"threadCpuUs", "datagrams", "recvCalls", "wakeups", "threadDone", "nowMs"};
static const char *const VIEWER_FIELDS[] = {
    "state",       "packets",          "bytes",        "frames",      "lost",         "authFailures",
    "rtcpAuthFailures", "otherSsrc",   "rtcpSent",     "rtcpReceived", "stunAnswered", "consentResponses",
    "sendErrors",  "createdMs",        "connectedMs",  "firstMediaMs", "lastMediaMs",  "jitterMs"};
#define HEADER_COUNT (sizeof HEADER_FIELDS / sizeof *HEADER_FIELDS)
#define VIEWER_COUNT (sizeof VIEWER_FIELDS / sizeof *VIEWER_FIELDS)

typedef struct call {
  size_t argc;
  napi_value argv[MAX_ARGS];
  engine_t *engine;
} call_t;

/* The arguments; the first one must be an engine. */
static bool arguments(napi_env env, napi_callback_info info, call_t *call, size_t needed) {
  call->argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &call->argc, call->argv, NULL, NULL) != napi_ok || call->argc < needed) {
    throw_error(env, "missing arguments");
    return false;
  }
  void *data = NULL;
  if (napi_get_value_external(env, call->argv[0], &data) != napi_ok || !data) {
    throw_error(env, "the first argument must be an engine from create()");
    return false;
  }
  call->engine = data;
  return true;
}

static bool get_string(napi_env env, napi_value value, char *out, size_t size, const char *name) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, out, size, &length) != napi_ok || length + 1 >= size) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a string shorter than %zu bytes", name, size - 1);
    throw_error(env, message);
    return false;
  }
  return true;
}

static bool get_viewer(napi_env env, const call_t *call, napi_value value, viewer_t **viewer) {
  uint32_t id;
  if (napi_get_value_uint32(env, value, &id) != napi_ok || id >= call->engine->all_count) {
    throw_error(env, "no such viewer id");
    return false;
  }
  *viewer = call->engine->all[id];
  return true;
}

static void finalize_engine(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_destroy(data);
}

/*
 * create(hardStopMs, allowedAddresses[], batchUs, receiveOffload): starts the I/O thread, which ends by itself
 * at the hard stop. batchUs: after each wake-up the thread sleeps that long so that datagrams gather (0: none).
 * receiveOffload: UDP_GRO on every viewer's socket (engine.c's receive()).
 */
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  TRY(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double hard_stop_ms = 0, batch_us = -1;
  uint32_t allowed = 0;
  if (argc < 3 || napi_get_value_double(env, argv[0], &hard_stop_ms) != napi_ok || hard_stop_ms <= 0 ||
      napi_get_array_length(env, argv[1], &allowed) != napi_ok ||
      napi_get_value_double(env, argv[2], &batch_us) != napi_ok || batch_us < 0 || batch_us > 100000)
    return throw_error(env, "create(hardStopMs > 0, allowedAddresses[], batchUs 0-100000, receiveOffload)");
  bool receive_offload = false;
  if (argc > 3 && napi_get_value_bool(env, argv[3], &receive_offload) != napi_ok)
    return throw_error(env, "receiveOffload must be a boolean");
  uint32_t addresses[16];
  int address_count = 0;
  for (uint32_t i = 0; i < allowed; i++) {
    napi_value item;
    char text[64];
    struct in_addr address;
    TRY(napi_get_element(env, argv[1], i, &item));
    if (!get_string(env, item, text, sizeof text, "an allowed address")) return NULL;
    if (inet_pton(AF_INET, text, &address) != 1) return throw_error(env, "allowed addresses must be IPv4 literals");
    if (address_count == 16) return throw_error(env, "at most 16 allowed addresses");
    addresses[address_count++] = address.s_addr;
  }
  engine_t *engine = calloc(1, sizeof *engine);
  if (!engine) return throw_error(env, "out of memory");
  engine->epfd = engine->wakefd = -1;
  memcpy(engine->allowed, addresses, sizeof addresses);
  engine->allowed_count = address_count;
  engine->receive_offload = receive_offload;
  char error[256] = "";
  if (engine_init(engine, (int64_t)hard_stop_ms, (int64_t)batch_us, error, sizeof error) != 0) {
    engine_destroy(engine);
    return throw_error(env, error);
  }
  napi_value result;
  TRY(napi_create_external(env, engine, finalize_engine, NULL, &result));
  return result;
}

/* fingerprint(engine): "AB:CD:…", the SHA-256 of the generator's certificate, for a=fingerprint. */
static napi_value fingerprint(napi_env env, napi_callback_info info) {
  call_t call;
  if (!arguments(env, info, &call, 1)) return NULL;
  char text[32 * 3];
  for (int i = 0; i < 32; i++) snprintf(text + 3 * i, 4, "%02X%s", call.engine->fingerprint[i], i < 31 ? ":" : "");
  napi_value result;
  TRY(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

static void random_ice_chars(char *out, size_t count) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint8_t bytes[64];
  RAND_bytes(bytes, (int)count);
  for (size_t i = 0; i < count; i++) out[i] = alphabet[bytes[i] & 63];
  out[count] = 0;
}

static napi_value set_property(napi_env env, napi_value object, const char *name, napi_value value) {
  return napi_set_named_property(env, object, name, value) == napi_ok ? object : NULL;
}

/* addViewer(engine, bindAddress): a socket bound there; returns {id, port, ufrag, pwd} for the offer. */
static napi_value add_viewer(napi_env env, napi_callback_info info) {
  call_t call;
  char bind_address[64];
  if (!arguments(env, info, &call, 2) || !get_string(env, call.argv[1], bind_address, sizeof bind_address, "bindAddress"))
    return NULL;
  engine_t *engine = call.engine;
  struct sockaddr_in local = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, bind_address, &local.sin_addr) != 1) return throw_error(env, "bindAddress must be an IPv4 literal");
  if (!engine_address_allowed(engine, local.sin_addr.s_addr))
    return throw_error(env, "bindAddress must be on loopback (127.0.0.0/8) or among the allowed addresses");
  if (READ(engine->thread_done) || !engine->thread_started) return throw_error(env, "the generator has stopped");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_error(env, strerror(errno));
  int size = RECEIVE_BUFFER;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size); /* not root: capped at net.core.rmem_max */
  int on = 1; /* the kernel's receive time on every datagram: first media and jitter do not depend on batching */
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  /* A run of equal datagrams the server sent as one GSO send comes up as one (engine.c's receive()). A kernel
     without UDP_GRO (< 5.0) refuses it: datagrams one by one, as without the option. */
  if (engine->receive_offload) setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
  socklen_t length = sizeof local;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0 || getsockname(fd, (struct sockaddr *)&local, &length) < 0) {
    int saved = errno;
    close(fd);
    return throw_error(env, strerror(saved));
  }
  viewer_t *viewer = calloc(1, sizeof *viewer);
  if (viewer && engine->all_count == engine->all_capacity) {
    size_t capacity = engine->all_capacity * 2 + 64;
    viewer_t **bigger = realloc(engine->all, capacity * sizeof *bigger);
    if (bigger) {
      engine->all = bigger;
      engine->all_capacity = capacity;
    }
  }
  if (!viewer || engine->all_count == engine->all_capacity) {
    close(fd);
    free(viewer);
    return throw_error(env, "out of memory");
  }
  viewer->id = (uint32_t)engine->all_count;
  viewer->fd = fd;
  viewer->local = local;
  viewer->created_ns = now_ns();
  random_ice_chars(viewer->local_ufrag, 8);
  random_ice_chars(viewer->local_pwd, 24);
  RAND_bytes((uint8_t *)&viewer->tie_breaker, sizeof viewer->tie_breaker);
  RAND_bytes((uint8_t *)&viewer->rtcp_ssrc, sizeof viewer->rtcp_ssrc);
  engine->all[engine->all_count++] = viewer;
  if (engine_push(engine, CMD_ADD, viewer) != 0) return throw_error(env, "could not queue the viewer");

  napi_value result, value;
  TRY(napi_create_object(env, &result));
  TRY(napi_create_uint32(env, viewer->id, &value));
  set_property(env, result, "id", value);
  TRY(napi_create_uint32(env, ntohs(local.sin_port), &value));
  set_property(env, result, "port", value);
  TRY(napi_create_string_utf8(env, viewer->local_ufrag, NAPI_AUTO_LENGTH, &value));
  set_property(env, result, "ufrag", value);
  TRY(napi_create_string_utf8(env, viewer->local_pwd, NAPI_AUTO_LENGTH, &value));
  set_property(env, result, "pwd", value);
  return result;
}

/*
 * startViewer(engine, id, ufrag, pwd, address, port, fingerprint (32 bytes), srtpProfiles, connectTimeoutMs):
 * the answer's parameters; ICE checks start at once.
 */
static napi_value start_viewer(napi_env env, napi_callback_info info) {
  call_t call;
  viewer_t *viewer;
  if (!arguments(env, info, &call, 9) || !get_viewer(env, &call, call.argv[1], &viewer)) return NULL;
  char address[64];
  uint32_t port = 0;
  double timeout_ms = 0;
  void *digest = NULL;
  size_t digest_length = 0;
  if (READ(viewer->state) != V_NEW) return throw_error(env, "this viewer was started already");
  if (!get_string(env, call.argv[2], viewer->remote_ufrag, sizeof viewer->remote_ufrag, "ufrag") ||
      !get_string(env, call.argv[3], viewer->remote_pwd, sizeof viewer->remote_pwd, "pwd") ||
      !get_string(env, call.argv[4], address, sizeof address, "address") ||
      !get_string(env, call.argv[7], viewer->srtp_profiles, sizeof viewer->srtp_profiles, "srtpProfiles"))
    return NULL;
  if (napi_get_value_uint32(env, call.argv[5], &port) != napi_ok || port == 0 || port > 65535)
    return throw_error(env, "port must be 1-65535");
  if (napi_get_buffer_info(env, call.argv[6], &digest, &digest_length) != napi_ok || digest_length != 32)
    return throw_error(env, "fingerprint must be the 32 bytes of a SHA-256");
  if (napi_get_value_double(env, call.argv[8], &timeout_ms) != napi_ok || timeout_ms <= 0)
    return throw_error(env, "connectTimeoutMs must be > 0");
  struct sockaddr_in remote = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, address, &remote.sin_addr) != 1) return throw_error(env, "address must be an IPv4 literal");
  if (!engine_address_allowed(call.engine, remote.sin_addr.s_addr))
    return throw_error(env, "refusing to send to an address outside loopback and the allowed addresses");
  memcpy(viewer->expected_fingerprint, digest, 32);
  viewer->remote = remote;
  viewer->deadline_ns = (int64_t)(timeout_ms * 1e6); /* made absolute by the I/O thread */
  /* The queue's mutex orders these writes before the I/O thread reads them. */
  if (engine_push(call.engine, CMD_START, viewer) != 0) return throw_error(env, "could not queue the start");
  return NULL;
}

/* closeViewer(engine, id): close_notify if connected, then the socket. */
static napi_value close_viewer(napi_env env, napi_callback_info info) {
  call_t call;
  viewer_t *viewer;
  if (!arguments(env, info, &call, 2) || !get_viewer(env, &call, call.argv[1], &viewer)) return NULL;
  if (call.engine->thread_started && engine_push(call.engine, CMD_CLOSE, viewer) != 0)
    return throw_error(env, "could not queue the close");
  return NULL;
}

/* failure(engine, id): why a failed viewer failed, else null. */
static napi_value failure(napi_env env, napi_callback_info info) {
  call_t call;
  viewer_t *viewer;
  if (!arguments(env, info, &call, 2) || !get_viewer(env, &call, call.argv[1], &viewer)) return NULL;
  napi_value result;
  if (__atomic_load_n(&viewer->state, __ATOMIC_ACQUIRE) != V_FAILED) {
    TRY(napi_get_null(env, &result));
    return result;
  }
  TRY(napi_create_string_utf8(env, viewer->failure, NAPI_AUTO_LENGTH, &result));
  return result;
}

static double ms_since(int64_t at, int64_t since) { return at ? (double)(at - since) / 1e6 : -1; }

/* stats(engine): Float64Array of the header fields, then each viewer's fields (layout() names them). */
static napi_value stats(napi_env env, napi_callback_info info) {
  call_t call;
  if (!arguments(env, info, &call, 1)) return NULL;
  engine_t *engine = call.engine;
  size_t count = HEADER_COUNT + engine->all_count * VIEWER_COUNT;
  napi_value buffer, result;
  double *out = NULL;
  TRY(napi_create_arraybuffer(env, count * sizeof(double), (void **)&out, &buffer));
  TRY(napi_create_typedarray(env, napi_float64_array, count, buffer, 0, &result));
  double *h = out;
  *h++ = (double)engine_thread_cpu_us(engine);
  *h++ = (double)READ(engine->datagrams);
  *h++ = (double)READ(engine->recv_calls);
  *h++ = (double)READ(engine->wakeups);
  *h++ = (double)__atomic_load_n(&engine->thread_done, __ATOMIC_ACQUIRE);
  *h++ = ms_since(now_ns(), engine->epoch_ns);
  for (size_t i = 0; i < engine->all_count; i++) {
    viewer_t *v = engine->all[i];
    int64_t created = v->created_ns;
    *h++ = (double)__atomic_load_n(&v->state, __ATOMIC_ACQUIRE);
    *h++ = (double)READ(v->packets);
    *h++ = (double)READ(v->bytes);
    *h++ = (double)READ(v->frames);
    *h++ = (double)READ(v->lost);
    *h++ = (double)READ(v->auth_failures);
    *h++ = (double)READ(v->rtcp_auth_failures);
    *h++ = (double)READ(v->other_ssrc);
    *h++ = (double)READ(v->rtcp_sent);
    *h++ = (double)READ(v->rtcp_received);
    *h++ = (double)READ(v->stun_answered);
    *h++ = (double)READ(v->consent_responses);
    *h++ = (double)READ(v->send_errors);
    *h++ = ms_since(created, engine->epoch_ns);
    *h++ = ms_since(READ(v->connected_ns), created);
    *h++ = ms_since(READ(v->first_media_ns), created);
    *h++ = ms_since(READ(v->last_media_ns), created);
    *h++ = (double)READ(v->jitter_us) / 1000.0;
  }
  return result;
}

/* layout(): {header: [names], viewer: [names]}, the order of stats(). */
static napi_value layout(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, header, viewer, name;
  TRY(napi_create_object(env, &result));
  TRY(napi_create_array_with_length(env, HEADER_COUNT, &header));
  TRY(napi_create_array_with_length(env, VIEWER_COUNT, &viewer));
  for (uint32_t i = 0; i < HEADER_COUNT; i++) {
    TRY(napi_create_string_utf8(env, HEADER_FIELDS[i], NAPI_AUTO_LENGTH, &name));
    TRY(napi_set_element(env, header, i, name));
  }
  for (uint32_t i = 0; i < VIEWER_COUNT; i++) {
    TRY(napi_create_string_utf8(env, VIEWER_FIELDS[i], NAPI_AUTO_LENGTH, &name));
    TRY(napi_set_element(env, viewer, i, name));
  }
  set_property(env, result, "header", header);
  set_property(env, result, "viewer", viewer);
  return result;
}

/* stop(engine): ends the I/O thread (closing every socket) and waits for it. Counters stay readable. */
static napi_value stop(napi_env env, napi_callback_info info) {
  call_t call;
  if (!arguments(env, info, &call, 1)) return NULL;
  engine_stop(call.engine);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"fingerprint", NULL, fingerprint, NULL, NULL, NULL, napi_default, NULL},
      {"addViewer", NULL, add_viewer, NULL, NULL, NULL, napi_default, NULL},
      {"startViewer", NULL, start_viewer, NULL, NULL, NULL, napi_default, NULL},
      {"closeViewer", NULL, close_viewer, NULL, NULL, NULL, napi_default, NULL},
      {"failure", NULL, failure, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL},
      {"layout", NULL, layout, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, stop, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
