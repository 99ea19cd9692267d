/* Verdict stage: the verifier (allow-listed JWS, claims, card binding, certificate chain). */
#include "verdict_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct fm_verdict_verifier {
    fm_verdict_key key;   /* own reference to the EVP_PKEY */
    char kid[44];
    X509_STORE *store;
    int n_ca;
    int64_t clock_skew, max_lifetime, max_token;
    int require_card, check_chain;
};

const char *fm_vcheck_name(fm_vcheck c)
{
    switch (c) {
    case FM_VCHECK_NONE: return "valid";
    case FM_VCHECK_MALFORMED: return "malformed";
    case FM_VCHECK_ALG: return "alg";
    case FM_VCHECK_SIGNATURE: return "signature";
    case FM_VCHECK_NONCE: return "nonce";
    case FM_VCHECK_AUD: return "aud";
    case FM_VCHECK_EXPIRED: return "expired";
    case FM_VCHECK_CARD_SIGNATURE: return "card_signature";
    case FM_VCHECK_CHAIN: return "chain";
    }
    return NULL;
}

fm_status fm_verdict_verifier_create(fm_ctx *ctx, const fm_verdict_key *pub, fm_verdict_verifier **out)
{
    if (!out || !pub)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "key/out is NULL");
    *out = NULL;
    if (pub->alg != FM_JWS_ES256 && pub->alg != FM_JWS_EDDSA)
        return fm_fail(ctx, FM_ERR_KEY, "verdicts are verified with an ES256 (P-256) or EdDSA (Ed25519) key");
    fm_verdict_verifier *v = calloc(1, sizeof *v);
    if (!v)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    fm_status s = fmv_thumbprint(ctx, pub, v->kid);
    v->store = X509_STORE_new();
    if (s != FM_OK || !v->store || !EVP_PKEY_up_ref(pub->pkey)) {
        X509_STORE_free(v->store);
        free(v);
        return s != FM_OK ? s : fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    v->key = *pub;
    v->clock_skew = 30;
    v->max_lifetime = 600;
    v->max_token = 32768;
    v->require_card = 1;
    v->check_chain = 1;
    *out = v;
    return FM_OK;
}

void fm_verdict_verifier_destroy(fm_verdict_verifier *v)
{
    if (!v)
        return;
    EVP_PKEY_free(v->key.pkey);
    X509_STORE_free(v->store);
    free(v);
}

fm_status fm_verdict_verifier_set(fm_ctx *ctx, fm_verdict_verifier *v, fm_verdict_setting s, int64_t value)
{
    if (!v)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "verifier is NULL");
    switch (s) {
    case FM_VSET_CLOCK_SKEW:
        if (value < 0 || value > 600)
            break;
        v->clock_skew = value;
        return FM_OK;
    case FM_VSET_MAX_LIFETIME:
        if (value < 1 || value > 86400)
            break;
        v->max_lifetime = value;
        return FM_OK;
    case FM_VSET_REQUIRE_CARD:
        if (value != 0 && value != 1)
            break;
        v->require_card = (int)value;
        return FM_OK;
    case FM_VSET_CHECK_CHAIN:
        if (value != 0 && value != 1)
            break;
        v->check_chain = (int)value;
        return FM_OK;
    case FM_VSET_MAX_TOKEN:
        if (value < 256 || value > FM_VERDICT_TOKEN_MAX)
            break;
        v->max_token = value;
        return FM_OK;
    default:
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown verifier setting %d", (int)s);
    }
    return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "verifier setting %d: value %lld out of range", (int)s,
                   (long long)value);
}

fm_status fm_verdict_verifier_add_ca(fm_ctx *ctx, fm_verdict_verifier *v, const void *data, size_t len)
{
    if (!v || !data || len == 0)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "verifier/data is NULL or empty");
    if (len > 1024 * 1024)
        return fm_fail(ctx, FM_ERR_LIMIT, "CA data of %zu bytes is above 1 MiB", len);
    int added = 0;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(v->store, x) == 1)
            added++;
        X509_free(x);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!added) {
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        if (x && p == (const unsigned char *)data + len && X509_STORE_add_cert(v->store, x) == 1)
            added++;
        X509_free(x);
        ERR_clear_error();
    }
    if (!added)
        return fm_fail(ctx, FM_ERR_FORMAT, "no CA certificate found (PEM or one DER certificate expected)");
    v->n_ca += added;
    return FM_OK;
}

