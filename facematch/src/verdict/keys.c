/* Verdict stage: engine signing keys (ES256 / EdDSA) and RSA card stand-in keys, through OpenSSL 3 EVP. */
#include "verdict_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define KEYFILE_MAX 65536

const char *fm_jws_alg_name(fm_jws_alg alg)
{
    switch (alg) {
    case FM_JWS_ES256: return "ES256";
    case FM_JWS_EDDSA: return "EdDSA";
    default: return "none";
    }
}

/* Classifies a loaded EVP_PKEY; 0 if usable. */
static int classify(fm_ctx *ctx, EVP_PKEY *pk, fm_verdict_key *k)
{
    if (EVP_PKEY_is_a(pk, "EC")) {
        char group[64] = "";
        size_t gl = 0;
        if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &gl) ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
            fm_fail(ctx, FM_ERR_KEY, "EC key on curve '%s': only P-256 (ES256) is supported", group);
            return -1;
        }
        k->alg = FM_JWS_ES256;
    } else if (EVP_PKEY_is_a(pk, "ED25519")) {
        k->alg = FM_JWS_EDDSA;
    } else if (EVP_PKEY_is_a(pk, "RSA")) {
        if (EVP_PKEY_get_bits(pk) < 2048) {
            fm_fail(ctx, FM_ERR_KEY, "RSA key of %d bits: at least 2048 needed", EVP_PKEY_get_bits(pk));
            return -1;
        }
        k->alg = FM_JWS_NONE;
        k->is_rsa = 1;
    } else {
        fm_fail(ctx, FM_ERR_KEY, "unsupported key type %s (ES256 P-256, Ed25519 or RSA expected)",
                EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
        return -1;
    }
    return 0;
}

static fm_status wrap(fm_ctx *ctx, EVP_PKEY *pk, int is_private, fm_verdict_key **out)
{
    fm_verdict_key *k = calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pk);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    if (classify(ctx, pk, k)) {
        EVP_PKEY_free(pk);
        free(k);
        return FM_ERR_KEY;
    }
    k->pkey = pk;
    k->is_private = is_private;
    *out = k;
    return FM_OK;
}

fm_status fm_verdict_key_generate(fm_ctx *ctx, fm_jws_alg alg, fm_verdict_key **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    EVP_PKEY *pk = NULL;
    if (alg == FM_JWS_ES256)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (alg == FM_JWS_EDDSA)
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown algorithm %d (ES256 or EdDSA)", (int)alg);
    if (!pk) {
        ERR_clear_error();
        return fm_fail(ctx, FM_ERR_CRYPTO, "key generation failed");
    }
    return wrap(ctx, pk, 1, out);
}

/*
 * The two PKCS#8 layouts this library writes (and OpenSSL writes for these key types): imported and exported here
 * directly, because OpenSSL 3.0's generic DER decoders and ASN.1 encoder free copies of the private scalar without
 * wiping them (observed by tests/unit/test_verdict_wipe.c). Other layouts fall back to OpenSSL's decoders.
 */
static const uint8_t ED25519_PKCS8_PREFIX[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                                 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
static const uint8_t P256_PKCS8_PREFIX[36] = {0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
                                              0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                                              0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20};
static const uint8_t P256_PKCS8_MID[5] = {0xa1, 0x44, 0x03, 0x42, 0x00};
#define P256_PKCS8_LEN (36 + 32 + 5 + 65)

/* 1: imported into *out; 0: not one of the two layouts; -1: the layout, but not a valid key (no fallback then). */
static int import_pkcs8(const uint8_t *der, size_t n, EVP_PKEY **out)
{
    *out = NULL;
    if (n == 48 && memcmp(der, ED25519_PKCS8_PREFIX, 16) == 0) {
        *out = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, der + 16, 32);
        ERR_clear_error();
        return *out ? 1 : -1;
    }
    if (n != P256_PKCS8_LEN || memcmp(der, P256_PKCS8_PREFIX, 36) != 0 || memcmp(der + 68, P256_PKCS8_MID, 5) != 0 ||
        der[73] != 0x04)
        return 0;
    EVP_PKEY *pk = NULL;
    BIGNUM *d = BN_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (d && bld && pc && BN_bin2bn(der + 36, 32, d) &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, der + 73, 65) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(pc) == 1 &&
        EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_KEYPAIR, params) == 1) {
        /* the stored public point must belong to the private scalar */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
        if (!chk || EVP_PKEY_pairwise_check(chk) != 1) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(d);
    ERR_clear_error();
    *out = pk;
    return pk ? 1 : -1;
}

