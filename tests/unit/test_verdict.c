/* Verdict stage: JSON/base64url primitives, keys, signing, verification and every tampering case of issue 6. */
#include "test.h"
#include "test_verdict_pki.h"
#include "verdict/verdict_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/hmac.h>

static const char *NONCE = "00112233445566778899aabbccddeeff";
static const char *AUD = "pin-reset.example";
static const int64_t T0 = 1800000000; /* fixed "now" for reproducible expiry checks */

static tpki_cert ca, card_a, card_b, rogue_ca, rogue_card;
static fm_verdict_key *card_a_key, *card_b_key, *rogue_key;

/* ---- primitives ------------------------------------------------------------------------------------------------- */

static void test_b64url(void)
{
    uint8_t buf[64], back[64];
    char enc[96];
    for (size_t n = 0; n < 40; n++) {
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)(i * 37 + n);
        size_t el = fmv_b64url_encode(buf, n, enc);
        CHECK(el == fmv_b64url_len(n));
        size_t bl = 0;
        CHECK(fmv_b64url_decode(enc, el, back, &bl) == 0 && bl == n && memcmp(buf, back, n) == 0);
    }
    /* RFC 4648 section 10 vectors (base64 alphabet, unpadded) */
    size_t bl;
    CHECK(fmv_b64url_decode("Zm9vYmFy", 8, back, &bl) == 0 && bl == 6 && memcmp(back, "foobar", 6) == 0);
    CHECK(fmv_b64url_decode("Zm9vYg", 6, back, &bl) == 0 && bl == 4 && memcmp(back, "foob", 4) == 0);
    CHECK(fmv_b64url_decode("Zm9vYg==", 8, back, &bl) != 0); /* padding */
    CHECK(fmv_b64url_decode("Zm9vYh", 6, back, &bl) != 0);   /* non-canonical trailing bits */
    CHECK(fmv_b64url_decode("Zm9v+g", 6, back, &bl) != 0);   /* standard-alphabet char */
    CHECK(fmv_b64url_decode("Zm9vY", 5, back, &bl) != 0);    /* length % 4 == 1 */
    CHECK(fmv_b64url_decode("Zm 9v", 5, back, &bl) != 0);
}

static int parses(const char *s)
{
    fmj_doc d;
    char err[128];
    int r = fmj_parse(s, strlen(s), FMJ_MAX_DEPTH, FMJ_MAX_NODES, &d, err, sizeof err);
    fmj_free(&d);
    return r == 0;
}

static void test_json_parser(void)
{
    CHECK(parses("{\"a\":1,\"b\":[true,false,null,\"x\",-0.5e3]}"));
    CHECK(parses(" {\"a\" : {\"b\":{}} } "));
    CHECK(!parses("{\"a\":1,\"a\":2}"));          /* duplicate key */
    CHECK(!parses("{\"a\":1}x"));                 /* trailing data */
    CHECK(!parses("{\"a\":1,}"));                 /* trailing comma */
    CHECK(!parses("{\"a\":01}"));                 /* leading zero */
    CHECK(!parses("{\"a\":1.}"));
    CHECK(!parses("{\"a\":.5}"));
    CHECK(!parses("{\"a\":1e999}"));              /* overflows a double */
    CHECK(!parses("{\"a\":\"\\ud800\"}"));        /* lone surrogate */
    CHECK(parses("{\"a\":\"\\ud83d\\ude00\"}"));  /* surrogate pair */
    CHECK(!parses("{\"a\":\"\\u0000\"}"));
    CHECK(!parses("{\"a\":\"\xc0\xaf\"}"));       /* overlong UTF-8 */
    CHECK(!parses("{\"a\":\"\xed\xa0\x80\"}"));   /* UTF-8-encoded surrogate */
    CHECK(!parses("{\"a\":\"tab\there\"}"));      /* raw control character */
    CHECK(!parses("{\"a\":tru}"));
    CHECK(!parses(""));
    CHECK(parses("[[[[[[[1]]]]]]]"));             /* depth 8 */
    CHECK(!parses("[[[[[[[[1]]]]]]]]"));          /* depth 9 */
    fmj_doc d;
    char err[128];
    const char *s = "{\"i\":-9223372036854775808,\"j\":9223372036854775808,\"s\":\"a\\\"\\u00e9\"}";
    REQUIRE(fmj_parse(s, strlen(s), 8, 100, &d, err, sizeof err) == 0);
    const fmj_node *i = fmj_get(&d, fmj_root(&d), "i"), *j = fmj_get(&d, fmj_root(&d), "j"),
                   *str = fmj_get(&d, fmj_root(&d), "s");
    CHECK(i && i->is_int && i->ival == INT64_MIN);
    CHECK(j && !j->is_int);
    CHECK(str && strcmp(str->str, "a\"\xc3\xa9") == 0);
    fmj_free(&d);
}

static void test_number_format(void)
{
    char t[40];
    fmv_format_double(0.1, t);
    CHECK(strcmp(t, "0.1") == 0);
    fmv_format_double(1e-4, t);
    CHECK(strcmp(t, "0.0001") == 0);
    fmv_format_double(0.6, t);
    CHECK(strcmp(t, "0.6") == 0);
    /* every formatted value reads back exactly */
    uint64_t x = 88172645463325252ull;
    int bad = 0;
    for (int k = 0; k < 20000; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v))
            continue;
        fmv_format_double(v, t);
        bad += strtod(t, NULL) != v;
    }
    CHECK(bad == 0);
}

