/* SHA-256 through OpenSSL's EVP interface. */
#include "internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

static void to_hex(const uint8_t d[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

void fm_sha256(const void *data, size_t len, uint8_t digest[32], char hex[65])
{
    uint8_t d[32];
    unsigned int dl = 0;
    if (!EVP_Digest(data ? data : "", data ? len : 0, d, &dl, EVP_sha256(), NULL) || dl != 32)
        memset(d, 0, sizeof d);
    if (digest)
        memcpy(digest, d, 32);
    if (hex)
        to_hex(d, hex);
}

fm_status fm_sha256_file(fm_ctx *ctx, const char *path, uint8_t digest[32], char hex[65])
{
    if (!path)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "no file path given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(ctx, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        fclose(f);
        return fm_fail(ctx, FM_ERR_CRYPTO, "SHA-256 unavailable");
    }
    uint8_t buf[65536];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(md, buf, r);
    int err = ferror(f);
    fclose(f);
    uint8_t d[32];
    unsigned int dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    if (err)
        return fm_fail(ctx, FM_ERR_IO, "error reading %s", path);
    if (digest)
        memcpy(digest, d, 32);
    if (hex)
        to_hex(d, hex);
    return FM_OK;
}