/* Writes the private key as PKCS#8 PEM into a cleansed buffer; returns its length or 0 (then *pem is NULL). */
static size_t export_pkcs8_pem(const fm_verdict_key *k, char **pem_out)
{
    uint8_t der[P256_PKCS8_LEN];
    size_t dl = 0;
    *pem_out = NULL;
    if (k->alg == FM_JWS_EDDSA) {
        size_t rl = 32;
        memcpy(der, ED25519_PKCS8_PREFIX, 16);
        /* get_params reads the provider key directly; EVP_PKEY_get_raw_private_key goes through an export whose
         * duplicated parameters OpenSSL 3.0 frees unwiped */
        if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, der + 16, 32, &rl) == 1 && rl == 32)
            dl = 48;
    } else if (k->alg == FM_JWS_ES256) {
        BIGNUM *d = NULL, *x = NULL, *y = NULL;
        memcpy(der, P256_PKCS8_PREFIX, 36);
        memcpy(der + 68, P256_PKCS8_MID, 5);
        der[73] = 0x04;
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 && BN_bn2binpad(d, der + 36, 32) == 32 &&
            BN_bn2binpad(x, der + 74, 32) == 32 && BN_bn2binpad(y, der + 106, 32) == 32)
            dl = P256_PKCS8_LEN;
        BN_clear_free(d);
        BN_free(x);
        BN_free(y);
    }
    ERR_clear_error();
    if (!dl) {
        OPENSSL_cleanse(der, sizeof der);
        return 0;
    }
    static const char hdr[] = "-----BEGIN PRIVATE KEY-----\n", ftr[] = "-----END PRIVATE KEY-----\n";
    char b64[(P256_PKCS8_LEN + 2) / 3 * 4 + 1];
    size_t bl = fmv_b64_encode(der, dl, b64, 0);
    size_t cap = sizeof hdr + sizeof ftr + bl + bl / 64 + 2;
    char *pem = OPENSSL_malloc(cap);
    if (!pem) {
        OPENSSL_cleanse(der, sizeof der);
        OPENSSL_cleanse(b64, sizeof b64);
        return 0;
    }
    size_t o = 0;
    memcpy(pem, hdr, sizeof hdr - 1);
    o += sizeof hdr - 1;
    for (size_t i = 0; i < bl; i += 64) { /* 64-character lines (RFC 7468) */
        size_t take = bl - i < 64 ? bl - i : 64;
        memcpy(pem + o, b64 + i, take);
        o += take;
        pem[o++] = '\n';
    }
    memcpy(pem + o, ftr, sizeof ftr - 1);
    o += sizeof ftr - 1;
    OPENSSL_cleanse(b64, sizeof b64);
    OPENSSL_cleanse(der, sizeof der);
    *pem_out = pem;
    return o;
}

/*
 * Our own PEM reader for keys (first block only): OpenSSL's PEM_read_bio leaves the last base64 line in a freed
 * EVP_ENCODE_CTX without wiping it (observed by tests/unit/test_verdict_wipe.c), so key PEM is decoded here into a
 * buffer that is cleansed before release. Returns the DER (OPENSSL_malloc'd; OPENSSL_clear_free it) and the label.
 */