/* ---- keys ------------------------------------------------------------------------------------------------------- */

static void test_thumbprint_rfc8037(void)
{
    /* RFC 8037 appendix A.2/A.3: Ed25519 public key x and its RFC 7638 thumbprint (an independent reference) */
    const char *x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    uint8_t raw[32];
    size_t rl;
    REQUIRE(fmv_b64url_decode(x, strlen(x), raw, &rl) == 0 && rl == 32);
    uint8_t der[44] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    memcpy(der + 12, raw, 32);
    fm_ctx *ctx = fm_ctx_create();
    fm_verdict_key *k = NULL;
    CHECK_STATUS(fm_verdict_key_load(ctx, der, sizeof der, &k), FM_OK);
    REQUIRE(k);
    CHECK(fm_verdict_key_alg(k) == FM_JWS_EDDSA && !fm_verdict_key_is_private(k));
    char kid[44];
    CHECK_STATUS(fm_verdict_key_id(ctx, k, kid), FM_OK);
    CHECK_MSG(strcmp(kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k") == 0, "kid %s", kid);
    fm_verdict_key_destroy(k);
    fm_ctx_destroy(ctx);
}

static void test_key_files(void)
{
    fm_ctx *ctx = fm_ctx_create();
    char dir[] = "/tmp/fm_verdict_keysXXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[256], pub[256];
    snprintf(path, sizeof path, "%s/k.pem", dir);
    snprintf(pub, sizeof pub, "%s/p.pem", dir);
    fm_verdict_key *k = NULL, *k2 = NULL, *kp = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_ES256, &k) == FM_OK);
    mode_t old = umask(0); /* the library must not rely on the umask for 0600 */
    CHECK_STATUS(fm_verdict_key_write_private(ctx, k, path, 0), FM_OK);
    umask(old);
    struct stat st;
    REQUIRE(stat(path, &st) == 0);
    CHECK_MSG((st.st_mode & 0777) == 0600, "mode %o", (unsigned)(st.st_mode & 0777));
    CHECK_STATUS(fm_verdict_key_write_private(ctx, k, path, 0), FM_ERR_IO); /* no silent overwrite */
    chmod(path, 0644);
    CHECK_STATUS(fm_verdict_key_write_private(ctx, k, path, 1), FM_OK);     /* --force: fresh 0600 file */
    REQUIRE(stat(path, &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    unsigned flags = 99;
    CHECK_STATUS(fm_verdict_key_load_file(ctx, path, &k2, &flags), FM_OK);
    CHECK(flags == 0);
    fm_verdict_key_destroy(k2);
    k2 = NULL;
    chmod(path, 0640);
    CHECK_STATUS(fm_verdict_key_load_file(ctx, path, &k2, &flags), FM_OK);
    CHECK(flags & FM_KEYFILE_INSECURE_PERMS);
    CHECK(fm_verdict_key_is_private(k2));
    char a[44], b[44], c[44];
    fm_verdict_key_id(ctx, k, a);
    fm_verdict_key_id(ctx, k2, b);
    CHECK(strcmp(a, b) == 0);
    CHECK_STATUS(fm_verdict_key_write_public(ctx, k2, pub, 0), FM_OK);
    CHECK_STATUS(fm_verdict_key_load_file(ctx, pub, &kp, &flags), FM_OK);
    CHECK(kp && !fm_verdict_key_is_private(kp) && flags == 0);
    fm_verdict_key_id(ctx, kp, c);
    CHECK(strcmp(a, c) == 0);
    /* a public key cannot sign */
    fm_verdict_input in;
    fm_verdict_input_init(&in);
    char tok[64];
    size_t tl;
    CHECK_STATUS(fm_verdict_sign(ctx, kp, &in, NULL, NULL, tok, sizeof tok, &tl), FM_ERR_KEY);
    /* garbage and small keys */
    fm_verdict_key *g = NULL;
    CHECK_STATUS(fm_verdict_key_load(ctx, "not a key", 9, &g), FM_ERR_KEY);
    CHECK(g == NULL);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL, NULL);
    char *pp;
    long pn = BIO_get_mem_data(bio, &pp);
    CHECK_STATUS(fm_verdict_key_load(ctx, pp, (size_t)pn, &g), FM_ERR_KEY);
    BIO_free(bio);
    EVP_PKEY_free(p384);
    fm_verdict_key_destroy(k);
    fm_verdict_key_destroy(k2);
    fm_verdict_key_destroy(kp);
    unlink(path);
    unlink(pub);
    rmdir(dir);
    fm_ctx_destroy(ctx);
}

/* ---- signing and verification ----------------------------------------------------------------------------------- */

static void fill_input(fm_verdict_input *in, const tpki_cert *card)
{
    fm_verdict_input_init(in);
    in->aud = AUD;
    in->nonce_hex = NONCE;
    in->iat = T0;
    in->decision = FM_VERDICT_MATCH;
    in->reasons[in->n_reasons++] = "distance_below_threshold";
    in->distance = 0.41;
    in->similarity = 0.59;
    in->threshold = 0.6;
    in->fmr = 1e-4;
    in->metric = "l2";
    in->checks[0] = (fm_verdict_check){"blink", 0.93, 0.5, 1};
    in->checks[1] = (fm_verdict_check){"pad_model", 0.97, 0.8, 1};
    in->n_checks = 2;
    in->steps[0] = (fm_verdict_step){"blink", 0.5, 4.5, 1, 1.75};
    in->steps[1] = (fm_verdict_step){"turn_left", 4.5, 8.5, 1, 6.25};
    in->n_steps = 2;
    in->frames[0] = (fm_verdict_frame){1.2, 0.82, 160, 0.7, 0.55, 2.5, -1.5};
    in->n_frames = 1;
    fm_sha256("portrait", 8, in->portrait_sha256, NULL);
    in->portrait_auth = FM_PORTRAIT_VERIFIED;
    in->models[0] = (fm_verdict_model){"dlib_resnet",
                                       "2316cd5f1a4a4c3c4e4d1bd8e2c3b4a5a6b7c8d9e0f1a2b3c4d5e6f708192a3b"};
    in->n_models = 1;
    if (card) {
        in->card_cert_der = card->der;
        in->card_cert_len = (size_t)card->der_len;
    }
}

static char *sign_with(fm_ctx *ctx, const fm_verdict_key *k, const fm_verdict_input *in, fm_verdict_key *card_key,
                       int check_card)
{
    char *tok = malloc(FM_VERDICT_TOKEN_MAX);
    size_t tl = 0;
    fm_status s = fmv_sign(ctx, k, in, card_key ? fm_verdict_key_card_sign : NULL, card_key, check_card, tok,
                           FM_VERDICT_TOKEN_MAX, &tl);
    if (s != FM_OK) {
        fprintf(stderr, "sign failed: %s\n", fm_ctx_errmsg(ctx));
        free(tok);
        return NULL;
    }
    return tok;
}

static fm_vcheck check_tok(fm_ctx *ctx, fm_verdict_verifier *v, const char *tok, size_t len, const char *nonce,
                           const char *aud, int64_t now, fm_verdict_result *res)
{
    fm_verdict_result r;
    if (!res)
        res = &r;
    fm_status s = fm_verdict_verify(ctx, v, tok, len, nonce, aud, now, res, NULL, 0, NULL);
    if (s == FM_OK)
        return res->valid ? FM_VCHECK_NONE : (fm_vcheck)99;
    if (s != FM_ERR_VERIFY || res->valid)
        return (fm_vcheck)98;
    return res->failed_check;
}

#define EXPECT_FAIL(tok, len, nonce, aud, now, want)                                                               \
    do {                                                                                                           \
        fm_verdict_result r_;                                                                                      \
        fm_vcheck got_ = check_tok(ctx, v, tok, len, nonce, aud, now, &r_);                                        \
        CHECK_MSG(got_ == (want), "got %s (%s), want %s", fm_vcheck_name(got_) ? fm_vcheck_name(got_) : "?",       \
                  r_.detail, fm_vcheck_name(want));                                                                \
    } while (0)

static fm_verdict_verifier *make_verifier(fm_ctx *ctx, const fm_verdict_key *k)
{
    fm_verdict_verifier *v = NULL;
    if (fm_verdict_verifier_create(ctx, k, &v) != FM_OK)
        return NULL;
    if (fm_verdict_verifier_add_ca(ctx, v, ca.cert_pem, strlen(ca.cert_pem)) != FM_OK) {
        fm_verdict_verifier_destroy(v);
        return NULL;
    }
    return v;
}

/* Re-signs header.payload (given as JSON texts) with k: a token forged by someone holding the engine key. */
static char *forge(fm_ctx *ctx, const fm_verdict_key *k, const char *hdr, const char *payload)
{
    size_t hl = strlen(hdr), pl = strlen(payload);
    char *t = malloc(fmv_b64url_len(hl) + fmv_b64url_len(pl) + 100);
    size_t n = fmv_b64url_encode((const uint8_t *)hdr, hl, t);
    t[n++] = '.';
    n += fmv_b64url_encode((const uint8_t *)payload, pl, t + n);
    uint8_t sig[64];
    if (fmv_jws_sign(ctx, k, (const uint8_t *)t, n, sig) != FM_OK) {
        free(t);
        return NULL;
    }
    t[n++] = '.';
    fmv_b64url_encode(sig, 64, t + n);
    return t;
}

static void decode_segment(const char *tok, int seg, char *out, size_t cap)
{
    const char *s = tok;
    for (int i = 0; i < seg; i++)
        s = strchr(s, '.') + 1;
    const char *e = strchr(s, '.');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    size_t ol = 0;
    if (n * 3 / 4 + 1 > cap || fmv_b64url_decode(s, n, (uint8_t *)out, &ol))
        ol = 0;
    out[ol] = 0;
}

static void round_trip(fm_jws_alg alg)
{
    fm_ctx *ctx = fm_ctx_create();
    fm_verdict_key *k = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, alg, &k) == FM_OK);
    fm_verdict_verifier *v = make_verifier(ctx, k);
    REQUIRE(v);
    fm_verdict_input in;
    fill_input(&in, &card_a);
    char *tok = sign_with(ctx, k, &in, card_a_key, 1);
    REQUIRE(tok);
    size_t tl = strlen(tok);
    fm_verdict_result res;
    char payload[FM_VERDICT_TOKEN_MAX];
    size_t pl = 0;
    CHECK_STATUS(fm_verdict_verify(ctx, v, tok, tl, NONCE, AUD, T0 + 10, &res, payload, sizeof payload, &pl),
                 FM_OK);
    CHECK(res.valid && res.failed_check == FM_VCHECK_NONE && res.chain_checked);
    CHECK(res.alg == alg);
    CHECK(res.decision == FM_VERDICT_MATCH);
    CHECK(res.iat == T0 && res.exp == T0 + FM_VERDICT_DEFAULT_LIFETIME);
    CHECK(strcmp(res.nonce, NONCE) == 0 && strcmp(res.aud, AUD) == 0);
    CHECK(strlen(res.jti) == 32);
    CHECK(res.distance == 0.41 && res.similarity == 0.59 && res.threshold == 0.6 && res.fmr == 1e-4);
    char hex[65];
    fm_sha256(card_a.der, (size_t)card_a.der_len, NULL, hex);
    CHECK(strcmp(res.card_cert_sha256, hex) == 0);
    fm_sha256("portrait", 8, NULL, hex);
    CHECK(strcmp(res.portrait_sha256, hex) == 0 && res.portrait_auth == FM_PORTRAIT_VERIFIED);
    char kid[44];
    fm_verdict_key_id(ctx, k, kid);
    CHECK(strcmp(res.kid, kid) == 0);
    CHECK(pl == strlen(payload) && strstr(payload, "\"decision\":\"match\"") &&
          strstr(payload, "\"met_at\":1.75") && strstr(payload, "\"fmr\":0.0001"));
    /* the card member is last, the payload is compact ASCII JSON */
    CHECK(strstr(payload, ",\"card\":{\"alg\":\"RS256\",\"cert\":\"") != NULL);
    CHECK(payload[pl - 1] == '}' && payload[pl - 2] == '}');
    char hdr[256];
    decode_segment(tok, 0, hdr, sizeof hdr);
    char want_hdr[160];
    snprintf(want_hdr, sizeof want_hdr, "{\"alg\":\"%s\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}",
             fm_jws_alg_name(alg), kid);
    CHECK(strcmp(hdr, want_hdr) == 0);
    /* two verdicts differ in jti */
    char *tok2 = sign_with(ctx, k, &in, card_a_key, 1);
    REQUIRE(tok2);
    fm_verdict_result r2;
    CHECK(check_tok(ctx, v, tok2, strlen(tok2), NONCE, AUD, T0, &r2) == FM_VCHECK_NONE);
    CHECK(strcmp(r2.jti, res.jti) != 0);
    /* nonce comparison ignores hex case; time window edges */
    CHECK(check_tok(ctx, v, tok, tl, "00112233445566778899AABBCCDDEEFF", AUD, T0, NULL) == FM_VCHECK_NONE);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0 + 120 + 29, NULL) == FM_VCHECK_NONE);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0 + 120 + 30, NULL) == FM_VCHECK_EXPIRED);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0 - 30, NULL) == FM_VCHECK_NONE);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0 - 31, NULL) == FM_VCHECK_EXPIRED);
    CHECK_STATUS(fm_verdict_verifier_set(ctx, v, FM_VSET_CLOCK_SKEW, 0), FM_OK);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0 + 120, NULL) == FM_VCHECK_EXPIRED);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0 + 119, NULL) == FM_VCHECK_NONE);
    CHECK_STATUS(fm_verdict_verifier_set(ctx, v, FM_VSET_MAX_LIFETIME, 60), FM_OK);
    CHECK(check_tok(ctx, v, tok, tl, NONCE, AUD, T0, NULL) == FM_VCHECK_EXPIRED);
    /* JSON escaping: an audience with quotes and backslashes round-trips and still compares exactly */
    CHECK_STATUS(fm_verdict_verifier_set(ctx, v, FM_VSET_MAX_LIFETIME, 600), FM_OK);
    fm_verdict_input qin = in;
    qin.aud = "svc \"quoted\" \\ back/slash";
    char *tq = sign_with(ctx, k, &qin, card_a_key, 1);
    REQUIRE(tq);
    fm_verdict_result rq;
    CHECK(check_tok(ctx, v, tq, strlen(tq), NONCE, qin.aud, T0, &rq) == FM_VCHECK_NONE);
    CHECK(strcmp(rq.aud, qin.aud) == 0);
    CHECK(check_tok(ctx, v, tq, strlen(tq), NONCE, "svc \"quoted\" \\ back", T0, NULL) == FM_VCHECK_AUD);
    free(tq);
    /* token too small for the buffer */
    size_t need = 0;
    char small[16];
    CHECK_STATUS(fm_verdict_sign(ctx, k, &in, fm_verdict_key_card_sign, card_a_key, small, sizeof small, &need),
                 FM_ERR_BUFFER_TOO_SMALL);
    CHECK(need > 500);
    free(tok);
    free(tok2);
    fm_verdict_verifier_destroy(v);
    fm_verdict_key_destroy(k);
    fm_ctx_destroy(ctx);
}

