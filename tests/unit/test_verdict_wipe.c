/* Verdict stage: private key material is wiped before memory is released, where it can be observed: every block
 * OpenSSL allocates (including the library's own OPENSSL_malloc'd key-file buffer) goes through hooks installed with
 * CRYPTO_set_mem_functions, which scan each block at free time for the key's PEM text and raw private scalar. */
#include "test.h"
#include "verdict/verdict_internal.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define HDR 16

static const uint8_t *needle[2];
static size_t needle_len[2];
static int found_unwiped[2];
static int scanning;

static int contains(const uint8_t *p, size_t n, const uint8_t *nd, size_t nl)
{
    if (!nd || nl == 0 || n < nl)
        return 0;
    for (size_t i = 0; i + nl <= n; i++)
        if (p[i] == nd[0] && memcmp(p + i, nd, nl) == 0)
            return 1;
    return 0;
}

static void scan(void *user_ptr, const char *file, int line)
{
    uint8_t *base = (uint8_t *)user_ptr - HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    if (scanning)
        for (int k = 0; k < 2; k++)
            if (contains(user_ptr, n, needle[k], needle_len[k]))
                found_unwiped[k]++, fprintf(stderr, "  unwiped block freed at %s:%d\n", file ? file : "?", line);
}

static void *h_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    uint8_t *b = malloc(n + HDR);
    if (!b)
        return NULL;
    memcpy(b, &n, sizeof n);
    return b + HDR;
}

static void h_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    if (!p)
        return;
    scan(p, file, line);
    free((uint8_t *)p - HDR);
}

static void *h_realloc(void *p, size_t n, const char *file, int line)
{
    if (!p)
        return h_malloc(n, file, line);
    if (n == 0) {
        h_free(p, file, line);
        return NULL;
    }
    size_t old;
    memcpy(&old, (uint8_t *)p - HDR, sizeof old);
    void *q = h_malloc(n, file, line);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    h_free(p, file, line); /* the old block is released as is: a realloc'd secret shows up here */
    return q;
}

static void test_hooks_observe(void)
{
    /* positive control: an unwiped block with the needle is seen, a cleansed one is not */
    static const uint8_t secret[] = "positive-control-secret-0123456789";
    needle[0] = secret;
    needle_len[0] = sizeof secret - 1;
    found_unwiped[0] = 0;
    scanning = 1;
    uint8_t *b = OPENSSL_malloc(100);
    memcpy(b + 10, secret, sizeof secret);
    OPENSSL_free(b);
    CHECK(found_unwiped[0] == 1);
    b = OPENSSL_malloc(100);
    memcpy(b + 10, secret, sizeof secret);
    OPENSSL_clear_free(b, 100);
    CHECK(found_unwiped[0] == 1);
    scanning = 0;
    needle[0] = NULL;
}

static void key_cycle(fm_jws_alg alg)
{
    fm_ctx *ctx = fm_ctx_create();
    char dir[] = "/tmp/fm_verdict_wipeXXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/k.pem", dir);
    fm_verdict_key *k = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, alg, &k) == FM_OK);
    REQUIRE(fm_verdict_key_write_private(ctx, k, path, 0) == FM_OK);
    fm_verdict_key_destroy(k);
    k = NULL;
    /* needles: one line of the PEM body and (for ES256) the raw private scalar, read outside the hooks' view */
    static char pem[4096];
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    fclose(f);
    pem[n] = 0;
    char *body = strchr(pem, '\n');
    REQUIRE(body && strlen(body + 1) > 40);
    needle[0] = (const uint8_t *)body + 1;
    needle_len[0] = 40;
    found_unwiped[0] = found_unwiped[1] = 0;
    static uint8_t scalar[32];
    needle[1] = NULL;
    needle_len[1] = 0;

    scanning = 1;
    unsigned flags;
    REQUIRE(fm_verdict_key_load_file(ctx, path, &k, &flags) == FM_OK);
    scanning = 0;
    if (alg == FM_JWS_EDDSA) {
        size_t sl = sizeof scalar;
        if (EVP_PKEY_get_raw_private_key(k->pkey, scalar, &sl) == 1 && sl == 32) {
            needle[1] = scalar;
            needle_len[1] = 32;
        }
    } else {
        BIGNUM *d = NULL;
        if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 && BN_bn2binpad(d, scalar, 32) == 32) {
            needle[1] = scalar;
            needle_len[1] = 32;
        }
        BN_clear_free(d);
    }
    scanning = 1;
    fm_verdict_input in;
    fm_verdict_input_init(&in);
    in.aud = "svc";
    in.nonce_hex = "00112233445566778899aabbccddeeff";
    in.decision = FM_VERDICT_NO_MATCH;
    in.distance = 0.9;
    in.threshold = 0.6;
    in.fmr = 1e-4;
    in.portrait_auth = FM_PORTRAIT_UNVERIFIABLE;
    static char tok[8192];
    size_t tl;
    CHECK_STATUS(fm_verdict_sign(ctx, k, &in, NULL, NULL, tok, sizeof tok, &tl), FM_OK);
    char path2[160];
    snprintf(path2, sizeof path2, "%s/k2.pem", dir);
    CHECK_STATUS(fm_verdict_key_write_private(ctx, k, path2, 0), FM_OK);
    CHECK_STATUS(fm_verdict_key_write_private(ctx, k, path2, 1), FM_OK);
    fm_verdict_key_destroy(k);
    scanning = 0;
    CHECK_MSG(found_unwiped[0] == 0, "%d freed blocks still held the private key PEM text", found_unwiped[0]);
    CHECK_MSG(found_unwiped[1] == 0, "%d freed blocks still held the raw private key", found_unwiped[1]);
    CHECK(needle[1] != NULL); /* the scalar check really ran */
    needle[0] = needle[1] = NULL;
    unlink(path);
    unlink(path2);
    rmdir(dir);
    fm_ctx_destroy(ctx);
}

static void test_es256_key_wiped(void) { key_cycle(FM_JWS_ES256); }
static void test_eddsa_key_wiped(void) { key_cycle(FM_JWS_EDDSA); }

int main(void)
{
    if (!CRYPTO_set_mem_functions(h_malloc, h_realloc, h_free)) {
        fprintf(stderr, "SKIP: OpenSSL allocated before the hooks could be installed\n");
        return TEST_SKIP_CODE;
    }
    RUN(test_hooks_observe);
    RUN(test_es256_key_wiped);
    RUN(test_eddsa_key_wiped);
    return test_finish();
}