static uint8_t *pem_to_der(const char *s, size_t len, char label[32], size_t *der_len)
{
    static const char begin[] = "-----BEGIN ", dashes[] = "-----";
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    if (len - i < sizeof begin - 1 || memcmp(s + i, begin, sizeof begin - 1) != 0)
        return NULL;
    i += sizeof begin - 1;
    size_t l = 0;
    while (i < len && s[i] != '-' && l < 31)
        label[l++] = s[i++];
    label[l] = '\0';
    if (len - i < 5 || memcmp(s + i, dashes, 5) != 0)
        return NULL;
    i += 5;
    uint8_t *der = OPENSSL_malloc(len / 4 * 3 + 3);
    if (!der)
        return NULL;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0, ok = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
            continue;
        if (c == '-') { /* -----END label----- */
            size_t el = strlen(label);
            ok = len - i >= 9 + el + 5 && memcmp(s + i, "-----END ", 9) == 0 && memcmp(s + i + 9, label, el) == 0 &&
                 memcmp(s + i + 9 + el, dashes, 5) == 0;
            break;
        }
        if (c == '=') {
            pad++;
            continue;
        }
        int v = fmv_b64_value(c, 0);
        if (v < 0 || pad)
            break;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            der[n++] = (uint8_t)(acc >> bits);
        }
    }
    acc = 0;
    if (!ok || pad > 2 || n == 0) {
        OPENSSL_clear_free(der, len / 4 * 3 + 3);
        return NULL;
    }
    *der_len = n;
    return der;
}

fm_status fm_verdict_key_load(fm_ctx *ctx, const void *data, size_t len, fm_verdict_key **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!data || len == 0)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "no key data");
    if (len > KEYFILE_MAX)
        return fm_fail(ctx, FM_ERR_LIMIT, "key data of %zu bytes is above the limit of %d", len, KEYFILE_MAX);
    EVP_PKEY *pk = NULL;
    int priv = 0;
    char label[32] = "";
    size_t der_len = 0;
    uint8_t *pem_der = pem_to_der(data, len, label, &der_len);
    const unsigned char *der = pem_der ? pem_der : data;
    size_t dl = pem_der ? der_len : len;
    int want_public = pem_der && strcmp(label, "PUBLIC KEY") == 0;
    int want_private = pem_der && (strcmp(label, "PRIVATE KEY") == 0 || strcmp(label, "EC PRIVATE KEY") == 0 ||
                                   strcmp(label, "RSA PRIVATE KEY") == 0);
    if (pem_der && !want_public && !want_private) {
        OPENSSL_clear_free(pem_der, len / 4 * 3 + 3);
        return fm_fail(ctx, FM_ERR_KEY, "PEM block \"%s\" is not a key this library reads (encrypted keys are not "
                                        "supported)", label);
    }
    if (!want_public) {
        int imp = import_pkcs8(der, dl, &pk);
        if (imp != 0) {
            priv = imp > 0;
            goto have_key;
        }
        const unsigned char *p = der;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)dl);
        if (pk && p == der + dl) {
            priv = 1;
        } else {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
    }
    if (!pk && !want_private) {
        const unsigned char *p = der;
        pk = d2i_PUBKEY(NULL, &p, (long)dl);
        if (pk && p != der + dl) {
            EVP_PKEY_free(pk);
            pk = NULL;
        }
    }
have_key:
    if (pem_der)
        OPENSSL_clear_free(pem_der, len / 4 * 3 + 3);
    ERR_clear_error();
    if (!pk)
        return fm_fail(ctx, FM_ERR_KEY, "not a PEM/DER private or public key (encrypted keys are not supported)");
    return wrap(ctx, pk, priv, out);
}