static void test_round_trip_es256(void) { round_trip(FM_JWS_ES256); }
static void test_round_trip_eddsa(void) { round_trip(FM_JWS_EDDSA); }

static void test_every_byte_flip(void)
{
    fm_ctx *ctx = fm_ctx_create();
    fm_verdict_key *k = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_ES256, &k) == FM_OK);
    fm_verdict_verifier *v = make_verifier(ctx, k);
    REQUIRE(v);
    fm_verdict_input in;
    fill_input(&in, &card_a);
    char *tok = sign_with(ctx, k, &in, card_a_key, 1);
    REQUIRE(tok);
    size_t tl = strlen(tok);
    REQUIRE(check_tok(ctx, v, tok, tl, NONCE, AUD, T0, NULL) == FM_VCHECK_NONE);
    static const char alphabet[] = "AQgw_-.=";
    int accepted = 0, tried = 0;
    for (size_t i = 0; i < tl; i++) {
        char orig = tok[i];
        for (int m = 0; m < 3; m++) {
            char repl = m == 0 ? (char)(orig ^ 1) : m == 1 ? (char)(orig ^ 0x20) : alphabet[(i + (size_t)m) % 8];
            if (repl == orig)
                repl = orig == 'A' ? 'B' : 'A';
            tok[i] = repl;
            tried++;
            if (check_tok(ctx, v, tok, tl, NONCE, AUD, T0, NULL) == FM_VCHECK_NONE) {
                accepted++;
                fprintf(stderr, "flip at %zu (%c -> %c) accepted\n", i, orig, repl);
            }
        }
        tok[i] = orig;
    }
    CHECK_MSG(accepted == 0, "%d of %d modified tokens accepted", accepted, tried);
    /* truncation at every length and trailing data */
    int trunc_ok = 0;
    for (size_t n = 0; n < tl; n++)
        trunc_ok += check_tok(ctx, v, tok, n, NONCE, AUD, T0, NULL) == FM_VCHECK_NONE;
    CHECK(trunc_ok == 0);
    char *longer = malloc(tl + 8);
    memcpy(longer, tok, tl);
    memcpy(longer + tl, ".AAAA", 6);
    CHECK(check_tok(ctx, v, longer, tl + 5, NONCE, AUD, T0, NULL) == FM_VCHECK_MALFORMED);
    memcpy(longer + tl, "AA", 3);
    CHECK(check_tok(ctx, v, longer, tl + 2, NONCE, AUD, T0, NULL) != FM_VCHECK_NONE);
    memcpy(longer + tl, "=", 2);
    CHECK(check_tok(ctx, v, longer, tl + 1, NONCE, AUD, T0, NULL) == FM_VCHECK_MALFORMED);
    free(longer);
    fprintf(stderr, "  %d single-byte modifications of a %zu-byte token, all rejected: %s\n", tried, tl,
            accepted ? "NO" : "yes");
    free(tok);
    fm_verdict_verifier_destroy(v);
    fm_verdict_key_destroy(k);
    fm_ctx_destroy(ctx);
}

