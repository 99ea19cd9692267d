/* Internal structure of the card simulator. */
#ifndef FMCARDSIM_INTERNAL_H
#define FMCARDSIM_INTERNAL_H

#include "card/card_internal.h"
#include "fmcardsim.h"

#include <openssl/evp.h>

enum { SIM_EF_DATA = 1, SIM_EF_PIN, SIM_EF_KEY };
#define SIM_MAX_FILES 12

typedef struct sim_file {
    unsigned fid;
    int kind;
    uint8_t *data;      /* SIM_EF_DATA: content + FF filler */
    size_t len;
    unsigned read_mask; /* SIM_EF_DATA: bit i = PIN i opens it (0 = free) */
    int pin;            /* SIM_EF_PIN: PIN index; SIM_EF_KEY: PIN that must be verified */
    EVP_PKEY *key;      /* SIM_EF_KEY (borrowed from the sim) */
} sim_file;

typedef struct sim_ap {
    const uint8_t *aid;
    sim_file files[SIM_MAX_FILES];
    int nfiles;
} sim_ap;

typedef struct sim_pin {
    char value[17];
    int max, left;
    int verified;
} sim_pin;

struct fm_cardsim {
    sim_ap aps[4]; /* JPKI, visual, text, resident */
    sim_pin pins[FM_CARDSIM_PIN_COUNT];
    int cur_ap;    /* -1 none */
    int cur_ef;    /* index in the AP's files, -1 none */
    EVP_PKEY *jlis_ca, *visual_signer, *card_key, *jpki_ca, *auth_key, *sign_key;
    uint8_t *jpki_ca_der;
    size_t jpki_ca_der_len;
    uint8_t jlis_key_id[16];
    uint8_t admin_key[16];
};

/* personalise.c */
fm_status sim_personalise(fm_ctx *ctx, fm_cardsim *sim, const fm_cardsim_holder *h);

#endif
