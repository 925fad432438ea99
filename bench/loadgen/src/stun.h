/* STUN messages as ICE uses them (RFC 5389, RFC 8445 §7): build and check, nothing more. */
#ifndef LOADGEN_STUN_H
#define LOADGEN_STUN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR 0x0111
#define STUN_MAX 548

typedef struct stun_message {
  uint16_t type;
  const uint8_t *txid;
  const uint8_t *username;
  int username_length;
  int integrity_offset; /* of the MESSAGE-INTEGRITY attribute, or -1 */
  int error_code;       /* from ERROR-CODE, or 0 */
  bool fingerprint_ok;
} stun_message_t;

/* Parses and checks the header and FINGERPRINT (when present). Returns 0, or -1 for no valid STUN. */
int stun_parse(const uint8_t *data, int length, stun_message_t *message);

/* Whether MESSAGE-INTEGRITY is present and right for this password (short-term credentials). */
bool stun_integrity_ok(const uint8_t *data, const stun_message_t *message, const char *password);

/*
 * A Binding request from the controlling agent: USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE (when
 * nominate), MESSAGE-INTEGRITY, FINGERPRINT. Returns its length.
 */
int stun_binding_request(uint8_t *out, const uint8_t txid[12], const char *username, uint32_t priority,
                         uint64_t tie_breaker, bool nominate, const char *password);

/* A Binding success response: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT. Returns its length. */
int stun_binding_success(uint8_t *out, const uint8_t txid[12], const struct sockaddr_in *mapped,
                         const char *password);

#endif
