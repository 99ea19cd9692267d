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

/* Never prompt for a passphrase: encrypted keys are refused. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
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
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pk) {
        priv = 1;
    } else {
        BIO_free(bio);
        bio = BIO_new_mem_buf(data, (int)len);
        pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL) : NULL;
    }
    BIO_free(bio);
    if (!pk) {
        const unsigned char *p = data;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
        if (pk && p == (const unsigned char *)data + len) {
            priv = 1;
        } else {
            EVP_PKEY_free(pk);
            p = data;
            pk = d2i_PUBKEY(NULL, &p, (long)len);
            if (pk && p != (const unsigned char *)data + len) {
                EVP_PKEY_free(pk);
                pk = NULL;
            }
        }
    }
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

/* PEM of the key into a buffer that wipes itself (BIO_s_secmem); returns the BIO or NULL. */
static BIO *pem_bio(const fm_verdict_key *key, int private_part)
{
    BIO *bio = BIO_new(private_part ? BIO_s_secmem() : BIO_s_mem());
    if (!bio)
        return NULL;
    int ok = private_part ? PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL)
                          : PEM_write_bio_PUBKEY(bio, key->pkey);
    if (!ok) {
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
    BIO *bio = pem_bio(key, private_part);
    if (!bio)
        return fm_fail(ctx, FM_ERR_CRYPTO, "cannot encode the key");
    char *pem = NULL;
    long n = BIO_get_mem_data(bio, &pem);
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
    BIO_free(bio); /* secmem BIO: the PEM text is cleansed */
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
