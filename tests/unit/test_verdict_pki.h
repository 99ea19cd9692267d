/* Test PKI for the verdict tests: a test CA and "cards" (RSA-2048 keys with certificates), made with OpenSSL in the
 * test itself (nothing committed). Header-only, included by tests/unit/test_verdict*.c. */
#ifndef FM_TEST_VERDICT_PKI_H
#define FM_TEST_VERDICT_PKI_H

#include "facematch.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

typedef struct tpki_cert {
    EVP_PKEY *key;
    X509 *cert;
    uint8_t *der;
    int der_len;
    char *key_pem;   /* PKCS#8 PEM of the private key */
    char *cert_pem;
} tpki_cert;

static inline char *tpki_bio_str(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = 0;
    return s;
}

static inline void tpki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
}

/* issuer NULL = self-signed CA. Validity: now - 1 day .. now + days. */
static inline int tpki_make(tpki_cert *out, const char *cn, const tpki_cert *issuer, int is_ca, long days)
{
    memset(out, 0, sizeof *out);
    out->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (!out->key)
        return -1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_set_pubkey(x, out->key);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : nm);
    X509 *iss = issuer ? issuer->cert : x;
    if (is_ca) {
        tpki_add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        tpki_add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        tpki_add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        tpki_add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
    }
    if (!X509_sign(x, issuer ? issuer->key : out->key, EVP_sha256()))
        return -1;
    out->cert = x;
    unsigned char *der = NULL;
    out->der_len = i2d_X509(x, &der);
    out->der = der;
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, out->key, NULL, NULL, 0, NULL, NULL);
    out->key_pem = tpki_bio_str(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    out->cert_pem = tpki_bio_str(b);
    BIO_free(b);
    return 0;
}

static inline void tpki_free(tpki_cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
    OPENSSL_free(c->der);
    free(c->key_pem);
    free(c->cert_pem);
    memset(c, 0, sizeof *c);
}

#endif
