/* PIN helpers: Japanese-era dates, PIN B, My Number check digit, PIN format checks. */
#include "card_internal.h"
#include "card_session.h"

#include <string.h>

/* Era start dates (Gregorian, inclusive) and the Gregorian year of each era's year 0 (era year = Y - base). */
static const struct {
    int start; /* YYYYMMDD */
    int base;
    const char *name;
} eras[] = {
    {18680125, 1867, "Meiji"},  /* Meiji 1 = 1868; dates before Meiji are rejected */
    {19120730, 1911, "Taisho"}, /* Taisho 1 = 1912-07-30 */
    {19261225, 1925, "Showa"},  /* Showa 1 = 1926-12-25 */
    {19890108, 1988, "Heisei"}, /* Heisei 1 = 1989-01-08 */
    {20190501, 2018, "Reiwa"},  /* Reiwa 1 = 2019-05-01 */
};

/* Accepts "YYYYMMDD" or "YYYY-MM-DD"; writes the 8 digits. */
static int norm_date(const char *in, char out[9])
{
    if (!in)
        return 0;
    size_t n = strlen(in);
    if (n == 8) {
        memcpy(out, in, 8);
    } else if (n == 10 && in[4] == '-' && in[7] == '-') {
        memcpy(out, in, 4);
        memcpy(out + 4, in + 5, 2);
        memcpy(out + 6, in + 8, 2);
    } else {
        return 0;
    }
    out[8] = '\0';
    return fmc_date_valid(out);
}

fm_status fm_card_era_date(fm_ctx *ctx, const char *birth, char out[7], int *era)
{
    char d[9];
    if (!out || !norm_date(birth, d))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "birth date must be a real date as YYYYMMDD or YYYY-MM-DD");
    int v = 0;
    for (int i = 0; i < 8; i++)
        v = v * 10 + (d[i] - '0');
    int e = -1;
    for (int i = 0; i < (int)(sizeof eras / sizeof eras[0]); i++)
        if (v >= eras[i].start)
            e = i;
    if (e < 0)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "birth date %.8s is before the Meiji era (1868-01-25)", d);
    int y = v / 10000 - eras[e].base;
    if (y > 99)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "era year %d does not fit two digits", y);
    out[0] = (char)('0' + y / 10);
    out[1] = (char)('0' + y % 10);
    memcpy(out + 2, d + 4, 4);
    out[6] = '\0';
    if (era)
        *era = e + 1;
    return FM_OK;
}

static int digits_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

fm_status fm_card_make_pin_b(fm_ctx *ctx, const char *birth, const char *expiry_year, const char *code, char out[15])
{
    if (!out || !expiry_year || !code)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "PIN B needs birth date, expiry year and security code");
    char era[7];
    fm_status st = fm_card_era_date(ctx, birth, era, NULL);
    if (st)
        return st;
    if (strlen(expiry_year) != 4 || !digits_only(expiry_year, 4))
        return fm_fail(ctx, FM_ERR_PIN_FORMAT, "expiry year must be 4 digits (YYYY)");
    if (strlen(code) != 4 || !digits_only(code, 4))
        return fm_fail(ctx, FM_ERR_PIN_FORMAT, "security code must be 4 digits");
    memcpy(out, era, 6);
    memcpy(out + 6, expiry_year, 4);
    memcpy(out + 10, code, 4);
    out[14] = '\0';
    fm_wipe(era, sizeof era);
    return FM_OK;
}

int fm_card_my_number_valid(const char *s)
{
    if (!s || strlen(s) != 12 || !digits_only(s, 12))
        return 0;
    /* Check digit (個人番号の検査用数字): P_n = n-th digit from the right among the first 11 digits, n = 1..11;
     * Q_n = n + 1 for n <= 6, n - 5 for n >= 7; r = sum(P_n * Q_n) mod 11; check = 0 if r <= 1 else 11 - r. */
    int sum = 0;
    for (int n = 1; n <= 11; n++) {
        int p = s[11 - n] - '0';
        int q = n <= 6 ? n + 1 : n - 5;
        sum += p * q;
    }
    int r = sum % 11;
    int check = r <= 1 ? 0 : 11 - r;
    return check == s[11] - '0';
}

fm_status fmc_check_pin_format(fm_ctx *ctx, fm_card_pin pin, const char *s)
{
    if (!s)
        return fm_fail(ctx, FM_ERR_PIN_FORMAT, "%s PIN missing", fm_card_pin_name(pin));
    size_t n = strnlen(s, 32);
    switch (pin) {
    case FM_CARD_PIN_AUTH:
    case FM_CARD_PIN_TEXT:
    case FM_CARD_PIN_RESIDENT:
        if (n != 4 || !digits_only(s, 4))
            return fm_fail(ctx, FM_ERR_PIN_FORMAT, "%s PIN must be exactly 4 digits (nothing was sent)",
                           fm_card_pin_name(pin));
        return FM_OK;
    case FM_CARD_PIN_VISUAL_B:
        if (n != 14 || !digits_only(s, 14))
            return fm_fail(ctx, FM_ERR_PIN_FORMAT, "PIN B must be exactly 14 digits (nothing was sent)");
        return FM_OK;
    case FM_CARD_PIN_VISUAL_A:
        if (!fm_card_my_number_valid(s))
            return fm_fail(ctx, FM_ERR_PIN_FORMAT,
                           "PIN A must be a 12-digit My Number with a valid check digit (nothing was sent)");
        return FM_OK;
    case FM_CARD_PIN_SIGN: {
        int letters = 0, digits = 0;
        if (n < 6 || n > 16)
            return fm_fail(ctx, FM_ERR_PIN_FORMAT, "signing PIN must be 6-16 characters (nothing was sent)");
        for (size_t i = 0; i < n; i++) {
            if (s[i] >= 'A' && s[i] <= 'Z')
                letters++;
            else if (s[i] >= '0' && s[i] <= '9')
                digits++;
            else
                return fm_fail(ctx, FM_ERR_PIN_FORMAT, "signing PIN allows only A-Z and 0-9 (nothing was sent)");
        }
        if (!letters || !digits)
            return fm_fail(ctx, FM_ERR_PIN_FORMAT,
                           "signing PIN needs at least one letter and one digit (nothing was sent)");
        return FM_OK;
    }
    }
    return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown PIN %d", (int)pin);
}

const char *fm_card_pin_name(fm_card_pin pin)
{
    switch (pin) {
    case FM_CARD_PIN_AUTH: return "auth";
    case FM_CARD_PIN_SIGN: return "sign";
    case FM_CARD_PIN_VISUAL_A: return "visual_a";
    case FM_CARD_PIN_VISUAL_B: return "visual_b";
    case FM_CARD_PIN_TEXT: return "text";
    case FM_CARD_PIN_RESIDENT: return "resident";
    }
    return "unknown";
}

const char *fm_card_authenticity_name(fm_card_authenticity a)
{
    switch (a) {
    case FM_CARD_AUTH_VERIFIED: return "verified";
    case FM_CARD_AUTH_INVALID: return "invalid";
    case FM_CARD_AUTH_UNVERIFIABLE: return "unverifiable";
    }
    return "unverifiable";
}
