/* libFuzzer target for the verdict stage's parsers of untrusted bytes: the strict JSON parser, strict base64url,
 * the token verifier (structure, header, payload schema, card member) and the developer JSON input reader.
 * key loading (PEM/DER, our PKCS#8 fast path), CA certificate loading.
 * The first input byte picks the mode; mode 3 re-signs the fuzzed payload with the fuzzer's own engine key so that
 * the checks behind the signature (schema, nonce/aud/time, card binding, chain) are reached too. */
#include "facematch.h"
#include "verdict/verdict_internal.h"

#include <stdlib.h>
#include <string.h>

static fm_verdict_key *g_key;
static fm_verdict_verifier *g_ver;
static fm_ctx *g_ctx;
static char g_kid[44];

static void init_once(void)
{
    if (g_ctx)
        return;
    g_ctx = fm_ctx_create();
    if (fm_verdict_key_generate(g_ctx, FM_JWS_ES256, &g_key) != FM_OK ||
        fm_verdict_verifier_create(g_ctx, g_key, &g_ver) != FM_OK || fm_verdict_key_id(g_ctx, g_key, g_kid) != FM_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 1)
        return 0;
    int mode = data[0] & 7;
    data++, size--;
    if (size > 20000)
        return 0;
    switch (mode) {
    case 0: {
        fmj_doc d;
        char err[128];
        if (fmj_parse((const char *)data, size, FMJ_MAX_DEPTH, FMJ_MAX_NODES, &d, err, sizeof err) == 0) {
            const fmj_node *r = fmj_root(&d);
            for (int i = 0; i < d.n; i++) /* touch every decoded string */
                if (d.nodes[i].type == FMJ_STR && strlen(d.nodes[i].str) != d.nodes[i].str_len)
                    abort();
            (void)fmj_get(&d, r, "a");
        }
        fmj_free(&d);
        uint8_t *out = malloc(size + 1);
        size_t ol;
        if (out && fmv_b64url_decode((const char *)data, size, out, &ol) == 0) {
            char *enc = malloc(fmv_b64url_len(ol) + 1);
            /* canonical decoding: re-encoding gives the input back */
            if (enc && (fmv_b64url_encode(out, ol, enc) != size || memcmp(enc, data, size) != 0))
                abort();
            free(enc);
        }
        free(out);
        break;
    }
    case 1: {
        fm_verdict_result res;
        char payload[4096];
        size_t pl;
        fm_verdict_verify(g_ctx, g_ver, (const char *)data, size, "00112233445566778899aabbccddeeff", "svc",
                          1800000000, &res, payload, sizeof payload, &pl);
        if (res.valid)
            abort(); /* nobody but us holds the key */
        break;
    }
    case 2: {
        char *tok = malloc(FM_VERDICT_TOKEN_MAX);
        size_t tl;
        if (tok)
            fm_verdict_sign_json(g_ctx, g_key, (const char *)data, size, NULL, 0, NULL, NULL, tok,
                                 FM_VERDICT_TOKEN_MAX, &tl);
        free(tok);
        break;
    }
    case 3: {
        /* header fixed, payload fuzzed, signed with the engine key */
        char hdr[160];
        snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"typ\":\"fm-verdict+jwt\",\"kid\":\"%s\"}", g_kid);
        size_t hl = strlen(hdr);
        char *t = malloc(fmv_b64url_len(hl) + fmv_b64url_len(size) + 100);
        if (!t)
            break;
        size_t n = fmv_b64url_encode((const uint8_t *)hdr, hl, t);
        t[n++] = '.';
        n += fmv_b64url_encode(data, size, t + n);
        uint8_t sig[64];
        if (fmv_jws_sign(g_ctx, g_key, (const uint8_t *)t, n, sig) == FM_OK) {
            t[n++] = '.';
            n += fmv_b64url_encode(sig, 64, t + n);
            fm_verdict_result res;
            fm_verdict_verify(g_ctx, g_ver, t, n, "00112233445566778899aabbccddeeff", "svc", 1800000000, &res, NULL,
                              0, NULL);
        }
        free(t);
        break;
    }
    case 4:
    case 6: {
        fm_verdict_key *k = NULL;
        if (fm_verdict_key_load(g_ctx, data, size, &k) == FM_OK) {
            char kid[44];
            fm_verdict_key_id(g_ctx, k, kid);
        }
        fm_verdict_key_destroy(k);
        break;
    }
    case 5:
    case 7: {
        fm_verdict_verifier *v = NULL;
        if (fm_verdict_verifier_create(g_ctx, g_key, &v) == FM_OK)
            fm_verdict_verifier_add_ca(g_ctx, v, data, size);
        fm_verdict_verifier_destroy(v);
        break;
    }
    }
    return 0;
}