static void test_tampering(void)
{
    fm_ctx *ctx = fm_ctx_create();
    fm_verdict_key *k = NULL, *other = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_ES256, &k) == FM_OK);
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_ES256, &other) == FM_OK);
    fm_verdict_verifier *v = make_verifier(ctx, k);
    REQUIRE(v);
    fm_verdict_input in;
    fill_input(&in, &card_a);
    char *t1 = sign_with(ctx, k, &in, card_a_key, 1);
    in.decision = FM_VERDICT_NO_MATCH;
    char *t2 = sign_with(ctx, k, &in, card_a_key, 1);
    REQUIRE(t1 && t2);
    EXPECT_FAIL(t1, strlen(t1), NONCE, AUD, T0, FM_VCHECK_NONE);

    /* swap payloads between two tokens */
    char *d1a = strchr(t1, '.'), *d1b = strchr(d1a + 1, '.'), *d2a = strchr(t2, '.'), *d2b = strchr(d2a + 1, '.');
    char *sw = malloc(strlen(t1) + strlen(t2));
    size_t n = 0;
    memcpy(sw, t1, (size_t)(d1a - t1 + 1)), n = (size_t)(d1a - t1 + 1);
    memcpy(sw + n, d2a + 1, (size_t)(d2b - d2a - 1)), n += (size_t)(d2b - d2a - 1);
    strcpy(sw + n, d1b);
    EXPECT_FAIL(sw, strlen(sw), NONCE, AUD, T0, FM_VCHECK_SIGNATURE);
    free(sw);

    char kid[44], hdr[256], payload[FM_VERDICT_TOKEN_MAX];
    fm_verdict_key_id(ctx, k, kid);
    decode_segment(t1, 1, payload, sizeof payload);
    char *h64 = malloc(400), *p64 = malloc(FM_VERDICT_TOKEN_MAX * 2), *tok = malloc(FM_VERDICT_TOKEN_MAX * 2);
    size_t pl64 = fmv_b64url_encode((const uint8_t *)payload, strlen(payload), p64);
    (void)pl64;

    /* alg none (empty signature, and with the original signature kept) */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"none\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}", kid);
    fmv_b64url_encode((const uint8_t *)hdr, strlen(hdr), h64);
    snprintf(tok, FM_VERDICT_TOKEN_MAX * 2, "%s.%s.", h64, p64);
    EXPECT_FAIL(tok, strlen(tok), NONCE, AUD, T0, FM_VCHECK_ALG);
    snprintf(tok, FM_VERDICT_TOKEN_MAX * 2, "%s.%s%s", h64, p64, d1b);
    EXPECT_FAIL(tok, strlen(tok), NONCE, AUD, T0, FM_VCHECK_ALG);
    /* HS256 key confusion: HMAC keyed with the verifier's public key PEM */
    char pem[512];
    size_t peml;
    REQUIRE(fm_verdict_key_public_pem(ctx, k, pem, sizeof pem, &peml) == FM_OK);
    snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}", kid);
    size_t hl = fmv_b64url_encode((const uint8_t *)hdr, strlen(hdr), h64);
    (void)hl;
    snprintf(tok, FM_VERDICT_TOKEN_MAX * 2, "%s.%s", h64, p64);
    uint8_t mac[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), pem, (int)peml, (const uint8_t *)tok, strlen(tok), mac, &ml);
    n = strlen(tok);
    tok[n++] = '.';
    fmv_b64url_encode(mac, 32, tok + n);
    EXPECT_FAIL(tok, strlen(tok), NONCE, AUD, T0, FM_VCHECK_ALG);
    /* other algorithm names, case variants, alg/key-type mismatch, missing alg */
    const char *algs[] = {"RS256", "ES384", "es256", "EdDSA", "ES256K", "PS256", "", NULL};
    for (int i = 0; algs[i]; i++) {
        snprintf(hdr, sizeof hdr, "{\"alg\":\"%s\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}", algs[i], kid);
        char *f = forge(ctx, k, hdr, payload);
        EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_ALG);
        free(f);
    }
    snprintf(hdr, sizeof hdr, "{\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}", kid);
    char *f = forge(ctx, k, hdr, payload);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_ALG);
    free(f);
    /* crit, unknown typ, extra header parameters (key injection), duplicate alg */
    const char *bad_hdrs[][2] = {{"{\"alg\":\"ES256\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"", "\",\"crit\":[\"exp\"]}"},
                                 {"{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"", "\"}"},
                                 {"{\"alg\":\"ES256\",\"kid\":\"", "\"}"},
                                 {"{\"alg\":\"ES256\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"", "\",\"jwk\":{}}"},
                                 {"{\"alg\":\"ES256\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"", "\",\"alg\":\"ES256\"}"},
                                 {NULL, NULL}};
    for (int i = 0; bad_hdrs[i][0]; i++) {
        snprintf(hdr, sizeof hdr, "%s%s%s", bad_hdrs[i][0], kid, bad_hdrs[i][1]);
        f = forge(ctx, k, hdr, payload);
        EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_MALFORMED);
        free(f);
    }
    /* signed by another key (with the right kid claimed) */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}", kid);
    f = forge(ctx, other, hdr, payload);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_SIGNATURE);
    free(f);
    /* an EdDSA verifier given an ES256 token: alg */
    fm_verdict_key *ed = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_EDDSA, &ed) == FM_OK);
    fm_verdict_verifier *ved = make_verifier(ctx, ed);
    fm_verdict_result r;
    CHECK_STATUS(fm_verdict_verify(ctx, ved, t1, strlen(t1), NONCE, AUD, T0, &r, NULL, 0, NULL), FM_ERR_VERIFY);
    CHECK(r.failed_check == FM_VCHECK_ALG);
    fm_verdict_verifier_destroy(ved);
    fm_verdict_key_destroy(ed);

    /* nonce, audience, expiry */
    EXPECT_FAIL(t1, strlen(t1), "00112233445566778899aabbccddeef0", AUD, T0, FM_VCHECK_NONCE);
    EXPECT_FAIL(t1, strlen(t1), "00112233445566778899aabbccddeeff00", AUD, T0, FM_VCHECK_NONCE);
    EXPECT_FAIL(t1, strlen(t1), NONCE, "pin-reset.example.evil", T0, FM_VCHECK_AUD);
    EXPECT_FAIL(t1, strlen(t1), NONCE, "PIN-RESET.EXAMPLE", T0, FM_VCHECK_AUD);
    EXPECT_FAIL(t1, strlen(t1), NONCE, AUD, T0 + 3600, FM_VCHECK_EXPIRED);
    /* a verdict signed with a long lifetime is refused by the default max lifetime */
    fm_verdict_input lin = in;
    lin.lifetime = 3600;
    char *tl = sign_with(ctx, k, &lin, card_a_key, 1);
    EXPECT_FAIL(tl, strlen(tl), NONCE, AUD, T0, FM_VCHECK_EXPIRED);
    free(tl);

    /* card signature from another card: card B signs while card A's certificate is embedded */
    fill_input(&in, &card_a);
    fm_verdict_input bad_in = in;
    char *fake = sign_with(ctx, k, &bad_in, card_b_key, 0);
    REQUIRE(fake);
    EXPECT_FAIL(fake, strlen(fake), NONCE, AUD, T0, FM_VCHECK_CARD_SIGNATURE);
    free(fake);
    /* the library refuses to produce it in the first place */
    char *buf = malloc(FM_VERDICT_TOKEN_MAX);
    size_t bl;
    CHECK_STATUS(fm_verdict_sign(ctx, k, &bad_in, fm_verdict_key_card_sign, card_b_key, buf, FM_VERDICT_TOKEN_MAX, &bl),
                 FM_ERR_VERIFY);
    free(buf);
    /* card B's own verdict with card A's certificate hash swapped in the payload (re-signed by the engine key) */
    fill_input(&in, &card_b);
    char *tb = sign_with(ctx, k, &in, card_b_key, 1);
    EXPECT_FAIL(tb, strlen(tb), NONCE, AUD, T0, FM_VCHECK_NONE);
    char pb[FM_VERDICT_TOKEN_MAX], ha[65], hb[65];
    decode_segment(tb, 1, pb, sizeof pb);
    fm_sha256(card_a.der, (size_t)card_a.der_len, NULL, ha);
    fm_sha256(card_b.der, (size_t)card_b.der_len, NULL, hb);
    char *pos = strstr(pb, hb);
    REQUIRE(pos);
    memcpy(pos, ha, 64);
    decode_segment(tb, 0, hdr, sizeof hdr);
    f = forge(ctx, k, hdr, pb);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_CARD_SIGNATURE);
    free(f);
    /* card member moved before another member, or removed while the hash remains */
    char *cardpos = strstr(pb, ",\"card\":");
    REQUIRE(cardpos);
    *cardpos = '\0';
    char moved[FM_VERDICT_TOKEN_MAX + 64];
    snprintf(moved, sizeof moved, "%s}", pb);
    f = forge(ctx, k, hdr, moved);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_CARD_SIGNATURE);
    free(f);
    free(tb);

    /* a certificate that does not chain to the configured CA */
    fill_input(&in, &rogue_card);
    char *tr = sign_with(ctx, k, &in, rogue_key, 1);
    REQUIRE(tr);
    EXPECT_FAIL(tr, strlen(tr), NONCE, AUD, T0, FM_VCHECK_CHAIN);
    fm_verdict_result rr;
    CHECK_STATUS(fm_verdict_verifier_set(ctx, v, FM_VSET_CHECK_CHAIN, 0), FM_OK);
    CHECK(check_tok(ctx, v, tr, strlen(tr), NONCE, AUD, T0, &rr) == FM_VCHECK_NONE && !rr.chain_checked);
    CHECK_STATUS(fm_verdict_verifier_set(ctx, v, FM_VSET_CHECK_CHAIN, 1), FM_OK);
    /* verifying with the real clock: T0 lies in the future, so iat > now + skew */
    EXPECT_FAIL(t1, strlen(t1), NONCE, AUD, 0 /* real clock: T0 is in the future */, FM_VCHECK_EXPIRED);
    free(tr);
    /* no CA configured: chain */
    fm_verdict_verifier *vnoca = NULL;
    REQUIRE(fm_verdict_verifier_create(ctx, k, &vnoca) == FM_OK);
    fm_verdict_result r3;
    CHECK_STATUS(fm_verdict_verify(ctx, vnoca, t1, strlen(t1), NONCE, AUD, T0, &r3, NULL, 0, NULL), FM_ERR_VERIFY);
    CHECK(r3.failed_check == FM_VCHECK_CHAIN);
    fm_verdict_verifier_destroy(vnoca);

    /* no card binding: refused unless the verifier allows it */
    fill_input(&in, NULL);
    char *tn = sign_with(ctx, k, &in, NULL, 1);
    REQUIRE(tn);
    EXPECT_FAIL(tn, strlen(tn), NONCE, AUD, T0, FM_VCHECK_CARD_SIGNATURE);
    CHECK_STATUS(fm_verdict_verifier_set(ctx, v, FM_VSET_REQUIRE_CARD, 0), FM_OK);
    EXPECT_FAIL(tn, strlen(tn), NONCE, AUD, T0, FM_VCHECK_NONE);
    free(tn);

    /* payload schema: unknown member, wrong version (re-signed by the engine key) */
    decode_segment(t1, 1, payload, sizeof payload);
    decode_segment(t1, 0, hdr, sizeof hdr);
    char mod[FM_VERDICT_TOKEN_MAX + 64];
    snprintf(mod, sizeof mod, "{\"pin\":\"1234\",%s", payload + 1);
    f = forge(ctx, k, hdr, mod);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_MALFORMED);
    free(f);
    snprintf(mod, sizeof mod, "{\"v\":2,%s", strstr(payload, "\"jti\""));
    f = forge(ctx, k, hdr, mod);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_MALFORMED);
    free(f);
    /* times near INT64_MAX do not overflow: exp - iat within the lifetime, far in the future -> still checked */
    snprintf(mod, sizeof mod, "%s", payload);
    {
        char *ip = strstr(mod, "\"iat\":"), *ep = strstr(mod, "\"exp\":");
        REQUIRE(ip && ep);
        char rest[FM_VERDICT_TOKEN_MAX];
        snprintf(rest, sizeof rest, "%s", strchr(ep + 6, ','));
        snprintf(ip, sizeof mod - (size_t)(ip - mod), "\"iat\":9223372036854775000,\"exp\":9223372036854775100%s",
                 rest);
    }
    f = forge(ctx, k, hdr, mod);
    EXPECT_FAIL(f, strlen(f), NONCE, AUD, T0, FM_VCHECK_EXPIRED);
    free(f);
    /* garbage */
    EXPECT_FAIL("", 0, NONCE, AUD, T0, FM_VCHECK_MALFORMED);
    EXPECT_FAIL("a.b", 3, NONCE, AUD, T0, FM_VCHECK_MALFORMED);
    EXPECT_FAIL("..", 2, NONCE, AUD, T0, FM_VCHECK_MALFORMED);
    EXPECT_FAIL("e30.e30.", 8, NONCE, AUD, T0, FM_VCHECK_ALG);
    /* bad arguments are not verdicts */
    CHECK_STATUS(fm_verdict_verify(ctx, v, t1, strlen(t1), "xyz", AUD, T0, &r, NULL, 0, NULL),
                 FM_ERR_INVALID_ARGUMENT);
    CHECK(!r.valid);

    free(h64);
    free(p64);
    free(tok);
    free(t1);
    free(t2);
    fm_verdict_verifier_destroy(v);
    fm_verdict_key_destroy(k);
    fm_verdict_key_destroy(other);
    fm_ctx_destroy(ctx);
}

