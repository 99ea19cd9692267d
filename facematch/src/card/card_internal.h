/* Internal view of the card layer: the card's byte layouts (one place, domain.md §2), the strict BER-TLV parser
 * and the APDU helpers. Not installed. The card simulator (facematch/cardsim) uses the same layout constants. */
#ifndef FM_CARD_INTERNAL_H
#define FM_CARD_INTERNAL_H

#include "internal.h"

#include <stdint.h>

/* ---- applications and files (domain.md §2) ---------------------------------------------------------------- */
#define FMC_AID_LEN 10
static const uint8_t FMC_AID_JPKI[FMC_AID_LEN] = {0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01};
static const uint8_t FMC_AID_VISUAL[FMC_AID_LEN] = {0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02};
static const uint8_t FMC_AID_TEXT[FMC_AID_LEN] = {0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08};
static const uint8_t FMC_AID_RESIDENT[FMC_AID_LEN] = {0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x01};

enum {
    /* JPKI AP */
    FMC_EF_JPKI_SIGN_CERT = 0x0001,
    FMC_EF_JPKI_SIGN_CA = 0x0002,
    FMC_EF_JPKI_TOKEN = 0x0006,
    FMC_EF_JPKI_AUTH_CERT = 0x000A,
    FMC_EF_JPKI_AUTH_CA = 0x000B,
    FMC_EF_JPKI_AUTH_KEY = 0x0017,
    FMC_EF_JPKI_AUTH_PIN = 0x0018,
    FMC_EF_JPKI_SIGN_KEY = 0x001A,
    FMC_EF_JPKI_SIGN_PIN = 0x001B,
    /* visual AP */
    FMC_EF_VISUAL_DATA = 0x0002,
    FMC_EF_VISUAL_CERT = 0x0004,
    FMC_EF_VISUAL_PIN_B = 0x0012,
    FMC_EF_VISUAL_PIN_A = 0x0013,
    /* text AP / resident register AP */
    FMC_EF_TEXT_MYNUMBER = 0x0001,
    FMC_EF_TEXT_PIN = 0x0011,
    FMC_EF_RESIDENT_PIN = 0x001C
};

/* Tries before lock (domain.md: PIN A/B = 10 is unconfirmed). */
#define FMC_TRIES_AUTH 3
#define FMC_TRIES_SIGN 5
#define FMC_TRIES_VISUAL 10
#define FMC_TRIES_TEXT 3
#define FMC_TRIES_RESIDENT 3

/* ---- EF 0002 (visual data) tags ---- */
#define FMC_TAG_VISUAL 0xFF20u
#define FMC_TAG_OFFSETS 0xDF21u
#define FMC_TAG_BIRTH 0xDF22u
#define FMC_TAG_SEX 0xDF23u
#define FMC_TAG_PUBKEY 0xDF24u
#define FMC_TAG_NAME_IMG 0xDF25u
#define FMC_TAG_ADDR_IMG 0xDF26u
#define FMC_TAG_PORTRAIT 0xDF27u
#define FMC_TAG_SIGNATURE 0xDF28u
#define FMC_TAG_EXPIRY 0xDF29u
#define FMC_TAG_CODE_IMG 0xDF2Au
/* RSA public key inside DF24 and 5F4E */
#define FMC_TAG_RSA_E 0x90u
#define FMC_TAG_RSA_N 0x91u
#define FMC_RSA_BYTES 256 /* RSA-2048 */

/* DF28 covers three SHA-256 hashes, each over complete TLVs (tag ‖ length ‖ value), concatenated in this order:
 * group 0 = DF22 ‖ DF23 ‖ DF24, group 1 = DF25 ‖ DF26, group 2 = DF27. DF21, DF29, DF2A are not covered. */
#define FMC_SIG_GROUPS 3

/* ---- EF 0004 (the visual AP's card-verifiable certificate) ---- */
#define FMC_TAG_CVC 0x7F21u
#define FMC_TAG_CVC_BODY 0x5F4Eu
#define FMC_TAG_CVC_SIG 0x5F37u
/* 5F4E = issuer key id ‖ subject key id ‖ 90/91 public key; 16+16+5+260 = 297 bytes for e = 65537 (unconfirmed:
 * the offsets below are the only place that encodes it). 5F37 = RSA PKCS#1 v1.5 SHA-256 over 5F4E's value. */
#define FMC_CVC_ISSUER_ID_OFF 0
#define FMC_CVC_SUBJECT_ID_OFF 16
#define FMC_CVC_KEY_ID_LEN 16
#define FMC_CVC_KEY_OFF 32
#define FMC_CVC_BODY_LEN 297

/* ---- commands ---- */
#define FMC_CLA_ISO 0x00
#define FMC_CLA_PROP 0x80
#define FMC_INS_SELECT 0xA4
#define FMC_INS_READ_BINARY 0xB0
#define FMC_INS_VERIFY 0x20
#define FMC_INS_GET_RESPONSE 0xC0
#define FMC_INS_SIGN 0x2A
#define FMC_P2_SIGN_JPKI 0x80      /* 80 2A 00 80: JPKI key (after selecting 0017 / 001A and VERIFY) */
#define FMC_P2_SIGN_PRESENCE 0x00  /* 80 2A 00 00: card presence (visual AP, DF24 key, no PIN) */

