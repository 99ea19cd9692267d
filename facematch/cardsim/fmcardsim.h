/*
 * fmcardsim — a virtual My Number card for tests and demos (NOT part of libfacematch; never ship it as a card).
 *
 * It implements the APDU behaviour of domain.md §2: applications selected by AID (00 A4 04 0C), EFs by FID
 * (00 A4 02 0C), READ BINARY in chunks with FF filler after each file's TLV, VERIFY with retry counters (63Cx on a
 * wrong PIN, 63C0 when the last try is spent, 6984 on every attempt after; VERIFY without data answers 63Cx without
 * spending a try — 63C0 when locked), COMPUTE SIGNATURE (80 2A 00 80 with the selected JPKI key after its PIN;
 * 80 2A 00 00 card presence with the DF24 key in the visual AP, no PIN), and the error words 6E00 (CLA), 6D00 (INS),
 * 6A86 (P1/P2), 6700 (length), 6986 (no current EF / EF of the wrong kind), 6982 (security status), 6A82 (not found),
 * 6B00 (offset past the end). ATR: 3B E0 00 FF 81 31 FE 45 14 (the one OpenSC's JPKI driver matches).
 *
 * Files:  JPKI AP    000A auth cert, 000B auth CA cert, 0002 signing CA cert, 0006 token info (free to read);
 *                    0001 signing cert (signing PIN); keys 0017 (auth, PIN 0018, 3 tries), 001A (signing, PIN 001B,
 *                    5 tries).
 *         visual AP  0002 card face (PIN A 0013 or PIN B 0012, 10 tries each), 0004 certificate (free).
 *         text AP    0001 My Number (PIN 0011); resident-register AP: PIN 001C. (Only these files of the two.)
 * Security state: selecting an application clears every verified PIN; power off / reset clears it too.
 *
 * Personalisation: freshly generated RSA-2048 keys per card (card key DF24, visual-data signer named in EF 0004,
 * JPKI auth and signing keys) and per simulator two test CAs: a "J-LIS" test CA that signs EF 0004 (5F37 over
 * 5F4E) and a JPKI test CA that issues the X.509 v3 certificates (both CA certificate EFs hold it). EF 0004's
 * issuer/subject key ids are the first 16 bytes of SHA-256 over the key's DER SubjectPublicKeyInfo (the simulator's
 * own convention; the real J-LIS rule is unknown). The portrait is encoded with fm_image_encode(FM_FORMAT_JP2):
 * default 300x400 (3:4, centre crop + area resize), colour, 40:1 compression (≈ 9 KB), as small and lossy as a card.
 *
 * Administration (sim only, for the kiosk flow): 80 2C 00 00 Lc <admin key 16> <PIN FID 2> <new PIN 0..16 ASCII>
 * resets the PIN's retry counter to its maximum and, if a new PIN is given, sets it; the PIN is looked up in the
 * selected application. 9000 ok, 6982 wrong admin key, 6A82 no such PIN, 6700 bad length. A real card has no such
 * command; the admin key is random per simulator unless the holder description gives one.
 *
 * Threads: a simulator is used by one thread at a time.
 */
#ifndef FMCARDSIM_H
#define FMCARDSIM_H

#include "facematch.h"

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_cardsim fm_cardsim;

typedef struct fm_cardsim_holder {
    /* portrait: the first one set is used */
    const uint8_t *portrait_jp2;  /* ready JP2 bytes, stored as they are */
    size_t portrait_jp2_len;
    const fm_image *portrait;     /* an image, cropped/resized/encoded as below */
    char portrait_path[1024];     /* an image file (any format fm_image_load reads) */
    int portrait_width, portrait_height; /* 0: 300 x 400 */
    int portrait_ratio;           /* JP2 compression ratio; 0: 40 */
    int portrait_grey;            /* 1: store greyscale */
    char birth_date[9];           /* YYYYMMDD */
    char sex;                     /* '1', '2', '9' */
    char expiry[9];               /* YYYYMMDD */
    char security_code[5];        /* 4 digits */
    char auth_pin[5];             /* 4 digits */
    char sign_pin[17];            /* 6-16 A-Z 0-9 */
    char my_number[13];           /* 12 digits with check digit, or "" (PIN A then never matches) */
    char text_pin[5];             /* "" = auth_pin */
    char resident_pin[5];         /* "" = auth_pin */
    char name[64];                /* ASCII; goes into the signing certificate's CN */
    uint8_t admin_key[16];
    int has_admin_key;
} fm_cardsim_holder;