fm_status fm_verdict_key_load_file(fm_ctx *ctx, const char *path, fm_verdict_key **out, unsigned *flags)
{
    if (flags)
        *flags = 0;
    if (!out || !path)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "path/out is NULL");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fm_fail(ctx, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fm_fail(ctx, FM_ERR_IO, "%s is not a regular file", path);
    }
    if (st.st_size <= 0 || st.st_size > KEYFILE_MAX) {
        close(fd);
        return fm_fail(ctx, st.st_size <= 0 ? FM_ERR_KEY : FM_ERR_LIMIT, "%s: key file of %lld bytes (1..%d)", path,
                       (long long)st.st_size, KEYFILE_MAX);
    }
    size_t n = (size_t)st.st_size;
    /* one allocation (no realloc copies) wiped before release */
    uint8_t *buf = OPENSSL_malloc(n + 1);
    if (!buf) {
        close(fd);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    fm_status s;
    if (got != n)
        s = fm_fail(ctx, FM_ERR_IO, "short read on %s", path);
    else
        s = fm_verdict_key_load(ctx, buf, n, out);
    OPENSSL_clear_free(buf, n + 1);
    if (s == FM_OK && (*out)->is_private && (st.st_mode & 077) && flags)
        *flags |= FM_KEYFILE_INSECURE_PERMS;
    if (s != FM_OK && s != FM_ERR_IO) {
        char msg[FM_ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", fm_ctx_errmsg(ctx));
        fm_fail(ctx, s, "%s: %s", path, msg[0] ? msg : "cannot load key");
    }
    return s;
}

void fm_verdict_key_destroy(fm_verdict_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material when freeing it */
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
}

fm_jws_alg fm_verdict_key_alg(const fm_verdict_key *key) { return key ? key->alg : FM_JWS_NONE; }
int fm_verdict_key_is_private(const fm_verdict_key *key) { return key ? key->is_private : 0; }

fm_status fmv_thumbprint(fm_ctx *ctx, const fm_verdict_key *key, char kid[44])
{
    uint8_t x[32], y[32];
    char xb[48], yb[48];
    char jwk[256];
    if (key->alg == FM_JWS_ES256) {
        BIGNUM *bx = NULL, *by = NULL;
        int ok = EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) &&
                 EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) && BN_bn2binpad(bx, x, 32) == 32 &&
                 BN_bn2binpad(by, y, 32) == 32;
        BN_free(bx);
        BN_free(by);
        if (!ok) {
            ERR_clear_error();
            return fm_fail(ctx, FM_ERR_CRYPTO, "cannot read the EC public point");
        }
        fmv_b64url_encode(x, 32, xb);
        fmv_b64url_encode(y, 32, yb);
        /* RFC 7638: required members only, lexicographic order, no whitespace */
        snprintf(jwk, sizeof jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xb, yb);
    } else if (key->alg == FM_JWS_EDDSA) {
        size_t xl = sizeof x;
        if (!EVP_PKEY_get_raw_public_key(key->pkey, x, &xl) || xl != 32) {
            ERR_clear_error();
            return fm_fail(ctx, FM_ERR_CRYPTO, "cannot read the Ed25519 public key");
        }
        fmv_b64url_encode(x, 32, xb);
        snprintf(jwk, sizeof jwk, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", xb);
    } else {
        return fm_fail(ctx, FM_ERR_KEY, "key ids exist for ES256 and EdDSA keys only");
    }
    uint8_t d[32];
    fm_sha256(jwk, strlen(jwk), d, NULL);
    fmv_b64url_encode(d, 32, kid);
    return FM_OK;
}

fm_status fm_verdict_key_id(fm_ctx *ctx, const fm_verdict_key *key, char kid[44])
{
    if (!key || !kid)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "key/kid is NULL");
    return fmv_thumbprint(ctx, key, kid);
}

/* Public key PEM in a memory BIO, or NULL. */
static BIO *pem_bio(const fm_verdict_key *key, int unused)
{
    (void)unused;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        return NULL;
    if (!PEM_write_bio_PUBKEY(bio, key->pkey)) {
        BIO_free(bio);
        ERR_clear_error();
        return NULL;
    }
    return bio;
}

