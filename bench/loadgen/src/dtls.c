/*
 * The DTLS 1.2 client of every viewer (OpenSSL, the copy Node exports to addons), with use_srtp
 * (RFC 5764). One ECDSA P-256 self-signed certificate for the whole generator: its SHA-256 fingerprint goes
 * into every offer. The server's certificate must match the fingerprint of its answer, else the handshake
 * is aborted and the viewer fails: no keys, no media.
 *
 * Datagrams: what the server sends is fed through a memory BIO (ICE and SRTP share the socket, so the
 * engine reads it); what OpenSSL writes goes out through a datagram BIO on the viewer's socket, one record
 * flight per datagram.
 */
#include "loadgen.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define DTLS_MTU 1200
#define SRTP_LABEL "EXTRACTOR-dtls_srtp"

static int viewer_index = -1;

/* Certificate check: the leaf's SHA-256 against the answer's a=fingerprint (self-signed, so no chain). */
static int check_fingerprint(X509_STORE_CTX *store, void *unused) {
  (void)unused;
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  viewer_t *viewer = ssl ? SSL_get_ex_data(ssl, viewer_index) : NULL;
  X509 *leaf = X509_STORE_CTX_get0_cert(store);
  uint8_t digest[32];
  unsigned int size = 0;
  if (!viewer || !leaf || X509_digest(leaf, EVP_sha256(), digest, &size) != 1 || size != 32) {
    if (viewer) viewer_fail(viewer, "DTLS: no server certificate to check");
    return 0;
  }
  if (CRYPTO_memcmp(digest, viewer->expected_fingerprint, 32) != 0) {
    viewer_fail(viewer, "DTLS: the server's certificate (sha-256 %02X:%02X:%02X…) does not match the answer's "
                        "a=fingerprint (%02X:%02X:%02X…): refused",
                digest[0], digest[1], digest[2], viewer->expected_fingerprint[0], viewer->expected_fingerprint[1],
                viewer->expected_fingerprint[2]);
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  return 1;
}

static X509 *self_signed(EVP_PKEY *key) {
  X509 *cert = X509_new();
  X509_NAME *name = X509_NAME_new();
  if (!cert || !name) goto fail;
  uint8_t serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM *number = BN_bin2bn(serial, sizeof serial, NULL);
  if (!number || !BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert))) {
    BN_free(number);
    goto fail;
  }
  BN_free(number);
  if (X509_set_version(cert, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(cert), -86400) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 86400) ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"webgear-rtc loadgen", -1, -1, 0) != 1 ||
      X509_set_subject_name(cert, name) != 1 || X509_set_issuer_name(cert, name) != 1 ||
      X509_set_pubkey(cert, key) != 1 || X509_sign(cert, key, EVP_sha256()) <= 0)
    goto fail;
  X509_NAME_free(name);
  return cert;
fail:
  X509_NAME_free(name);
  X509_free(cert);
  return NULL;
}