static void test_input_validation(void)
{
    fm_ctx *ctx = fm_ctx_create();
    fm_verdict_key *k = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_EDDSA, &k) == FM_OK);
    char *buf = malloc(FM_VERDICT_TOKEN_MAX);
    size_t bl;
    fm_verdict_input in;
#define BAD_INPUT(stmt)                                                                                              \
    do {                                                                                                             \
        fill_input(&in, &card_a);                                                                                    \
        stmt;                                                                                                        \
        CHECK_STATUS(fm_verdict_sign(ctx, k, &in, fm_verdict_key_card_sign, card_a_key, buf, FM_VERDICT_TOKEN_MAX,   \
                                     &bl),                                                                           \
                     FM_ERR_INVALID_ARGUMENT);                                                                       \
    } while (0)
    BAD_INPUT(in.aud = NULL);
    BAD_INPUT(in.aud = "a\nb");
    BAD_INPUT(in.nonce_hex = "0011");
    BAD_INPUT(in.nonce_hex = "zz112233445566778899aabbccddeeff");
    BAD_INPUT(in.decision = 0);
    BAD_INPUT(in.reasons[0] = "Bad Reason");
    BAD_INPUT(in.n_reasons = FM_VERDICT_MAX_REASONS + 1);
    BAD_INPUT(in.distance = NAN);
    BAD_INPUT(in.fmr = 2);
    BAD_INPUT(in.similarity = INFINITY);
    BAD_INPUT(in.checks[0].name = "x\"y");
    BAD_INPUT(in.n_checks = -1);
    BAD_INPUT(in.models[0].sha256_hex = "abc");
    BAD_INPUT(in.portrait_auth = 7);
    BAD_INPUT(in.lifetime = 100000);
    BAD_INPUT(in.iat = INT64_MAX);
    BAD_INPUT(in.iat = -5);
    BAD_INPUT(in.card_cert_len = 10);
    fill_input(&in, &card_a);
    CHECK_STATUS(fm_verdict_sign(ctx, k, &in, NULL, NULL, buf, FM_VERDICT_TOKEN_MAX, &bl), FM_ERR_INVALID_ARGUMENT);
    /* JSON developer input */
    const char *json = "{\"aud\":\"svc\",\"nonce\":\"0123456789abcdef\",\"decision\":\"no_match\",\"reasons\":[\"far\"],"
                       "\"match\":{\"distance\":0.8,\"threshold\":0.6,\"fmr\":0.0001},"
                       "\"portrait\":{\"sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000"
                       "\",\"auth\":\"unverifiable\"}}";
    CHECK_STATUS(fm_verdict_sign_json(ctx, k, json, strlen(json), NULL, 0, NULL, NULL, buf, FM_VERDICT_TOKEN_MAX, &bl),
                 FM_OK);
    const char *json_bad = "{\"aud\":\"svc\",\"my_number\":\"123456789018\"}";
    CHECK_STATUS(fm_verdict_sign_json(ctx, k, json_bad, strlen(json_bad), NULL, 0, NULL, NULL, buf,
                                      FM_VERDICT_TOKEN_MAX, &bl),
                 FM_ERR_INVALID_ARGUMENT);
    CHECK(strstr(fm_ctx_errmsg(ctx), "123456789018") == NULL);
    free(buf);
    fm_verdict_key_destroy(k);
    fm_ctx_destroy(ctx);
}