/* Strict length encoding: reject 81 xx with xx < 0x80, 82 00 xx, 83 00 xx xx (non-minimal). Real cards are
 * expected to encode lengths minimally (unconfirmed); flip to 0 here if a genuine card proves otherwise. */
#define FMC_TLV_REQUIRE_MINIMAL_LENGTH 1
#define FMC_TLV_MAX_DEPTH 8

/* DER DigestInfo prefix for SHA-256 with a 32-byte digest, and the 96-byte variant DF28 uses. */
static const uint8_t FMC_DI_SHA256_PREFIX[19] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                                 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t FMC_DI_SHA256x3_PREFIX[19] = {0x30, 0x71, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                                   0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x60};

/* ---- strict BER-TLV ---------------------------------------------------------------------------------------- */
typedef struct fmc_tlv {
    uint32_t tag;          /* tag bytes big-endian, e.g. 0xDF27, 0x7F21, 0x90 */
    int constructed;       /* bit 6 of the first tag byte */
    const uint8_t *raw;    /* start of the TLV (tag byte) */
    size_t raw_len;        /* tag ‖ length ‖ value */
    const uint8_t *value;
    size_t len;
} fmc_tlv;

/* Parses a tag and length at p (n bytes available) without requiring the value to be present. *hdr_len = bytes of
 * tag+length, *len = value length. FM_ERR_TRUNCATED if the header itself is cut; FM_ERR_CORRUPT for bad forms
 * (indefinite 80, over-long, > 3 length bytes, tags longer than 3 bytes, non-minimal tag). Message on ctx. */
fm_status fmc_tlv_header(fm_ctx *ctx, const uint8_t *p, size_t n, uint32_t *tag, size_t *hdr_len, size_t *len);
/* Parses the TLV at p[*pos..n), value fully inside; advances *pos. */
fm_status fmc_tlv_next(fm_ctx *ctx, const uint8_t *p, size_t n, size_t *pos, fmc_tlv *out);
/* Parses exactly one TLV spanning all of p[0..n) (no trailing bytes). */
fm_status fmc_tlv_single(fm_ctx *ctx, const uint8_t *p, size_t n, fmc_tlv *out);
/* Checks a whole TLV sequence recursively (constructed tags parsed as nested TLVs) with a nesting limit. */
fm_status fmc_tlv_validate(fm_ctx *ctx, const uint8_t *p, size_t n, int max_depth);
/* Writes a tag+length header for (tag, len) into out (cap >= 8); returns its size, 0 if len > 0xFFFFFF. */
size_t fmc_tlv_put_header(uint8_t *out, uint32_t tag, size_t len);

/* ---- EF 0002 / EF 0004 parsers (pure, used by the reader and the fuzzers) ---------------------------------- */
typedef struct fmc_visual_parsed {
    fmc_tlv f[11];             /* indexed by tag - 0xDF20 (1..10 used); raw_len 0 when absent */
    char birth[9], expiry[9];
    char sex;
    const uint8_t *rsa_n, *rsa_e; /* DF24 key */
    size_t rsa_n_len, rsa_e_len;
} fmc_visual_parsed;
/* data = the complete FF20 TLV (filler after it is allowed and ignored). */
fm_status fmc_parse_visual(fm_ctx *ctx, const uint8_t *data, size_t len, fmc_visual_parsed *out);

typedef struct fmc_cvc_parsed {
    const uint8_t *body;       /* 5F4E value (FMC_CVC_BODY_LEN bytes) */
    size_t body_len;
    const uint8_t *issuer_id, *subject_id;
    const uint8_t *rsa_n, *rsa_e;
    size_t rsa_n_len, rsa_e_len;
    const uint8_t *sig;        /* 5F37 value */
    size_t sig_len;
} fmc_cvc_parsed;
fm_status fmc_parse_cvc(fm_ctx *ctx, const uint8_t *data, size_t len, fmc_cvc_parsed *out);
/* Parses a 90 (exponent) ‖ 91 (modulus) sequence. */
fm_status fmc_parse_rsa_pub(fm_ctx *ctx, const uint8_t *p, size_t n, const uint8_t **nn, size_t *nlen,
                            const uint8_t **e, size_t *elen);

/* The 96-byte digest DF28 signs, computed from a parsed EF 0002. */
void fmc_visual_digest(const fmc_visual_parsed *v, uint8_t out[96]);

/* Validates a Gregorian YYYYMMDD (8 digits, real calendar day). Returns 1 if valid. */
int fmc_date_valid(const char *s8);

/* ---- status words ---- */
#define FMC_SW(r, n) ((unsigned)(((r)[(n)-2] << 8) | (r)[(n)-1]))
/* Describes a status word for messages ("6982 security status not satisfied"). Static storage. */
const char *fmc_sw_text(unsigned sw);

#endif