fm_status fm_verdict_key_public_pem(fm_ctx *ctx, const fm_verdict_key *key, char *buf, size_t cap, size_t *len)
{
    if (!key || !len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "key/len is NULL");
    BIO *bio = pem_bio(key, 0);
    if (!bio)
        return fm_fail(ctx, FM_ERR_CRYPTO, "cannot encode the public key");
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    *len = (size_t)n;
    if (!buf || cap < (size_t)n + 1) {
        BIO_free(bio);
        return fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "public key PEM needs %ld bytes", n + 1);
    }
    memcpy(buf, p, (size_t)n);
    buf[n] = '\0';
    BIO_free(bio);
    return FM_OK;
}

static fm_status write_all(fm_ctx *ctx, int fd, const char *p, size_t n, const char *path)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fm_fail(ctx, FM_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0)
        return fm_fail(ctx, FM_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
    return FM_OK;
}

static fm_status write_key_file(fm_ctx *ctx, const fm_verdict_key *key, const char *path, int overwrite,
                                int private_part)
{
    if (!key || !path)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "key/path is NULL");
    if (private_part && !key->is_private)
        return fm_fail(ctx, FM_ERR_KEY, "this key has no private part");
    mode_t mode = private_part ? 0600 : 0644;
    BIO *bio = NULL;
    char *pem = NULL, *own_pem = NULL;
    long n = 0;
    if (private_part) {
        n = (long)export_pkcs8_pem(key, &own_pem);
        pem = own_pem;
        if (!own_pem)
            return fm_fail(ctx, FM_ERR_CRYPTO, "cannot encode the private key (ES256 or EdDSA keys only)");
    } else {
        bio = pem_bio(key, 0);
        if (!bio)
            return fm_fail(ctx, FM_ERR_CRYPTO, "cannot encode the key");
        n = BIO_get_mem_data(bio, &pem);
    }
    fm_status s;
    if (!overwrite) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0) {
            s = fm_fail(ctx, FM_ERR_IO, "cannot create %s: %s%s", path, strerror(errno),
                        errno == EEXIST ? " (refusing to overwrite; use --force)" : "");
        } else {
            s = write_all(ctx, fd, pem, (size_t)n, path);
            if (close(fd) != 0 && s == FM_OK)
                s = fm_fail(ctx, FM_ERR_IO, "cannot close %s: %s", path, strerror(errno));
            if (s != FM_OK)
                unlink(path);
        }
    } else {
        /* fresh file beside the target (mkstemp creates it 0600, O_EXCL), then rename over the target */
        size_t pl = strlen(path);
        char *tmp = malloc(pl + 8);
        if (!tmp) {
            BIO_free(bio);
            if (own_pem)
                OPENSSL_clear_free(own_pem, (size_t)n);
            return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        }
        memcpy(tmp, path, pl);
        memcpy(tmp + pl, ".XXXXXX", 8);
        int fd = mkstemp(tmp);
        if (fd < 0) {
            s = fm_fail(ctx, FM_ERR_IO, "cannot create a file beside %s: %s", path, strerror(errno));
        } else {
            s = FM_OK;
            if (fchmod(fd, mode) != 0)
                s = fm_fail(ctx, FM_ERR_IO, "cannot set the mode of %s: %s", tmp, strerror(errno));
            if (s == FM_OK)
                s = write_all(ctx, fd, pem, (size_t)n, tmp);
            if (close(fd) != 0 && s == FM_OK)
                s = fm_fail(ctx, FM_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
            if (s == FM_OK && rename(tmp, path) != 0)
                s = fm_fail(ctx, FM_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
            if (s != FM_OK)
                unlink(tmp);
        }
        free(tmp);
    }
    BIO_free(bio);
    if (own_pem)
        OPENSSL_clear_free(own_pem, (size_t)n);
    return s;
}

fm_status fm_verdict_key_write_private(fm_ctx *ctx, const fm_verdict_key *key, const char *path, int overwrite)
{
    return write_key_file(ctx, key, path, overwrite, 1);
}

fm_status fm_verdict_key_write_public(fm_ctx *ctx, const fm_verdict_key *key, const char *path, int overwrite)
{
    return write_key_file(ctx, key, path, overwrite, 0);
}

/* ---- signatures ------------------------------------------------------------------------------------------------- */

fm_status fmv_jws_sign(fm_ctx *ctx, const fm_verdict_key *key, const uint8_t *data, size_t n, uint8_t sig[64])
{
    if (!key->is_private || (key->alg != FM_JWS_ES256 && key->alg != FM_JWS_EDDSA))
        return fm_fail(ctx, FM_ERR_KEY, "an ES256 or EdDSA private key is needed to sign");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    fm_status s = FM_OK;
    uint8_t der[80];
    size_t dl = sizeof der;
    if (key->alg == FM_JWS_EDDSA) {
        size_t sl = 64;
        if (EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key->pkey, NULL) != 1 ||
            EVP_DigestSign(md, sig, &sl, data, n) != 1 || sl != 64)
            s = fm_fail(ctx, FM_ERR_CRYPTO, "Ed25519 signing failed");
    } else {
        if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key->pkey, NULL) != 1 ||
            EVP_DigestSign(md, der, &dl, data, n) != 1) {
            s = fm_fail(ctx, FM_ERR_CRYPTO, "ECDSA signing failed");
        } else {
            /* DER ECDSA-Sig-Value -> fixed-size R || S (RFC 7518 3.4) */
            const unsigned char *p = der;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
            const BIGNUM *r = NULL, *sv = NULL;
            if (es)
                ECDSA_SIG_get0(es, &r, &sv);
            if (!es || BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(sv, sig + 32, 32) != 32)
                s = fm_fail(ctx, FM_ERR_CRYPTO, "cannot convert the ECDSA signature");
            ECDSA_SIG_free(es);
        }
    }
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return s;
}