int main(void)
{
    if (tpki_make(&ca, "facematch test JPKI CA", NULL, 1, 3650) || tpki_make(&card_a, "card A", &ca, 0, 3650) ||
        tpki_make(&card_b, "card B", &ca, 0, 3650) || tpki_make(&rogue_ca, "rogue CA", NULL, 1, 3650) ||
        tpki_make(&rogue_card, "rogue card", &rogue_ca, 0, 3650)) {
        fprintf(stderr, "cannot make the test PKI\n");
        return 1;
    }
    fm_ctx *ctx = fm_ctx_create();
    if (fm_verdict_key_load(ctx, card_a.key_pem, strlen(card_a.key_pem), &card_a_key) ||
        fm_verdict_key_load(ctx, card_b.key_pem, strlen(card_b.key_pem), &card_b_key) ||
        fm_verdict_key_load(ctx, rogue_card.key_pem, strlen(rogue_card.key_pem), &rogue_key)) {
        fprintf(stderr, "cannot load the card keys: %s\n", fm_ctx_errmsg(ctx));
        return 1;
    }
    fm_ctx_destroy(ctx);
    RUN(test_b64url);
    RUN(test_json_parser);
    RUN(test_number_format);
    RUN(test_thumbprint_rfc8037);
    RUN(test_key_files);
    RUN(test_round_trip_es256);
    RUN(test_round_trip_eddsa);
    RUN(test_every_byte_flip);
    RUN(test_tampering);
    RUN(test_input_validation);
    fm_verdict_key_destroy(card_a_key);
    fm_verdict_key_destroy(card_b_key);
    fm_verdict_key_destroy(rogue_key);
    tpki_free(&ca);
    tpki_free(&card_a);
    tpki_free(&card_b);
    tpki_free(&rogue_ca);
    tpki_free(&rogue_card);
    return test_finish();
}
