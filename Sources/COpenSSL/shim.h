#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>

// Macros in OpenSSL's headers, as functions Swift can call.
static inline int martlet_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long martlet_ssl_ctx_set_options(SSL_CTX *ctx, long options) {
    return (long)SSL_CTX_set_options(ctx, (unsigned long)options);
}
static inline int martlet_tls1_2_version(void) { return TLS1_2_VERSION; }
static inline long martlet_op_no_renegotiation(void) {
#ifdef SSL_OP_NO_RENEGOTIATION
    return (long)SSL_OP_NO_RENEGOTIATION;
#else
    return 0;
#endif
}