int fmv_jws_verify(const fm_verdict_key *key, const uint8_t *data, size_t n, const uint8_t *sig, size_t sig_len)
{
    if (sig_len != 64)
        return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return 0;
    int ok = 0;
    if (key->alg == FM_JWS_EDDSA) {
        ok = EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, key->pkey, NULL) == 1 &&
             EVP_DigestVerify(md, sig, 64, data, n) == 1;
    } else if (key->alg == FM_JWS_ES256) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
        unsigned char *der = NULL;
        int dl = -1;
        if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
            r = s = NULL; /* owned by es now */
            dl = i2d_ECDSA_SIG(es, &der);
        }
        if (dl > 0)
            ok = EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, key->pkey, NULL) == 1 &&
                 EVP_DigestVerify(md, der, (size_t)dl, data, n) == 1;
        OPENSSL_free(der);
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

int fmv_card_verify(EVP_PKEY *pub, const uint8_t digest[32], const uint8_t *sig, size_t sig_len)
{
    if (!pub || !EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_get_bits(pub) < 2048)
        return 0;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
    int ok = pc && EVP_PKEY_verify_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
             EVP_PKEY_verify(pc, sig, sig_len, digest, 32) == 1;
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    return ok;
}

fm_status fm_verdict_key_card_sign(void *rsa_key, const uint8_t digest[32], uint8_t *sig, size_t cap,
                                   size_t *sig_len)
{
    const fm_verdict_key *k = rsa_key;
    if (!k || !k->is_rsa || !k->is_private || !digest || !sig || !sig_len)
        return FM_ERR_INVALID_ARGUMENT;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    size_t n = cap;
    int ok = pc && EVP_PKEY_sign_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 && EVP_PKEY_sign(pc, sig, &n, digest, 32) == 1;
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error();
    if (!ok)
        return FM_ERR_CRYPTO;
    *sig_len = n;
    return FM_OK;
}