int dtls_context(engine_t *engine, char *error, size_t error_size) {
  if (viewer_index < 0) viewer_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509 *cert = key ? self_signed(key) : NULL;
  SSL_CTX *ctx = cert ? SSL_CTX_new(DTLS_client_method()) : NULL;
  unsigned int size = 0;
  const char *step = !key ? "P-256 key" : !cert ? "certificate" : !ctx ? "SSL_CTX_new" : NULL;
  if (!step) {
    SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, check_fingerprint, NULL);
    if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
      step = "certificate or key refused";
    else if (SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256") != 1)
      step = "cipher list";
    else if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1)
      step = "groups";
    else if (X509_digest(cert, EVP_sha256(), engine->fingerprint, &size) != 1 || size != 32)
      step = "fingerprint";
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  if (step) {
    snprintf(error, error_size, "DTLS setup failed: %s (%s)", step, ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_free(ctx);
    return -1;
  }
  engine->ssl_ctx = ctx;
  return 0;
}

static void handshake(engine_t *engine, viewer_t *viewer, int64_t now);

void dtls_start(engine_t *engine, viewer_t *viewer, int64_t now) {
  SSL *ssl = SSL_new(engine->ssl_ctx);
  BIO *in = BIO_new(BIO_s_mem());
  BIO *out = BIO_new_dgram(viewer->fd, BIO_NOCLOSE);
  if (!ssl || !in || !out) {
    SSL_free(ssl);
    BIO_free(in);
    BIO_free(out);
    viewer_fail(viewer, "DTLS: out of memory");
    return;
  }
  BIO_set_mem_eof_return(in, -1); /* empty: "try again", not end of stream */
  BIO_ctrl(out, BIO_CTRL_DGRAM_SET_PEER, 0, &viewer->remote);
  SSL_set_bio(ssl, in, out);
  SSL_set_ex_data(ssl, viewer_index, viewer);
  /* 0 on success (sic: OpenSSL's convention for this one) */
  if (SSL_set_tlsext_use_srtp(ssl, viewer->srtp_profiles) != 0) {
    SSL_free(ssl);
    viewer_fail(viewer, "DTLS: SRTP profiles '%s' refused by OpenSSL", viewer->srtp_profiles);
    return;
  }
  SSL_set_mtu(ssl, DTLS_MTU);
  SSL_set_connect_state(ssl);
  viewer->ssl = ssl;
  PUBLISH(viewer->state, V_DTLS);
  handshake(engine, viewer, now);
}

/* The handshake is done: take the SRTP keys (RFC 5764 §4.2: client key, server key, client salt, server salt). */
static void connected(viewer_t *viewer, int64_t now) {
  const SRTP_PROTECTION_PROFILE *profile = SSL_get_selected_srtp_profile(viewer->ssl);
  if (!profile || (profile->id != PROFILE_AEAD_AES_128_GCM && profile->id != PROFILE_AES128_CM_SHA1_80)) {
    viewer_fail(viewer, "DTLS: the server chose no SRTP profile this generator offered");
    return;
  }
  int id = (int)profile->id;
  int salt = id == PROFILE_AEAD_AES_128_GCM ? 12 : 14;
  uint8_t material[2 * (16 + 14)];
  if (SSL_export_keying_material(viewer->ssl, material, (size_t)(2 * (16 + salt)), SRTP_LABEL,
                                 strlen(SRTP_LABEL), NULL, 0, 0) != 1) {
    viewer_fail(viewer, "DTLS: exporting the SRTP keys failed");
    return;
  }
  const uint8_t *client_key = material, *server_key = material + 16;
  const uint8_t *client_salt = material + 32, *server_salt = material + 32 + salt;
  if (srtp_stream_init(&viewer->rtp_in, id, server_key, server_salt, false, false) ||
      srtp_stream_init(&viewer->rtcp_in, id, server_key, server_salt, true, false) ||
      srtp_stream_init(&viewer->rtcp_out, id, client_key, client_salt, true, true)) {
    viewer_fail(viewer, "SRTP: setting up the ciphers failed");
    return;
  }
  OPENSSL_cleanse(material, sizeof material);
  viewer->next_rr_ns = now + 200 * 1000000LL;
  PUBLISH(viewer->connected_ns, now);
  PUBLISH(viewer->state, V_CONNECTED);
}

static void handshake(engine_t *engine, viewer_t *viewer, int64_t now) {
  (void)engine;
  ERR_clear_error();
  int result = SSL_do_handshake(viewer->ssl);
  if (result == 1) {
    connected(viewer, now);
    return;
  }
  int error = SSL_get_error(viewer->ssl, result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
  if (READ(viewer->state) != V_FAILED) /* the fingerprint check names its own reason */
    viewer_fail(viewer, "DTLS handshake failed: %s", ERR_reason_error_string(ERR_peek_last_error()) ?: "error");
}

void dtls_receive(engine_t *engine, viewer_t *viewer, uint8_t *data, int length, int64_t now) {
  if (!viewer->ssl) return; /* before ICE nominated: werift only starts DTLS after, so this is stray */
  BIO_write(SSL_get_rbio(viewer->ssl), data, length);
  int state = READ(viewer->state);
  if (state == V_DTLS) {
    handshake(engine, viewer, now);
    return;
  }
  if (state != V_CONNECTED) return;
  /* After the handshake only alerts (close_notify) and retransmitted flights come: let OpenSSL read them. */
  uint8_t sink[256];
  ERR_clear_error();
  int result = SSL_read(viewer->ssl, sink, sizeof sink);
  if (result <= 0 && SSL_get_error(viewer->ssl, result) == SSL_ERROR_ZERO_RETURN) {
    viewer_fail(viewer, "the server closed the DTLS session");
  }
}

void dtls_timers(viewer_t *viewer, int64_t now) {
  (void)now;
  if (!viewer->ssl || READ(viewer->state) != V_DTLS) return;
  struct timeval left;
  if (DTLSv1_get_timeout(viewer->ssl, &left) == 1 && left.tv_sec == 0 && left.tv_usec == 0)
    DTLSv1_handle_timeout(viewer->ssl); /* resends the last flight */
}

void dtls_close(viewer_t *viewer) {
  if (viewer->ssl && READ(viewer->state) == V_CONNECTED) SSL_shutdown(viewer->ssl); /* close_notify */
}
