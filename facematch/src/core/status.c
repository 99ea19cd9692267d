/* Status names and descriptions. */
#include "internal.h"

typedef struct {
    fm_status code;
    const char *name;
    const char *text;
} status_row;

static const status_row rows[] = {
    {FM_OK, "FM_OK", "success"},
    {FM_ERR_INVALID_ARGUMENT, "FM_ERR_INVALID_ARGUMENT", "invalid argument"},
    {FM_ERR_NO_MEMORY, "FM_ERR_NO_MEMORY", "out of memory"},
    {FM_ERR_IO, "FM_ERR_IO", "file could not be read or written"},
    {FM_ERR_LIMIT, "FM_ERR_LIMIT", "input exceeds a configured limit"},
    {FM_ERR_BUFFER_TOO_SMALL, "FM_ERR_BUFFER_TOO_SMALL", "output buffer too small"},
    {FM_ERR_UNSUPPORTED, "FM_ERR_UNSUPPORTED", "not supported"},
    {FM_ERR_INTERNAL, "FM_ERR_INTERNAL", "internal error"},
    {FM_ERR_STATE, "FM_ERR_STATE", "call not allowed in this state"},
    {FM_ERR_FORMAT, "FM_ERR_FORMAT", "unrecognised data format"},
    {FM_ERR_CORRUPT, "FM_ERR_CORRUPT", "malformed data"},
    {FM_ERR_TRUNCATED, "FM_ERR_TRUNCATED", "truncated data"},
    {FM_ERR_MODEL_MISSING, "FM_ERR_MODEL_MISSING", "model not loaded"},
    {FM_ERR_MODEL_INVALID, "FM_ERR_MODEL_INVALID", "invalid model file"},
    {FM_ERR_MODEL_HASH, "FM_ERR_MODEL_HASH", "model file hash mismatch"},
    {FM_ERR_NO_FACE, "FM_ERR_NO_FACE", "no face found"},
    {FM_ERR_MULTIPLE_FACES, "FM_ERR_MULTIPLE_FACES", "more than one face"},
    {FM_ERR_CARD_TRANSPORT, "FM_ERR_CARD_TRANSPORT", "card transport failed"},
    {FM_ERR_CARD_STATUS, "FM_ERR_CARD_STATUS", "unexpected card status word"},
    {FM_ERR_CARD_RESPONSE, "FM_ERR_CARD_RESPONSE", "malformed card response"},
    {FM_ERR_PIN_FORMAT, "FM_ERR_PIN_FORMAT", "PIN has the wrong format"},
    {FM_ERR_PIN_WRONG, "FM_ERR_PIN_WRONG", "wrong PIN"},
    {FM_ERR_PIN_LOCKED, "FM_ERR_PIN_LOCKED", "PIN locked"},
    {FM_ERR_PIN_LAST_TRY, "FM_ERR_PIN_LAST_TRY", "refused: only the last PIN try is left"},
    {FM_ERR_NOT_FOUND, "FM_ERR_NOT_FOUND", "not found"},
    {FM_ERR_CRYPTO, "FM_ERR_CRYPTO", "cryptographic operation failed"},
    {FM_ERR_VERIFY, "FM_ERR_VERIFY", "verification failed"},
    {FM_ERR_KEY, "FM_ERR_KEY", "unusable key"},
};

static const status_row *find(fm_status s)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].code == s)
            return &rows[i];
    return NULL;
}

const char *fm_status_name(fm_status s)
{
    const status_row *r = find(s);
    return r ? r->name : "FM_ERR_UNKNOWN";
}

const char *fm_status_str(fm_status s)
{
    const status_row *r = find(s);
    return r ? r->text : "unknown status";
}
