/* Our face pipeline against dlib 19.24 (tests/oracle/face_oracle, built when libdlib-dev is installed) on every
 * labelled image of ../shared/data/faces/identities.csv:
 *   - 5-point and 68-point landmarks on dlib's own detector box: mean distance <= 0.5 px
 *   - 150x150 chip from dlib's 5 points: mean absolute pixel difference <= 1.0
 *   - 128-d descriptor of dlib's chip (isolates the ResNet): L2 distance to dlib's <= 1e-3
 *   - end to end (our landmarks -> our chip -> our descriptor): L2 distance to dlib's <= 1e-3
 *   - images that are already 150x150 chips, fed straight to the ResNet: L2 distance <= 1e-3
 * Skips (77) when the data, the models or the oracle binary are absent. FM_FACE_ORACLE_LIMIT=N limits the images. */
#include "test_face_data.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXIMG 4096
#define REQUIRE_MAIN(c)                                                                                          \
    do {                                                                                                         \
        if (!(c)) {                                                                                              \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s (%s)\n", __FILE__, __LINE__, #c, ctx ? fm_ctx_errmsg(ctx) : ""); \
            return 1;                                                                                            \
        }                                                                                                        \
    } while (0)

static char *paths[MAXIMG];
static int npaths;

static int read_floats(const char *s, float *v, int n)
{
    int k = 0;
    while (k < n) {
        char *end;
        v[k] = strtof(s, &end);
        if (end == s)
            break;
        s = end;
        k++;
    }
    return k;
}

static double l2(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(d);
}

typedef struct rec {
    char path[4096];
    int w, h, have_box, have_chip, have_d, have_r;
    float box[4], p5[10], p68[136], d[128], r[128];
    char chip[4096];
} rec;

static fm_engine *eng;
static fm_ctx *ctx;
static double worst_p5, worst_p68, worst_chip, worst_d, worst_e2e, worst_r;
static int n_box, n_r, n_img, n_load_fail, n_dlib_unreadable;

static void check_record(const rec *R)
{
    n_img++;
    fm_image *img = NULL;
    if (fm_image_load(ctx, R->path, FM_PIX_RGB24, &img, NULL) != FM_OK) {
        n_load_fail++;
        CHECK_MSG(0, "%s: %s", R->path, fm_ctx_errmsg(ctx));
        return;
    }
    CHECK_MSG(fm_image_width(img) == R->w && fm_image_height(img) == R->h, "%s: size %dx%d vs dlib %dx%d", R->path,
              fm_image_width(img), fm_image_height(img), R->w, R->h);
    if (R->have_box) {
        n_box++;
        fm_face_box b = {R->box[0], R->box[1], R->box[2], R->box[3], 1};
        fm_point p5[5], p68[68];
        CHECK_STATUS(fm_landmarks(ctx, eng, img, &b, 5, p5), FM_OK);
        CHECK_STATUS(fm_landmarks(ctx, eng, img, &b, 68, p68), FM_OK);
        double s5 = 0, s68 = 0;
        for (int i = 0; i < 5; i++)
            s5 += hypot(p5[i].x - R->p5[2 * i], p5[i].y - R->p5[2 * i + 1]);
        for (int i = 0; i < 68; i++)
            s68 += hypot(p68[i].x - R->p68[2 * i], p68[i].y - R->p68[2 * i + 1]);
        s5 /= 5;
        s68 /= 68;
        CHECK_MSG(s5 <= 0.5, "%s: 5-point mean error %.3f px", R->path, s5);
        CHECK_MSG(s68 <= 0.5, "%s: 68-point mean error %.3f px", R->path, s68);
        worst_p5 = fmax(worst_p5, s5);
        worst_p68 = fmax(worst_p68, s68);
        /* chip from dlib's points */
        fm_point dp5[5];
        for (int i = 0; i < 5; i++) {
            dp5[i].x = R->p5[2 * i];
            dp5[i].y = R->p5[2 * i + 1];
        }
        fm_image *chip = NULL;
        CHECK_STATUS(fm_face_chip(ctx, img, dp5, 5, 150, 0.25, &chip), FM_OK);
        if (chip && R->have_chip) {
            uint8_t *ref = (uint8_t *)malloc(150 * 150 * 3);
            FILE *f = fopen(R->chip, "rb");
            size_t got = f ? fread(ref, 1, 150 * 150 * 3, f) : 0;
            if (f)
                fclose(f);
            CHECK(got == 150 * 150 * 3);
            int stride;
            const uint8_t *p = fm_image_plane(chip, 0, &stride);
            double sum = 0;
            for (int y = 0; y < 150; y++)
                for (int x = 0; x < 450; x++)
                    sum += fabs((double)p[y * stride + x] - ref[y * 450 + x]);
            sum /= 150.0 * 450.0;
            CHECK_MSG(sum <= 1.0, "%s: chip mean abs diff %.3f", R->path, sum);
            worst_chip = fmax(worst_chip, sum);
            /* descriptor of dlib's own chip */
            if (R->have_d) {
                fm_image *dchip = NULL;
                CHECK_STATUS(fm_image_create(ctx, FM_PIX_RGB24, 150, 150, &dchip), FM_OK);
                if (dchip) {
                    int ds;
                    uint8_t *dp = (uint8_t *)fm_image_plane(dchip, 0, &ds);
                    for (int y = 0; y < 150; y++)
                        memcpy(dp + (size_t)y * ds, ref + y * 450, 450);
                    float d[128];
                    CHECK_STATUS(fm_embed_chip(ctx, eng, FM_EMBED_DLIB, dchip, d, 128), FM_OK);
                    double e = l2(d, R->d, 128);
                    CHECK_MSG(e <= 1e-3, "%s: descriptor of dlib's chip differs by %.2e", R->path, e);
                    worst_d = fmax(worst_d, e);
                    fm_image_destroy(dchip);
                }
            }
            free(ref);
        }
        fm_image_destroy(chip);
        /* end to end from the box */
        if (R->have_d) {
            float d[128];
            CHECK_STATUS(fm_embed_face(ctx, eng, FM_EMBED_DLIB, img, &b, d, 128), FM_OK);
            double e = l2(d, R->d, 128);
            CHECK_MSG(e <= 1e-3, "%s: end-to-end descriptor differs by %.2e", R->path, e);
            worst_e2e = fmax(worst_e2e, e);
        }
    }
    if (R->have_r) {
        n_r++;
        float d[128];
        CHECK_STATUS(fm_embed_chip(ctx, eng, FM_EMBED_DLIB, img, d, 128), FM_OK);
        double e = l2(d, R->r, 128);
        CHECK_MSG(e <= 1e-3, "%s: descriptor of the 150x150 image differs by %.2e", R->path, e);
        worst_r = fmax(worst_r, e);
    }
    fm_image_destroy(img);
}

int main(void)
{
    const char *data = test_data_dir();
    if (!data)
        SKIP_ALL("../shared/data not found (set FM_DATA_DIR)");
    char models[4096];
    if (fm_models_default_dir(models, sizeof models) != FM_OK)
        SKIP_ALL("no models directory");
    char oracle[4200];
    snprintf(oracle, sizeof oracle, "%s/tests/oracle/face_oracle", FM_BINARY_DIR);
    if (access(oracle, X_OK) != 0)
        SKIP_ALL("%s not built (needs libdlib-dev)", oracle);
    ctx = fm_ctx_create();
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68);
    fm_status st = fm_engine_create(ctx, &cfg, &eng);
    if (st == FM_ERR_IO)
        SKIP_ALL("dlib models not found in %s: %s", models, fm_ctx_errmsg(ctx));
    REQUIRE_MAIN(st == FM_OK);
    if ((npaths = test_read_identities(data, paths, MAXIMG)) <= 0)
        SKIP_ALL("faces/identities.csv not found");
    const char *lim = getenv("FM_FACE_ORACLE_LIMIT");
    if (lim && atoi(lim) > 0 && atoi(lim) < npaths)
        npaths = atoi(lim);
    char tmpl[] = "/tmp/fm_face_oracle_XXXXXX";
    char *tmpdir = mkdtemp(tmpl);
    REQUIRE_MAIN(tmpdir != NULL);
    /* command line: oracle --models M --chips T paths... */
    size_t cap = 65536, len = 0;
    char *cmd = (char *)malloc(cap);
    len += (size_t)snprintf(cmd, cap, "'%s' --models '%s' --chips '%s'", oracle, models, tmpdir);
    for (int i = 0; i < npaths; i++) {
        size_t need = strlen(paths[i]) + 4;
        if (len + need + 1 > cap) {
            cap = (cap + need) * 2;
            cmd = (char *)realloc(cmd, cap);
        }
        len += (size_t)snprintf(cmd + len, cap - len, " '%s'", paths[i]);
    }
    FILE *p = popen(cmd, "r");
    REQUIRE_MAIN(p != NULL);
    static char line[1 << 16];
    rec *R = (rec *)calloc(1, sizeof *R);
    int have = 0;
    while (fgets(line, sizeof line, p)) {
        if (line[0] == 'I' && line[1] == ' ') {
            if (have)
                check_record(R);
            memset(R, 0, sizeof *R);
            have = sscanf(line + 2, "%4095s %d %d", R->path, &R->w, &R->h) == 3;
        } else if (!have) {
            continue;
        } else if (line[0] == 'B' && strncmp(line, "B none", 6) != 0) {
            R->have_box = read_floats(line + 2, R->box, 4) == 4;
        } else if (strncmp(line, "P5 ", 3) == 0) {
            read_floats(line + 3, R->p5, 10);
        } else if (strncmp(line, "P68 ", 4) == 0) {
            read_floats(line + 4, R->p68, 136);
        } else if (line[0] == 'C') {
            R->have_chip = sscanf(line + 2, "%4095s", R->chip) == 1;
        } else if (line[0] == 'D') {
            R->have_d = read_floats(line + 2, R->d, 128) == 128;
        } else if (line[0] == 'R') {
            R->have_r = read_floats(line + 2, R->r, 128) == 128;
        } else if (line[0] == 'E') {
            have = 0; /* dlib cannot read this file (format dlib does not support): nothing to compare */
            n_dlib_unreadable++;
        }
    }
    if (have)
        check_record(R);
    int rc = pclose(p);
    CHECK_MSG(rc == 0, "oracle exited with %d", rc);
    CHECK_MSG(n_img + n_dlib_unreadable == npaths, "oracle reported %d of %d images", n_img + n_dlib_unreadable, npaths);
    fprintf(stderr,
            "images %d (load failures %d, unreadable by dlib %d), with a dlib HOG box %d, 150x150 chips %d\n"
            "worst: 5-pt %.3f px, 68-pt %.3f px, chip %.3f, desc(dlib chip) %.2e, desc(end to end) %.2e, "
            "desc(150x150 image) %.2e\n",
            n_img, n_load_fail, n_dlib_unreadable, n_box, n_r, worst_p5, worst_p68, worst_chip, worst_d, worst_e2e, worst_r);
    char rm[4300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmpdir);
    if (system(rm) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    free(R);
    free(cmd);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return test_finish();
}
