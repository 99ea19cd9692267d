/* MMOD CNN face detector against dlib 19.24 (tests/oracle/face_oracle --mmod) on every labelled image of
 * ../shared/data/faces/identities.csv up to 700 pixels on a side (dlib's MMOD is slow on larger photos):
 * same number of faces, each box matched with IoU >= 0.95, scores within 1e-3.
 * Skips (77) when the data, the models or the oracle binary are absent. */
#include "test_face_data.h"

#include <unistd.h>

#define MAXIMG 4096
#define MAXSIDE 700

int main(void)
{
    const char *data = test_data_dir();
    if (!data)
        SKIP_ALL("../shared/data not found (set FM_DATA_DIR)");
    char models[4096], oracle[4200], csv[4200];
    if (fm_models_default_dir(models, sizeof models) != FM_OK)
        SKIP_ALL("no models directory");
    snprintf(oracle, sizeof oracle, "%s/tests/oracle/face_oracle", FM_BINARY_DIR);
    if (access(oracle, X_OK) != 0)
        SKIP_ALL("%s not built (needs libdlib-dev)", oracle);
    fm_ctx *ctx = fm_ctx_create();
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    fm_engine *eng = NULL;
    fm_status st = fm_engine_create(ctx, &cfg, &eng);
    if (st == FM_ERR_IO)
        SKIP_ALL("MMOD model not found: %s", fm_ctx_errmsg(ctx));
    if (st != FM_OK) {
        fprintf(stderr, "engine: %s\n", fm_ctx_errmsg(ctx));
        return 1;
    }
    snprintf(csv, sizeof csv, "%s/faces/identities.csv", data);
    FILE *f = fopen(csv, "r");
    if (!f)
        SKIP_ALL("faces/identities.csv not found");
    size_t cap = 1 << 16, len = 0;
    char *cmd = (char *)malloc(cap);
    len += (size_t)snprintf(cmd, cap, "'%s' --models '%s' --mmod", oracle, models);
    char line[8192];
    int nimg = 0;
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ',');
        if (!c || strncmp(line, "path,", 5) == 0)
            continue;
        *c = 0;
        char path[12400];
        snprintf(path, sizeof path, "%s/%s", data, line);
        /* only files we and dlib can both read, small enough */
        FILE *g = fopen(path, "rb");
        if (!g)
            continue;
        static unsigned char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, g);
        fclose(g);
        fm_image_info info;
        if (fm_image_probe(ctx, buf, n, &info) != FM_OK || info.format == FM_FORMAT_UNKNOWN)
            continue;
        if (info.width > MAXSIDE || info.height > MAXSIDE)
            continue;
        size_t need = strlen(path) + 4;
        if (len + need + 1 > cap) {
            cap = (cap + need) * 2;
            cmd = (char *)realloc(cmd, cap);
        }
        len += (size_t)snprintf(cmd + len, cap - len, " '%s'", path);
        nimg++;
    }
    fclose(f);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 1;
    static char ol[1 << 16];
    char cur[12400] = "";
    int checked = 0, faces = 0;
    double worst_iou = 1, worst_score = 0;
    while (fgets(ol, sizeof ol, p)) {
        if (ol[0] == 'I') {
            int w, h;
            if (sscanf(ol + 2, "%12399s %d %d", cur, &w, &h) != 3)
                cur[0] = 0;
            continue;
        }
        if (ol[0] != 'M' || !cur[0])
            continue;
        char *s = ol + 2, *end;
        long n = strtol(s, &end, 10);
        s = end;
        float ref[64][5];
        int nr = 0;
        for (long i = 0; i < n && nr < 64; i++, nr++)
            for (int k = 0; k < 5; k++) {
                ref[nr][k] = strtof(s, &end);
                s = end;
            }
        fm_image *img = NULL;
        CHECK_STATUS(fm_image_load(ctx, cur, FM_PIX_RGB24, &img, NULL), FM_OK);
        if (!img)
            continue;
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = FM_DETECTOR_MMOD;
        fm_face_box b[64];
        size_t got = 0;
        CHECK_STATUS(fm_detect(ctx, eng, img, &o, b, 64, &got), FM_OK);
        CHECK_MSG((long)got == n, "%s: %zu faces, dlib finds %ld", cur, got, n);
        faces += test_check_boxes_vs_dlib(cur, b, got < 64 ? got : 64, (const float(*)[5])ref, nr, &worst_iou,
                                          &worst_score);
        checked++;
        fm_image_destroy(img);
    }
    int rc = pclose(p);
    CHECK_MSG(rc == 0, "oracle exited with %d", rc);
    CHECK_MSG(checked == nimg, "compared %d of %d images", checked, nimg);
    fprintf(stderr, "MMOD: %d images (<= %d px), %d dlib faces, worst IoU %.4f, worst score diff %.2e\n", checked,
            MAXSIDE, faces, worst_iou, worst_score);
    free(cmd);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return test_finish();
}
