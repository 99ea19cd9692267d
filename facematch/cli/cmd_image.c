/* facematch image: decode an image file (or stdin) and describe it. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int read_stdin(uint8_t **data, size_t *len, size_t limit)
{
    size_t cap = 65536, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (n == cap) {
            if (cap > limit) /* already holds more than the limit: let the library report it */
                break;
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        n += r;
        if (r == 0) {
            if (ferror(stdin)) {
                free(buf);
                return -2;
            }
            break;
        }
    }
    *data = buf;
    *len = n;
    return 0;
}

int cmd_image(int argc, char **argv)
{
    const char *path = NULL, *out_path = NULL;
    int json = 0, quality = -1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch image FILE|- [--json] [--convert OUT.(png|pgm|ppm|pnm|jpg|jp2|j2k) [--quality Q]]\n"
                   "Decodes FILE (format detected from its bytes: JPEG, JPEG 2000 JP2/J2K, PNG, PGM/PPM; '-' reads\n"
                   "stdin) and prints its format, size and channels. With --json prints\n"
                   "  {\"format\":\"jpeg|jp2|j2k|png|pnm\",\"width\":W,\"height\":H,\"channels\":C,\"bit_depth\":B}\n"
                   "--convert writes the decoded image to OUT, the format chosen by OUT's extension; --quality is the\n"
                   "JPEG quality (1..100, default 90) or the JPEG 2000 compression ratio (0 = lossless, default 0).\n"
                   "Exit 0 if the image decodes, 3 (with a one-line error on stderr) if it is unreadable,\n"
                   "malformed, truncated, unsupported or above the size limits, 2 for a bad command line.\n");
            return FM_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--convert") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--quality") == 0 && i + 1 < argc) {
            char *end;
            long q = strtol(argv[++i], &end, 10);
            if (*end || q < 0 || q > 1000)
                return cli_error("image", FM_ERR_INVALID_ARGUMENT, "bad --quality '%s'", argv[i]);
            quality = (int)q;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_error("image", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_error("image", FM_ERR_INVALID_ARGUMENT, "more than one input file (see --help)");
        }
    }
    if (!path)
        return cli_error("image", FM_ERR_INVALID_ARGUMENT, "no input file (see --help)");
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("image", FM_ERR_NO_MEMORY, "out of memory");
    fm_image *img = NULL;
    fm_image_info info;
    fm_status st;
    if (strcmp(path, "-") == 0) {
        uint8_t *data = NULL;
        size_t len = 0;
        int r = read_stdin(&data, &len, (size_t)fm_ctx_get(ctx, FM_PARAM_MAX_INPUT_BYTES));
        if (r != 0) {
            fm_ctx_destroy(ctx);
            return cli_error("image", r == -1 ? FM_ERR_NO_MEMORY : FM_ERR_IO, "cannot read stdin");
        }
        st = fm_image_decode(ctx, data, len, FM_PIX_NONE, &img, &info);
        free(data);
    } else {
        st = fm_image_load(ctx, path, FM_PIX_NONE, &img, &info);
    }
    if (st != FM_OK) {
        int rc = cli_error("image", st, "%s", fm_ctx_errmsg(ctx));
        fm_ctx_destroy(ctx);
        return rc;
    }
    int rc = FM_EXIT_OK;
    if (out_path) {
        const char *ext = strrchr(out_path, '.');
        fm_format f = FM_FORMAT_UNKNOWN;
        int q = 0;
        if (ext && (!strcmp(ext, ".png")))
            f = FM_FORMAT_PNG;
        else if (ext && (!strcmp(ext, ".pgm") || !strcmp(ext, ".ppm") || !strcmp(ext, ".pnm")))
            f = FM_FORMAT_PNM;
        else if (ext && (!strcmp(ext, ".jpg") || !strcmp(ext, ".jpeg")))
            f = FM_FORMAT_JPEG, q = quality < 0 ? 90 : quality;
        else if (ext && !strcmp(ext, ".jp2"))
            f = FM_FORMAT_JP2, q = quality < 0 ? 0 : quality;
        else if (ext && (!strcmp(ext, ".j2k") || !strcmp(ext, ".j2c")))
            f = FM_FORMAT_J2K, q = quality < 0 ? 0 : quality;
        size_t need = 0;
        uint8_t *buf = NULL;
        if (f == FM_FORMAT_UNKNOWN) {
            rc = cli_error("image", FM_ERR_INVALID_ARGUMENT, "cannot tell the output format from '%s'", out_path);
        } else if ((st = fm_image_encode(ctx, img, f, q, NULL, 0, &need)) != FM_ERR_BUFFER_TOO_SMALL ||
                   !(buf = malloc(need)) || (st = fm_image_encode(ctx, img, f, q, buf, need, &need)) != FM_OK) {
            rc = cli_error("image", st == FM_OK || st == FM_ERR_BUFFER_TOO_SMALL ? FM_ERR_NO_MEMORY : st, "%s",
                           fm_ctx_errmsg(ctx));
        } else {
            FILE *fo = fopen(out_path, "wb");
            if (!fo || fwrite(buf, 1, need, fo) != need || fclose(fo) != 0) {
                if (fo)
                    fclose(fo);
                rc = cli_error("image", FM_ERR_IO, "cannot write %s", out_path);
            }
        }
        free(buf);
    }
    if (rc == FM_EXIT_OK) {
        if (json) {
            cli_json j;
            json_begin(&j, stdout);
            json_obj_open(&j, NULL);
            json_str(&j, "format", fm_format_name(info.format));
            json_int(&j, "width", info.width);
            json_int(&j, "height", info.height);
            json_int(&j, "channels", info.channels);
            json_int(&j, "bit_depth", info.bit_depth);
            json_obj_close(&j);
            json_end(&j);
        } else {
            printf("%s: %s %dx%d, %d channel%s, %d bits\n", strcmp(path, "-") ? path : "stdin",
                   fm_format_name(info.format), info.width, info.height, info.channels, info.channels == 1 ? "" : "s",
                   info.bit_depth);
        }
    }
    fm_image_destroy(img);
    fm_ctx_destroy(ctx);
    return rc;
}