fm_status fm_verdict_verifier_add_ca_file(fm_ctx *ctx, fm_verdict_verifier *v, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fm_status s = fm_read_file(ctx, path, 1024 * 1024, &data, &len);
    if (s != FM_OK)
        return s;
    s = fm_verdict_verifier_add_ca(ctx, v, data, len);
    free(data);
    if (s != FM_OK) {
        char msg[FM_ERRMSG_CAP];
        snprintf(msg, sizeof msg, "%s", fm_ctx_errmsg(ctx));
        fm_fail(ctx, s, "%s: %s", path, msg);
    }
    return s;
}

/* ---- verification --------------------------------------------------------------------------------------------- */

static fm_status reject(fm_verdict_result *res, fm_vcheck c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fm_status reject(fm_verdict_result *res, fm_vcheck c, const char *fmt, ...)
{
    res->valid = 0;
    res->failed_check = c;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof res->detail, fmt, ap);
    va_end(ap);
    return FM_ERR_VERIFY;
}

static int is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void copy_str(char *dst, size_t cap, const fmj_node *n)
{
    dst[0] = '\0';
    if (n && n->type == FMJ_STR && n->str_len < cap)
        memcpy(dst, n->str, n->str_len + 1);
}

static int is_hex64_lower(const fmj_node *n)
{
    if (!n || n->type != FMJ_STR || n->str_len != 64)
        return 0;
    for (int i = 0; i < 64; i++) {
        char c = n->str[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

static int num_or_null(const fmj_node *n) { return n && (n->type == FMJ_NUM || n->type == FMJ_NULL); }
static double num_of(const fmj_node *n) { return n && n->type == FMJ_NUM ? n->num : NAN; }

/* Checks the payload's shape against format v1 (docs/verdict-format.md); NULL if fine, else what is wrong. */
static const char *schema_v1(const fmj_doc *d, const fmj_node *root)
{
    static const char *const top[] = {"v",        "jti",     "aud",      "nonce",           "iat",
                                      "exp",      "decision", "reasons", "match",           "liveness",
                                      "quality",  "portrait", "card_cert_sha256", "engine", "kid",
                                      "card",     NULL};
    for (int c = root->first_child; c >= 0; c = d->nodes[c].next) {
        int ok = 0;
        for (const char *const *k = top; *k; k++)
            ok |= strcmp(d->nodes[c].key, *k) == 0;
        if (!ok)
            return "unknown payload member";
    }
    const fmj_node *n = fmj_get(d, root, "v");
    if (!n || n->type != FMJ_NUM || !n->is_int || n->ival != 1)
        return "payload version \"v\" is not 1";
    n = fmj_get(d, root, "jti");
    if (!n || n->type != FMJ_STR || n->str_len != 32)
        return "jti is not 32 hex digits";
    for (int i = 0; i < 32; i++)
        if (!strchr("0123456789abcdef", n->str[i]))
            return "jti is not 32 hex digits";
    n = fmj_get(d, root, "aud");
    if (!n || n->type != FMJ_STR || !fmv_valid_aud(n->str))
        return "aud missing or not a printable string";
    n = fmj_get(d, root, "nonce");
    if (!n || n->type != FMJ_STR || !fmv_valid_nonce(n->str))
        return "nonce missing or not 16..128 hex digits";
    n = fmj_get(d, root, "iat");
    if (!n || n->type != FMJ_NUM || !n->is_int || n->ival < 0)
        return "iat missing or not an integer";
    n = fmj_get(d, root, "exp");
    if (!n || n->type != FMJ_NUM || !n->is_int || n->ival < 0)
        return "exp missing or not an integer";
    n = fmj_get(d, root, "decision");
    if (!n || n->type != FMJ_STR)
        return "decision missing";
    int dec_ok = 0;
    for (int k = 1; k <= 4; k++)
        dec_ok |= strcmp(n->str, fm_verdict_decision_name((fm_verdict_decision)k)) == 0;
    if (!dec_ok)
        return "unknown decision";
    n = fmj_get(d, root, "reasons");
    if (!n || n->type != FMJ_ARR || n->n_children > FM_VERDICT_MAX_REASONS)
        return "reasons is not an array";
    for (int i = 0; i < n->n_children; i++) {
        const fmj_node *r = fmj_child(d, n, i);
        if (r->type != FMJ_STR || !fmv_valid_name(r->str))
            return "bad reason code";
    }
    const fmj_node *m = fmj_get(d, root, "match");
    if (!m || m->type != FMJ_OBJ)
        return "match is not an object";
    n = fmj_get(d, m, "distance");
    if (!n || n->type != FMJ_NUM)
        return "match.distance is not a number";
    n = fmj_get(d, m, "threshold");
    if (!n || n->type != FMJ_NUM)
        return "match.threshold is not a number";
    n = fmj_get(d, m, "fmr");
    if (!n || n->type != FMJ_NUM || n->num < 0 || n->num > 1)
        return "match.fmr is not a number in [0, 1]";
    if (!num_or_null(fmj_get(d, m, "similarity")))
        return "match.similarity is not a number or null";
    const fmj_node *lv = fmj_get(d, root, "liveness");
    if (!lv || lv->type != FMJ_OBJ)
        return "liveness is not an object";
    n = fmj_get(d, lv, "checks");
    if (!n || n->type != FMJ_ARR)
        return "liveness.checks is not an array";
    for (int i = 0; i < n->n_children; i++) {
        const fmj_node *c = fmj_child(d, n, i);
        const fmj_node *p = fmj_get(d, c, "pass");
        if (c->type != FMJ_OBJ || !p || (p->type != FMJ_TRUE && p->type != FMJ_FALSE) ||
            !fmj_get(d, c, "name") || fmj_get(d, c, "name")->type != FMJ_STR)
            return "bad liveness check";
    }
    n = fmj_get(d, lv, "challenge");
    if (!n || n->type != FMJ_ARR)
        return "liveness.challenge is not an array";
    n = fmj_get(d, root, "quality");
    if (!n || n->type != FMJ_ARR)
        return "quality is not an array";
    const fmj_node *pt = fmj_get(d, root, "portrait");
    if (!pt || pt->type != FMJ_OBJ || !is_hex64_lower(fmj_get(d, pt, "sha256")))
        return "portrait.sha256 is not 64 lowercase hex digits";
    n = fmj_get(d, pt, "auth");
    if (!n || n->type != FMJ_STR ||
        (strcmp(n->str, "verified") && strcmp(n->str, "unverifiable") && strcmp(n->str, "invalid")))
        return "portrait.auth is not verified|unverifiable|invalid";
    n = fmj_get(d, root, "card_cert_sha256");
    if (!n || (n->type != FMJ_NULL && !is_hex64_lower(n)))
        return "card_cert_sha256 is not 64 lowercase hex digits or null";
    const fmj_node *e = fmj_get(d, root, "engine");
    if (!e || e->type != FMJ_OBJ || !fmj_get(d, e, "version") || fmj_get(d, e, "version")->type != FMJ_STR)
        return "engine is not an object with a version";
    n = fmj_get(d, e, "models");
    if (!n || n->type != FMJ_ARR)
        return "engine.models is not an array";
    for (int i = 0; i < n->n_children; i++) {
        const fmj_node *c = fmj_child(d, n, i);
        if (c->type != FMJ_OBJ || !is_hex64_lower(fmj_get(d, c, "sha256")))
            return "bad engine model entry";
    }
    n = fmj_get(d, root, "kid");
    if (!n || n->type != FMJ_STR || n->str_len != 43)
        return "kid missing";
    return NULL;
}

static int hex_nocase_equal_ct(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la > 128)
        return 0;
    char x[128], y[128];
    for (size_t i = 0; i < la; i++) {
        x[i] = (char)((a[i] >= 'A' && a[i] <= 'F') ? a[i] + 32 : a[i]);
        y[i] = (char)((b[i] >= 'A' && b[i] <= 'F') ? b[i] + 32 : b[i]);
    }
    return CRYPTO_memcmp(x, y, la) == 0;
}

fm_status fm_verdict_verify(fm_ctx *ctx, const fm_verdict_verifier *v, const char *token, size_t token_len,
                            const char *nonce_hex, const char *aud, int64_t now, fm_verdict_result *res,
                            char *payload_out, size_t payload_cap, size_t *payload_len)
{
    if (payload_len)
        *payload_len = 0;
    if (payload_out && payload_cap)
        payload_out[0] = '\0';
    if (!res)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "result is NULL");
    memset(res, 0, sizeof *res);
    res->distance = res->similarity = res->threshold = res->fmr = NAN;
    if (!v || !token || !nonce_hex || !aud)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "verifier/token/nonce/aud is NULL");
    if (!fmv_valid_nonce(nonce_hex))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "expected nonce must be 16..128 hex digits");
    if (!fmv_valid_aud(aud))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "expected audience must be 1..256 printable ASCII characters");
    if (now == 0)
        now = (int64_t)time(NULL);
    if (now < 0 || now > ((int64_t)1 << 40))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "verification time %lld out of range", (long long)now);

    fm_status st = FM_ERR_VERIFY;
    uint8_t *hdr = NULL, *pl = NULL, *sig = NULL;
    fmj_doc hd = {0}, pd = {0};
    char err[160];

    /* ---- structure: three non-empty base64url segments, nothing else ---- */
    if (token_len > (size_t)v->max_token || (ctx && token_len > (size_t)ctx->max_input_bytes)) {
        st = reject(res, FM_VCHECK_MALFORMED, "token larger than the limit%s", "");
        goto out;
    }
    size_t dot1 = 0, dot2 = 0;
    int dots = 0;
    for (size_t i = 0; i < token_len; i++) {
        if (token[i] == '.') {
            if (++dots == 1)
                dot1 = i;
            else if (dots == 2)
                dot2 = i;
        } else if (!is_b64url_char(token[i])) {
            st = reject(res, FM_VCHECK_MALFORMED, "token has a character outside base64url%s", "");
            goto out;
        }
    }
    /* an empty signature segment ("alg":"none" tokens) is judged after the header, as an alg failure */
    if (dots != 2 || dot1 == 0 || dot2 == dot1 + 1) {
        st = reject(res, FM_VCHECK_MALFORMED, "not a JWS compact token (header.payload.signature)%s", "");
        goto out;
    }
    size_t hl = dot1, pll = dot2 - dot1 - 1, sl = token_len - dot2 - 1;
    hdr = malloc(hl + 1);
    pl = malloc(pll + 1);
    sig = malloc(sl + 1);
    if (!hdr || !pl || !sig) {
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        memset(res, 0, sizeof *res);
        goto out;
    }
    size_t hn, pn, sn;
    if (fmv_b64url_decode(token, hl, hdr, &hn) || fmv_b64url_decode(token + dot1 + 1, pll, pl, &pn) ||
        fmv_b64url_decode(token + dot2 + 1, sl, sig, &sn)) {
        st = reject(res, FM_VCHECK_MALFORMED, "a segment is not canonical base64url%s", "");
        goto out;
    }
    pl[pn] = '\0';
    /* the payload is parsed (strictly, with limits) before the signature is checked only so that callers can be
     * shown what a rejected token claimed; nothing in it is acted upon before the checks below pass */
    int payload_ok = fmj_parse((const char *)pl, pn, FMJ_MAX_DEPTH, FMJ_MAX_NODES, &pd, err, sizeof err) == 0 &&
                     fmj_root(&pd)->type == FMJ_OBJ;
    if (payload_ok && payload_out && payload_cap > pn) {
        memcpy(payload_out, pl, pn + 1);
        if (payload_len)
            *payload_len = pn;
    }

    /* ---- header: {"alg","typ","kid"} only ---- */
    if (fmj_parse((const char *)hdr, hn, 2, 16, &hd, err, sizeof err) || fmj_root(&hd)->type != FMJ_OBJ) {
        st = reject(res, FM_VCHECK_MALFORMED, "header is not a JSON object%s", "");
        goto out;
    }
    const fmj_node *h = fmj_root(&hd);
    if (fmj_get(&hd, h, "crit")) {
        st = reject(res, FM_VCHECK_MALFORMED, "header has \"crit\": no extensions are understood%s", "");
        goto out;
    }
    const fmj_node *alg = fmj_get(&hd, h, "alg");
    if (!alg || alg->type != FMJ_STR) {
        st = reject(res, FM_VCHECK_ALG, "header has no alg%s", "");
        goto out;
    }
    if (strcmp(alg->str, fm_jws_alg_name(v->key.alg)) != 0 || v->key.alg == FM_JWS_NONE) {
        char a[48];
        snprintf(a, sizeof a, "%.40s", alg->str);
        st = reject(res, FM_VCHECK_ALG, "alg \"%s\" is not allowed for this key", a);
        goto out;
    }
    res->alg = v->key.alg;
    for (int c = h->first_child; c >= 0; c = hd.nodes[c].next) {
        const char *k = hd.nodes[c].key;
        if (strcmp(k, "alg") && strcmp(k, "typ") && strcmp(k, "kid")) {
            st = reject(res, FM_VCHECK_MALFORMED, "header parameter not allowed (only alg, typ, kid)%s", "");
            goto out;
        }
    }
    const fmj_node *typ = fmj_get(&hd, h, "typ");
    if (!typ || typ->type != FMJ_STR || strcmp(typ->str, "fm-verdict+jwt") != 0) {
        st = reject(res, FM_VCHECK_MALFORMED, "typ is not \"fm-verdict+jwt\"%s", "");
        goto out;
    }
    const fmj_node *kid = fmj_get(&hd, h, "kid");
    if (!kid || kid->type != FMJ_STR) {
        st = reject(res, FM_VCHECK_MALFORMED, "header has no kid%s", "");
        goto out;
    }

    /* ---- engine signature over header.payload, and the key id ---- */
    if (!fmv_jws_verify(&v->key, (const uint8_t *)token, dot2, sig, sn)) {
        st = reject(res, FM_VCHECK_SIGNATURE, "the %s signature does not verify with the key",
                    fm_jws_alg_name(v->key.alg));
        goto out;
    }
    if (strcmp(kid->str, v->kid) != 0) {
        st = reject(res, FM_VCHECK_SIGNATURE, "kid is not the verifying key's thumbprint%s", "");
        goto out;
    }
    copy_str(res->kid, sizeof res->kid, kid);

    /* ---- payload ---- */
    if (!payload_ok) {
        st = reject(res, FM_VCHECK_MALFORMED, "payload is not a JSON object: %s", err);
        goto out;
    }
    const fmj_node *p = fmj_root(&pd);
    const char *why = schema_v1(&pd, p);
    if (why) {
        st = reject(res, FM_VCHECK_MALFORMED, "payload: %s", why);
        goto out;
    }
    if (strcmp(fmj_get(&pd, p, "kid")->str, v->kid) != 0) {
        st = reject(res, FM_VCHECK_MALFORMED, "payload kid differs from the header's%s", "");
        goto out;
    }
    /* fill the result */
    copy_str(res->jti, sizeof res->jti, fmj_get(&pd, p, "jti"));
    copy_str(res->aud, sizeof res->aud, fmj_get(&pd, p, "aud"));
    copy_str(res->nonce, sizeof res->nonce, fmj_get(&pd, p, "nonce"));
    res->iat = fmj_get(&pd, p, "iat")->ival;
    res->exp = fmj_get(&pd, p, "exp")->ival;
    const char *dec = fmj_get(&pd, p, "decision")->str;
    for (int k = 1; k <= 4; k++)
        if (strcmp(dec, fm_verdict_decision_name((fm_verdict_decision)k)) == 0)
            res->decision = (fm_verdict_decision)k;
    const fmj_node *pt = fmj_get(&pd, p, "portrait");
    copy_str(res->portrait_sha256, sizeof res->portrait_sha256, fmj_get(&pd, pt, "sha256"));
    const char *pa = fmj_get(&pd, pt, "auth")->str;
    for (int k = 1; k <= 3; k++)
        if (strcmp(pa, fm_portrait_auth_name((fm_portrait_auth)k)) == 0)
            res->portrait_auth = (fm_portrait_auth)k;
    copy_str(res->card_cert_sha256, sizeof res->card_cert_sha256, fmj_get(&pd, p, "card_cert_sha256"));
    const fmj_node *m = fmj_get(&pd, p, "match");
    res->distance = num_of(fmj_get(&pd, m, "distance"));
    res->similarity = num_of(fmj_get(&pd, m, "similarity"));
    res->threshold = num_of(fmj_get(&pd, m, "threshold"));
    res->fmr = num_of(fmj_get(&pd, m, "fmr"));

    /* ---- nonce, audience, time ---- */
    if (!hex_nocase_equal_ct(res->nonce, nonce_hex)) {
        st = reject(res, FM_VCHECK_NONCE, "nonce is not the expected one%s", "");
        goto out;
    }
    if (strcmp(res->aud, aud) != 0) {
        st = reject(res, FM_VCHECK_AUD, "audience \"%s\" is not the expected one", res->aud);
        goto out;
    }
    if (res->exp <= res->iat || res->exp - res->iat > v->max_lifetime) {
        st = reject(res, FM_VCHECK_EXPIRED, "lifetime exp - iat is not within 1..max lifetime%s", "");
        goto out;
    }
    if (now - v->clock_skew >= res->exp) { /* (exp may be near INT64_MAX: no exp + skew) */
        st = reject(res, FM_VCHECK_EXPIRED, "the verdict has expired%s", "");
        goto out;
    }
    if (res->iat > now + v->clock_skew) {
        st = reject(res, FM_VCHECK_EXPIRED, "the verdict is issued in the future (iat > now + skew)%s", "");
        goto out;
    }

    /* ---- card binding ---- */
    const fmj_node *card = fmj_get(&pd, p, "card");
    const fmj_node *cert_hash = fmj_get(&pd, p, "card_cert_sha256");
    X509 *cert = NULL;
    if (!card) {
        if (cert_hash->type != FMJ_NULL) {
            st = reject(res, FM_VCHECK_CARD_SIGNATURE, "card_cert_sha256 is set but the card signature is missing%s",
                        "");
            goto out;
        }
        if (v->require_card) {
            st = reject(res, FM_VCHECK_CARD_SIGNATURE, "the verdict has no card binding%s", "");
            goto out;
        }
    } else {
        /* the card member must be the last member; the core payload is the payload without it */
        const fmj_node *last = NULL;
        for (int c = p->first_child; c >= 0; c = pd.nodes[c].next)
            last = &pd.nodes[c];
        const fmj_node *alg_n = fmj_get(&pd, card, "alg"), *cert_n = fmj_get(&pd, card, "cert"),
                       *sig_n = fmj_get(&pd, card, "sig");
        if (last != card || card->type != FMJ_OBJ || card->n_children != 3 || card == &pd.nodes[p->first_child] ||
            !alg_n || alg_n->type != FMJ_STR || strcmp(alg_n->str, "RS256") != 0 || !cert_n ||
            cert_n->type != FMJ_STR || !sig_n || sig_n->type != FMJ_STR || cert_hash->type == FMJ_NULL) {
            st = reject(res, FM_VCHECK_CARD_SIGNATURE,
                        "card member must be last and be {\"alg\":\"RS256\",\"cert\",\"sig\"} with card_cert_sha256%s",
                        "");
            goto out;
        }
        uint8_t *der = malloc(cert_n->str_len + 1), *csig = malloc(sig_n->str_len + 1);
        size_t derl = 0, csl = 0;
        int ok = der && csig && !fmv_b64url_decode(cert_n->str, cert_n->str_len, der, &derl) &&
                 !fmv_b64url_decode(sig_n->str, sig_n->str_len, csig, &csl) && derl > 0 && csl > 0;
        char hexd[65] = "";
        if (ok)
            fm_sha256(der, derl, NULL, hexd);
        ok = ok && strcmp(hexd, cert_hash->str) == 0;
        const unsigned char *dp = der;
        if (ok) {
            cert = d2i_X509(NULL, &dp, (long)derl);
            ok = cert && dp == der + derl;
        }
        if (ok) {
            /* SHA-256(BASE64URL(header) '.' BASE64URL(core)), core = payload[0 .. sep) + "}" */
            size_t core_len = card->sep + 1;
            fmv_buf csi;
            fmv_buf_init(&csi, 0);
            fmv_put(&csi, token, dot1 + 1);
            size_t el = fmv_b64url_len(core_len);
            char *enc = malloc(el + 1);
            uint8_t *core = malloc(core_len);
            if (enc && core) {
                memcpy(core, pl, card->sep);
                core[card->sep] = '}';
                fmv_b64url_encode(core, core_len, enc);
                fmv_put(&csi, enc, el);
            } else {
                csi.failed = 1;
            }
            uint8_t digest[32];
            ok = !csi.failed;
            if (ok) {
                fm_sha256(csi.p, csi.len, digest, NULL);
                ok = fmv_card_verify(X509_get0_pubkey(cert), digest, csig, csl);
            }
            free(enc);
            free(core);
            fmv_buf_free(&csi);
        }
        free(der);
        free(csig);
        if (!ok) {
            X509_free(cert);
            st = reject(res, FM_VCHECK_CARD_SIGNATURE,
                        "the card signature does not verify with the embedded certificate, or that certificate is "
                        "not the one named by card_cert_sha256%s", "");
            goto out;
        }
        /* ---- chain ---- */
        if (v->check_chain) {
            res->chain_checked = 1;
            if (v->n_ca == 0) {
                X509_free(cert);
                st = reject(res, FM_VCHECK_CHAIN, "no CA certificate configured to check the card certificate%s", "");
                goto out;
            }
            X509_STORE_CTX *xc = X509_STORE_CTX_new();
            int vok = 0;
            if (xc && X509_STORE_CTX_init(xc, v->store, cert, NULL) == 1) {
                X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(xc);
                X509_VERIFY_PARAM_set_time(vp, (time_t)now);
                vok = X509_verify_cert(xc) == 1;
                if (vok) {
                    uint32_t ku = X509_get_key_usage(cert);
                    if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE))
                        vok = 0;
                }
            }
            char why2[120];
            snprintf(why2, sizeof why2, "%s",
                     xc ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(xc)) : "out of memory");
            X509_STORE_CTX_free(xc);
            ERR_clear_error();
            if (!vok) {
                X509_free(cert);
                st = reject(res, FM_VCHECK_CHAIN, "card certificate does not chain to a configured CA: %s", why2);
                goto out;
            }
        }
        X509_free(cert);
    }
    res->valid = 1;
    res->failed_check = FM_VCHECK_NONE;
    snprintf(res->detail, sizeof res->detail, "valid");
    st = FM_OK;
out:
    if (st == FM_ERR_VERIFY)
        fm_fail(ctx, FM_ERR_VERIFY, "verdict rejected (%s): %s", fm_vcheck_name(res->failed_check), res->detail);
    fmj_free(&hd);
    fmj_free(&pd);
    free(hdr);
    free(pl);
    free(sig);
    return st;
}