/** Fills defaults (everything empty, sex '9'). */
void fm_cardsim_holder_init(fm_cardsim_holder *h);
/**
 * Reads a holder description (JSON object): "portrait" (path, relative to the JSON file's directory),
 * "birth_date" ("YYYY-MM-DD" or "YYYYMMDD"), "sex" ("1"/"2"/"9" or "male"/"female"), "expiry" (date),
 * "security_code", "auth_pin", "sign_pin", optional "my_number", "text_pin", "resident_pin", "name",
 * "admin_key" (32 hex digits), "portrait_width", "portrait_height", "portrait_ratio", "portrait_grey" (bool).
 */
fm_status fm_cardsim_holder_load(fm_ctx *ctx, const char *path, fm_cardsim_holder *h);
/** Wipes the PINs in h. */
void fm_cardsim_holder_wipe(fm_cardsim_holder *h);

/** Personalises a new card (generates keys: takes about a second). */
fm_status fm_cardsim_create(fm_ctx *ctx, const fm_cardsim_holder *h, fm_cardsim **out);
void fm_cardsim_destroy(fm_cardsim *sim);

/** fm_card_transmit_fn: pass the simulator as user. Always answers (status words for every error). */
int fm_cardsim_transmit(void *sim, const uint8_t *apdu, size_t apdu_len, uint8_t *resp, size_t resp_cap,
                        size_t *resp_len);
/** Power cycle: clears the selected application/EF and every verified state (retry counters persist). */
void fm_cardsim_reset(fm_cardsim *sim);
/** The ATR (9 bytes). */
const uint8_t *fm_cardsim_atr(size_t *len);

/** PIN indices for the test hooks below. */
enum { FM_CARDSIM_PIN_AUTH = 0, FM_CARDSIM_PIN_SIGN, FM_CARDSIM_PIN_A, FM_CARDSIM_PIN_B, FM_CARDSIM_PIN_TEXT,
       FM_CARDSIM_PIN_RESIDENT, FM_CARDSIM_PIN_COUNT };
int fm_cardsim_tries(const fm_cardsim *sim, int pin);
void fm_cardsim_set_tries(fm_cardsim *sim, int pin, int tries);

/** Test hook: the stored bytes of an EF (application 1 JPKI, 2 visual, 3 text), mutable (to tamper with). */
uint8_t *fm_cardsim_file(fm_cardsim *sim, int ap, unsigned fid, size_t *len);
enum { FM_CARDSIM_AP_JPKI = 1, FM_CARDSIM_AP_VISUAL = 2, FM_CARDSIM_AP_TEXT = 3 };

/** PEM exports: which = 0 J-LIS test CA public key, 1 JPKI test CA certificate. *len includes no NUL. */
enum { FM_CARDSIM_PEM_JLIS_CA = 0, FM_CARDSIM_PEM_JPKI_CA = 1 };
fm_status fm_cardsim_pem(fm_ctx *ctx, const fm_cardsim *sim, int which, char *buf, size_t cap, size_t *len);
/** The 16-byte issuer key id EF 0004 names (for fm_card_add_trusted_ca_key). */
const uint8_t *fm_cardsim_jlis_key_id(const fm_cardsim *sim);
const uint8_t *fm_cardsim_admin_key(const fm_cardsim *sim);
/** Writes jlis-ca.pem, jlis-ca.keyid (hex), jpki-ca.pem, auth-cert.pem and admin-key.hex into dir. */
fm_status fm_cardsim_export(fm_ctx *ctx, const fm_cardsim *sim, const char *dir);

/**
 * Runs as a vsmartcard vpcd client: connects to host:port (IPv4 literal, e.g. 127.0.0.1:35963; retries for up to
 * connect_timeout_ms), answers vpcd's messages (2-byte big-endian length + payload; 1-byte 00 power off, 01 power
 * on, 02 reset, 04 get ATR; longer = APDU) until *stop becomes non-zero or, with once = 1, vpcd closes the link
 * (else it reconnects). Returns FM_OK on a clean stop.
 */
fm_status fm_cardsim_vpcd_run(fm_ctx *ctx, fm_cardsim *sim, const char *host, int port, int connect_timeout_ms,
                              int once, volatile sig_atomic_t *stop);

#ifdef __cplusplus
}
#endif

#endif
