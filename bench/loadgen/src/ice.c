/*
 * ICE for one host candidate pair, as the controlling agent (we are the offerer): a nominating check
 * (USE-CANDIDATE) to the server's loopback candidate, resent after 50 ms, then at twice the last wait up to
 * 1 s (RFC 8489 §6.2.1's backoff; browsers back off too), until it succeeds or the connect deadline passes;
 * the server's own checks and consent checks answered with MESSAGE-INTEGRITY and FINGERPRINT; a consent
 * check of ours every 5 s (RFC 7675) once connected.
 */
#include "loadgen.h"
#include "stun.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define CHECK_INTERVAL_NS (50 * 1000000LL)
#define CHECK_INTERVAL_MAX_NS (1000 * 1000000LL)
#define CONSENT_INTERVAL_NS (5000 * 1000000LL)
/* RFC 8445 §5.1.2.1: peer-reflexive type preference 110, local preference 65535, component 1. */
#define PRFLX_PRIORITY ((110u << 24) | (65535u << 8) | 255u)

static void send_check(viewer_t *viewer, const uint8_t txid[12], bool nominate) {
  char username[520];
  snprintf(username, sizeof username, "%s:%s", viewer->remote_ufrag, viewer->local_ufrag);
  uint8_t message[STUN_MAX];
  int length = stun_binding_request(message, txid, username, PRFLX_PRIORITY, viewer->tie_breaker, nominate,
                                    viewer->remote_pwd);
  viewer_send(viewer, message, length);
}

void ice_start(viewer_t *viewer, int64_t now) {
  RAND_bytes(viewer->check_txid, 12);
  PUBLISH(viewer->state, V_CHECKING);
  send_check(viewer, viewer->check_txid, true);
  viewer->check_interval_ns = CHECK_INTERVAL_NS;
  viewer->next_check_ns = now + CHECK_INTERVAL_NS;
}

static bool username_is_ours(const viewer_t *viewer, const stun_message_t *message) {
  /* The server's checks carry "<our ufrag>:<its ufrag>". */
  size_t ours = strlen(viewer->local_ufrag);
  return message->username && (size_t)message->username_length > ours &&
         memcmp(message->username, viewer->local_ufrag, ours) == 0 && message->username[ours] == ':';
}

void ice_receive(engine_t *engine, viewer_t *viewer, uint8_t *data, int length, const struct sockaddr_in *from,
                 int64_t now) {
  stun_message_t message;
  if (stun_parse(data, length, &message) != 0) return;
  if (message.type == STUN_BINDING_REQUEST) {
    /* Answer only checks for us, from where we may send, signed with our password. */
    if (!username_is_ours(viewer, &message) || !stun_integrity_ok(data, &message, viewer->local_pwd)) return;
    if (!engine_address_allowed(engine, from->sin_addr.s_addr)) return;
    uint8_t response[STUN_MAX];
    int size = stun_binding_success(response, message.txid, from, viewer->local_pwd);
    if (sendto(viewer->fd, response, (size_t)size, 0, (const struct sockaddr *)from, sizeof *from) < 0)
      PUBLISH(viewer->send_errors, viewer->send_errors + 1);
    PUBLISH(viewer->stun_answered, viewer->stun_answered + 1);
    return;
  }
  if (message.type != STUN_BINDING_SUCCESS && message.type != STUN_BINDING_ERROR) return;
  bool nomination = memcmp(message.txid, viewer->check_txid, 12) == 0;
  bool consent = memcmp(message.txid, viewer->consent_txid, 12) == 0;
  if (!nomination && !consent) return;
  if (!stun_integrity_ok(data, &message, viewer->remote_pwd)) return;
  if (message.type == STUN_BINDING_ERROR) {
    viewer_fail(viewer, "ICE: the server answered our check with error %d", message.error_code);
    return;
  }
  if (consent) {
    viewer->last_consent_ns = now;
    PUBLISH(viewer->consent_responses, viewer->consent_responses + 1);
  } else if (READ(viewer->state) == V_CHECKING) {
    viewer->last_consent_ns = now;
    viewer->next_consent_ns = now + CONSENT_INTERVAL_NS;
    dtls_start(engine, viewer, now);
  }
}

void ice_timers(engine_t *engine, viewer_t *viewer, int64_t now) {
  (void)engine;
  int state = READ(viewer->state);
  if (state == V_CHECKING && now >= viewer->next_check_ns) {
    /* A server that is slow to answer gets fewer checks, not more. */
    send_check(viewer, viewer->check_txid, true);
    viewer->check_interval_ns *= 2;
    if (viewer->check_interval_ns > CHECK_INTERVAL_MAX_NS) viewer->check_interval_ns = CHECK_INTERVAL_MAX_NS;
    viewer->next_check_ns = now + viewer->check_interval_ns;
  } else if ((state == V_DTLS || state == V_CONNECTED) && now >= viewer->next_consent_ns) {
    RAND_bytes(viewer->consent_txid, 12);
    send_check(viewer, viewer->consent_txid, false);
    viewer->next_consent_ns = now + CONSENT_INTERVAL_NS;
  }
}
