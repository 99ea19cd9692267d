/* Challenge derivation from the service nonce (spec in facematch.h, section [issue 5]) and action names. */
#include "internal.h"

#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <string.h>

static const char *const action_names[] = {NULL, "blink", "turn_left", "turn_right", "nod"};

const char *fm_challenge_action_name(fm_challenge_action a)
{
    if ((int)a < 1 || (int)a > 4)
        return NULL;
    return action_names[a];
}

fm_challenge_action fm_challenge_action_parse(const char *name)
{
    if (!name)
        return (fm_challenge_action)0;
    for (int i = 1; i <= 4; i++)
        if (strcmp(name, action_names[i]) == 0)
            return (fm_challenge_action)i;
    return (fm_challenge_action)0;
}

fm_status fm_challenge_derive(fm_ctx *ctx, const uint8_t *nonce, size_t nonce_len, fm_challenge *out)
{
    if (!nonce || !out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_challenge_derive: NULL argument");
    if (nonce_len < 8 || nonce_len > 64)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_challenge_derive: nonce of %zu bytes (8..64 expected)",
                       nonce_len);
    uint8_t d[32];
    unsigned int dlen = 0;
    static const char key[] = FM_CHALLENGE_KEY;
    if (!HMAC(EVP_sha256(), key, (int)(sizeof key - 1), nonce, nonce_len, d, &dlen) || dlen != 32)
        return fm_fail(ctx, FM_ERR_CRYPTO, "fm_challenge_derive: HMAC-SHA256 failed");
    int a[4] = {FM_ACTION_BLINK, FM_ACTION_TURN_LEFT, FM_ACTION_TURN_RIGHT, FM_ACTION_NOD};
    int pos = 1; /* next byte of d used by the shuffle; bytes 1..23 only */
    for (int i = 3; i >= 1; i--) {
        int m = i + 1, j = 0;
        int limit = 256 - 256 % m;
        while (pos < 24) {
            int b = d[pos++];
            if (b < limit) {
                j = b % m;
                break;
            }
        }
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    fm_challenge c;
    memset(&c, 0, sizeof c);
    c.n_steps = 2 + (d[0] & 1);
    for (int k = 0; k < c.n_steps; k++) {
        c.action[k] = a[k];
        c.window_ms[k] = 3000 + 250 * (d[24 + k] % 9);
    }
    fm_wipe(d, sizeof d);
    *out = c;
    return FM_OK;
}
