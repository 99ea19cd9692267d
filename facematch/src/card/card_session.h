/* The fm_card session and its APDU helpers (internal). */
#ifndef FM_CARD_SESSION_H
#define FM_CARD_SESSION_H

#include "card_internal.h"

#include <openssl/evp.h>

#define FMC_MAX_CA 16
#define FMC_CMD_CAP 264      /* short APDU: 4 + 1 + 255 + 1 */
#define FMC_RESP_CAP 4096    /* one transmit answer (256 data + SW, room for odd readers) */
#define FMC_MAX_GET_RESPONSE 16
#define FMC_DEFAULT_MAX_FILE 32768
#define FMC_ABS_MAX_FILE (0x7FFF + 256) /* short READ BINARY offsets are 15 bits */

enum { FMC_AP_NONE = 0, FMC_AP_JPKI, FMC_AP_VISUAL, FMC_AP_TEXT, FMC_AP_RESIDENT };

struct fm_card {
    fm_ctx *ctx;
    fm_card_transmit_fn tx;
    void *user;
    size_t max_file;
    size_t chunk;
    int ap;                      /* application selected by this session (FMC_AP_*) */
    uint8_t cmd[FMC_CMD_CAP];    /* command APDU (wiped after every exchange: it may hold a PIN) */
    uint8_t resp[FMC_RESP_CAP];  /* raw answer (wiped after every exchange) */
    struct {
        EVP_PKEY *key;
        int has_id;
        uint8_t id[FMC_CVC_KEY_ID_LEN];
    } ca[FMC_MAX_CA];
    int n_ca;
};

/* A command to send. le < 0: no Le (case 1/3); le 0..256 (256 sent as 00). */
typedef struct fmc_cmd {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
    int le;
} fmc_cmd;

/* Sends cmd, follows 61xx (GET RESPONSE) and 6Cxx (re-send with the card's Le), and returns the data in
 * out (capacity cap; *out_len) and the final status word in *sw. what names the step for messages. Transport and
 * framing problems fail (FM_ERR_CARD_TRANSPORT / FM_ERR_CARD_RESPONSE); any status word is returned as FM_OK with
 * *sw set, for the caller to judge. The command and answer buffers are wiped afterwards. */
fm_status fmc_exchange(fm_card *card, const fmc_cmd *cmd, uint8_t *out, size_t cap, size_t *out_len, unsigned *sw,
                       const char *what);
/* Selects an application (00 A4 04 0C). */
fm_status fmc_select_ap(fm_card *card, int ap);
/* Selects an EF of the current application (00 A4 02 0C 02 FID). */
fm_status fmc_select_ef(fm_card *card, unsigned fid, const char *what);
/* Reads the selected EF up to the end of its outer TLV (chunked READ BINARY, limited by max_file).
 * *data is malloc'd (caller frees; wipes if sensitive). */
fm_status fmc_read_tlv_file(fm_card *card, const char *what, uint8_t **data, size_t *len);
/* Selects the PIN's application and PIN EF, reads tries (no try spent); *tries 0 = locked. */
fm_status fmc_pin_tries(fm_card *card, fm_card_pin pin, int *tries);
/* The full PIN-safe VERIFY: format check, select, tries, last-try refusal, VERIFY, status mapping. */
fm_status fmc_verify_pin(fm_card *card, fm_card_pin pin, const char *digits, unsigned flags, int *tries_left);
fm_status fmc_check_pin_format(fm_ctx *ctx, fm_card_pin pin, const char *s);
/* Fails with FM_ERR_CARD_STATUS and a readable message for an unexpected status word. */
fm_status fmc_sw_fail(fm_card *card, unsigned sw, const char *what);
/* A JPKI key pair: its certificate EF, its private-key EF and the names messages use (jpki.c). */
typedef struct fmc_jpki_pair {
    unsigned cert_ef, key_ef;
    const char *cert_name, *key_name, *pin_name;
} fmc_jpki_pair;
extern const fmc_jpki_pair FMC_JPKI_AUTH, FMC_JPKI_SIGN;
/* Reads the pair's certificate EF of the already-selected JPKI AP (chunked READ BINARY to the end of the outer TLV),
 * checks it is exactly one DER X.509 certificate, copies it to buf (*len set even when cap is too small:
 * FM_ERR_BUFFER_TOO_SMALL). The card's copy is wiped. */
fm_status fmc_jpki_read_cert(fm_card *card, const fmc_jpki_pair *kp, uint8_t *buf, size_t cap, size_t *len);
/* COMPUTE SIGNATURE (80 2A 00 80) with the pair's private key over the SHA-256 DigestInfo of digest; needs the JPKI
 * AP selected by this session (the pair's PIN verified). sig gets FMC_RSA_BYTES bytes. */
fm_status fmc_jpki_sign(fm_card *card, const fmc_jpki_pair *kp, const uint8_t digest[32], uint8_t *sig, size_t cap,
                        size_t *sig_len);
/* Builds an RSA public key from big-endian n and e. */
EVP_PKEY *fmc_rsa_from_ne(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen);

#endif
