/* The HOG frontal face detector (FM_DETECTOR_HOG, facematch/src/face/hog.c):
 *   - fHOG features against a naive double-precision implementation of the same definition on random images;
 *   - malformed model files (truncated, wrong versions, wrong sizes, trailing bytes) -> FM_ERR_MODEL_INVALID;
 *   - a missing model -> FM_ERR_MODEL_MISSING from fm_detect(HOG) while the other detectors keep working;
 *   - against dlib 19.24 itself (tests/oracle/face_oracle --hog-scores, dlib::get_frontal_face_detector()) on every
 *     image of ../shared/data/faces/identities.csv that dlib can read: same number of faces, each box IoU >= 0.95
 *     with dlib's (in dlib's order), detection confidence within 1e-3.
 * Parts needing the model, the data or the oracle binary skip (the whole test exits 77 when nothing could run). */
#include "test_face_data.h"

#include "face/hog.h"

#include <stdint.h>
#include <unistd.h>

static fm_ctx *ctx;

/* ---- naive fHOG (double), same definition as dlib's extract_fhog_features for RGB ---------------------------- */

static void naive_fhog(const uint8_t *img, int w, int h, int cell, int pad, double *out, int *prow, int *pcol)
{
    static const double DX[9] = {1.0000, 0.9397, 0.7660, 0.500, 0.1736, -0.1736, -0.5000, -0.7660, -0.9397};
    static const double DY[9] = {0.0000, 0.3420, 0.6428, 0.8660, 0.9848, 0.9848, 0.8660, 0.6428, 0.3420};
    int cnr = (int)floor((double)h / cell + 0.5), cnc = (int)floor((double)w / cell + 0.5);
    int hnr = cnr - 2, hnc = cnc - 2;
    *prow = hnr + pad - 1;
    *pcol = hnc + pad - 1;
    size_t plane = (size_t)*prow * *pcol;
    memset(out, 0, plane * 31 * sizeof(double));
    double *hist = (double *)calloc((size_t)(cnr + 2) * (cnc + 2) * 18, sizeof(double));
    double *norm = (double *)calloc((size_t)cnr * cnc, sizeof(double));
    int vnr = (cnr * cell < h ? cnr * cell : h) - 1, vnc = (cnc * cell < w ? cnc * cell : w) - 1;
    for (int y = 1; y < vnr; y++)
        for (int x = 1; x < vnc; x++) {
            /* channel with the largest gradient; ties: later channel inside dlib's 8-wide blocks, earlier after */
            /* block membership as in dlib's loop `for (x = 1; x < vnc - 7; x += 8)` */
            int xb = 1;
            while (xb < vnc - 7)
                xb += 8;
            const int later = x < xb;
            double gx = 0, gy = 0, best = -1;
            for (int c = 0; c < 3; c++) {
                const uint8_t *p = img + ((size_t)y * w + x) * 3 + c;
                double ax = (double)p[3] - p[-3], ay = (double)p[3 * (size_t)w] - p[-3 * (ptrdiff_t)w];
                double l = ax * ax + ay * ay;
                if (c == 0 || (later ? l >= best : l > best)) {
                    gx = ax;
                    gy = ay;
                    best = l;
                }
            }
            double bd = 0;
            int bo = 0;
            for (int o = 0; o < 9; o++) {
                double d = DX[o] * gx + DY[o] * gy;
                if (d > bd) {
                    bd = d;
                    bo = o;
                } else if (-d > bd) {
                    bd = -d;
                    bo = o + 9;
                }
            }
            double v = sqrt(best);
            double xp = (x + 0.5) / cell - 0.5, yp = (y + 0.5) / cell - 0.5;
            int ixp = (int)floor(xp), iyp = (int)floor(yp);
            double vx0 = xp - ixp, vy0 = yp - iyp;
            hist[((size_t)(iyp + 1) * (cnc + 2) + ixp + 1) * 18 + bo] += (1 - vy0) * (1 - vx0) * v;
            hist[((size_t)(iyp + 2) * (cnc + 2) + ixp + 1) * 18 + bo] += vy0 * (1 - vx0) * v;
            hist[((size_t)(iyp + 1) * (cnc + 2) + ixp + 2) * 18 + bo] += (1 - vy0) * vx0 * v;
            hist[((size_t)(iyp + 2) * (cnc + 2) + ixp + 2) * 18 + bo] += vy0 * vx0 * v;
        }
    for (int r = 0; r < cnr; r++)
        for (int c = 0; c < cnc; c++) {
            const double *H = hist + ((size_t)(r + 1) * (cnc + 2) + c + 1) * 18;
            for (int o = 0; o < 9; o++)
                norm[(size_t)r * cnc + c] += (H[o] + H[o + 9]) * (H[o] + H[o + 9]);
        }
    int off = (pad - 1) / 2;
    for (int y = 0; y < hnr; y++)
        for (int x = 0; x < hnc; x++) {
            /* the four 2x2 blocks around cell (y+1, x+1) */
            double nn[4];
            int by[4] = {1, 0, 1, 0}, bx[4] = {1, 1, 0, 0};
            for (int k = 0; k < 4; k++) {
                int y0 = y + by[k], x0 = x + bx[k];
                double s = norm[(size_t)y0 * cnc + x0] + norm[(size_t)y0 * cnc + x0 + 1] +
                           norm[(size_t)(y0 + 1) * cnc + x0] + norm[(size_t)(y0 + 1) * cnc + x0 + 1] + 0.0001;
                nn[k] = 1.0 / sqrt(s);
            }
            const double *H = hist + ((size_t)(y + 2) * (cnc + 2) + x + 2) * 18;
            double *o0 = out + (size_t)(y + off) * *pcol + (x + off);
            double t[4] = {0, 0, 0, 0};
            for (int o = 0; o < 18; o++) {
                double s = 0;
                for (int k = 0; k < 4; k++) {
                    double hk = fmin(H[o] * nn[k], 0.2) * 0.5;
                    s += hk;
                    t[k] += hk;
                }
                o0[(size_t)o * plane] = s;
            }
            for (int o = 0; o < 9; o++) {
                double s = 0;
                for (int k = 0; k < 4; k++)
                    s += fmin((H[o] + H[o + 9]) * nn[k], 0.2) * 0.5;
                o0[(size_t)(o + 18) * plane] = s;
            }
            for (int k = 0; k < 4; k++)
                o0[(size_t)(27 + k) * plane] = t[k] * 0.4714;
        }
    free(hist);
    free(norm);
}

static void test_fhog_vs_naive(void)
{
    uint32_t seed = 12345;
    const int sizes[][2] = {{64, 64}, {97, 71}, {250, 250}, {133, 200}, {41, 300}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        uint8_t *img = (uint8_t *)malloc((size_t)w * h * 3);
        /* smooth random blobs plus noise: realistic gradients, some channel ties */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    seed = seed * 1664525u + 1013904223u;
                    double v = 128 + 80 * sin(x * 0.11 + c) * cos(y * 0.07 - c) + (double)(seed >> 28);
                    img[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
        int R, C, R2, C2;
        size_t need = fm_fhog_extract(img, w, h, w * 3, 8, 10, 10, NULL, 0, NULL, 0, &R, &C);
        REQUIRE(need > 0);
        size_t wk = fm_fhog_work_size(w, h, 8);
        float *f = (float *)malloc(need * sizeof(float)), *work = (float *)malloc(wk * sizeof(float));
        double *g = (double *)malloc(need * sizeof(double));
        CHECK(fm_fhog_extract(img, w, h, w * 3, 8, 10, 10, f, need, work, wk, &R, &C) == need);
        naive_fhog(img, w, h, 8, 10, g, &R2, &C2);
        CHECK(R == R2 && C == C2);
        double maxd = 0, sum = 0;
        size_t big = 0;
        for (size_t i = 0; i < need; i++) {
            double d = fabs(f[i] - g[i]);
            maxd = fmax(maxd, d);
            sum += d;
            big += d > 1e-4;
        }
        fprintf(stderr, "  fhog %dx%d: %zu values, max |diff| %.3g, mean %.3g, %zu above 1e-4\n", w, h, need, maxd,
                sum / need, big);
        /* float vs double rounding only: an orientation bin decided differently by a near tie would show up as a
         * difference of the size of a whole pixel's vote (~1e-2) */
        CHECK_MSG(maxd < 1e-4, "max difference %g", maxd);
        free(img);
        free(f);
        free(work);
        free(g);
    }
}

/* ---- malformed models -------------------------------------------------------------------------------------- */

static uint8_t *model;
static size_t model_len;

static int load_model(void)
{
    char dir[4096], path[4200];
    if (fm_models_default_dir(dir, sizeof dir) != FM_OK)
        return -1;
    snprintf(path, sizeof path, "%s/dlib_frontal_face_detector.dat", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    model = (uint8_t *)malloc((size_t)n);
    model_len = fread(model, 1, (size_t)n, f);
    fclose(f);
    return model_len == (size_t)n ? 0 : -1;
}

static fm_status engine_from(const uint8_t *data, size_t len, fm_engine **e)
{
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_HOG);
    cfg.buffers[FM_MODEL_DLIB_HOG] = data;
    cfg.sizes[FM_MODEL_DLIB_HOG] = len;
    cfg.verify_sha256 = 0;
    return fm_engine_create(ctx, &cfg, e);
}

static void test_malformed(void)
{
    fm_engine *e = NULL;
    /* the real file loads, with its SHA-256 check on */
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_HOG);
    cfg.buffers[FM_MODEL_DLIB_HOG] = model;
    cfg.sizes[FM_MODEL_DLIB_HOG] = model_len;
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_OK);
    CHECK(fm_engine_has_model(e, FM_MODEL_DLIB_HOG));
    fm_engine_destroy(e);
    /* every truncation fails cleanly */
    int bad = 0, n = 0;
    for (size_t cut = 0; cut < model_len; cut += (cut < 200 ? 1 : 997)) {
        e = NULL;
        fm_status st = engine_from(model, cut, &e);
        n++;
        if (st != FM_ERR_MODEL_INVALID || e)
            bad++;
        fm_engine_destroy(e);
    }
    CHECK_MSG(bad == 0, "%d of %d truncations not rejected with FM_ERR_MODEL_INVALID", bad, n);
    uint8_t *m = (uint8_t *)malloc(model_len + 1);
    /* wrong object_detector version (byte 1 = 2) */
    memcpy(m, model, model_len);
    m[1] = 3;
    CHECK_STATUS(engine_from(m, model_len, &e), FM_ERR_MODEL_INVALID);
    CHECK(strstr(fm_ctx_errmsg(ctx), "version") != NULL);
    /* wrong scanner version (byte 3) */
    memcpy(m, model, model_len);
    m[3] = 2;
    CHECK_STATUS(engine_from(m, model_len, &e), FM_ERR_MODEL_INVALID);
    /* cell size 8 -> 1 (bytes 8-9: 01 08) */
    memcpy(m, model, model_len);
    CHECK(m[8] == 1 && m[9] == 8);
    m[9] = 1;
    CHECK_STATUS(engine_from(m, model_len, &e), FM_ERR_MODEL_INVALID);
    /* window width 80 -> 200 (bytes 12-13): 25 cells wide, 25*10*31 != the stored 3100 dimensions */
    memcpy(m, model, model_len);
    CHECK(m[12] == 1 && m[13] == 80);
    m[13] = 200;
    CHECK_STATUS(engine_from(m, model_len, &e), FM_ERR_MODEL_INVALID);
    CHECK(strstr(fm_ctx_errmsg(ctx), "dimensions") != NULL);
    /* a trailing byte */
    memcpy(m, model, model_len);
    m[model_len] = 0;
    CHECK_STATUS(engine_from(m, model_len + 1, &e), FM_ERR_MODEL_INVALID);
    CHECK(strstr(fm_ctx_errmsg(ctx), "trailing") != NULL);
    /* flipped bytes anywhere: never a crash; either loads or FM_ERR_MODEL_INVALID */
    uint32_t seed = 7;
    int odd = 0;
    for (int k = 0; k < 300; k++) {
        memcpy(m, model, model_len);
        seed = seed * 1664525u + 1013904223u;
        m[(seed >> 8) % 200] ^= (uint8_t)(1u << (seed & 7));
        e = NULL;
        fm_status st = engine_from(m, model_len, &e);
        if (st != FM_OK && st != FM_ERR_MODEL_INVALID)
            odd++;
        fm_engine_destroy(e);
    }
    CHECK(odd == 0);
    /* hash check on: a modified file is rejected as FM_ERR_MODEL_HASH */
    memcpy(m, model, model_len);
    m[model_len - 1] ^= 1;
    cfg.buffers[FM_MODEL_DLIB_HOG] = m;
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_ERR_MODEL_HASH);
    free(m);
}

static void test_missing_model(void)
{
    /* an engine without the HOG model: HOG fails with FM_ERR_MODEL_MISSING, MMOD still answers */
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    fm_engine *e = NULL;
    if (fm_engine_create(ctx, &cfg, &e) != FM_OK) {
        fprintf(stderr, "  (MMOD model absent: missing-model check skipped)\n");
        return;
    }
    fm_image *img = NULL;
    REQUIRE(fm_image_create(ctx, FM_PIX_RGB24, 200, 200, &img) == FM_OK);
    fm_detect_options o;
    fm_detect_options_init(&o);
    o.detector = FM_DETECTOR_HOG;
    size_t n = 9;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_MODEL_MISSING);
    CHECK(strstr(fm_ctx_errmsg(ctx), "dlib_frontal_face_detector.dat") != NULL);
    o.detector = FM_DETECTOR_MMOD;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_OK);
    fm_image_destroy(img);
    fm_engine_destroy(e);
}

/* odd sizes: tiny, thin and non-multiple-of-8 images give no crash and a clean status (no faces in noise) */
static void test_odd_sizes(void)
{
    fm_engine *e = NULL;
    CHECK_STATUS(engine_from(model, model_len, &e), FM_OK);
    if (!e)
        return;
    const int sizes[][2] = {{1, 1}, {2, 2}, {3, 3}, {8, 8}, {17, 17}, {23, 24}, {80, 80}, {81, 97}, {700, 3},
                            {3, 700}, {64, 400}, {333, 65}};
    uint32_t seed = 99;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        fm_image *img = NULL;
        REQUIRE(fm_image_create(ctx, FM_PIX_RGB24, sizes[s][0], sizes[s][1], &img) == FM_OK);
        int stride = 0;
        uint8_t *p = fm_image_pixels(img, 0, &stride);
        for (int y = 0; y < sizes[s][1]; y++)
            for (int x = 0; x < 3 * sizes[s][0]; x++) {
                seed = seed * 1664525u + 1013904223u;
                p[(size_t)y * stride + x] = (uint8_t)(seed >> 24);
            }
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = FM_DETECTOR_HOG;
        o.min_score = -0.5f; /* a lower threshold exercises the scan and NMS on noise */
        fm_face_box f[32];
        size_t n = 0;
        CHECK_STATUS(fm_detect(ctx, e, img, &o, f, 32, &n), FM_OK);
        o.upsample = 1;
        CHECK_STATUS(fm_detect(ctx, e, img, &o, f, 32, &n), FM_ERR_UNSUPPORTED);
        fm_image_destroy(img);
    }
    fm_engine_destroy(e);
}

/* ---- against dlib ------------------------------------------------------------------------------------------------ */

#define MAXIMG 4096
static char *paths[MAXIMG];
static int npaths;

static void test_vs_dlib(fm_engine *eng, const char *data)
{
    char oracle[4200];
    snprintf(oracle, sizeof oracle, "%s/tests/oracle/face_oracle", FM_BINARY_DIR);
    if (access(oracle, X_OK) != 0) {
        fprintf(stderr, "SKIP part: %s not built (needs libdlib-dev)\n", oracle);
        return;
    }
    if ((npaths = test_read_identities(data, paths, MAXIMG)) <= 0) {
        fprintf(stderr, "SKIP part: faces/identities.csv not found\n");
        return;
    }
    size_t cap = 1 << 20, len = 0;
    char *cmd = (char *)malloc(cap);
    len += (size_t)snprintf(cmd, cap, "'%s' --hog-scores", oracle);
    for (int i = 0; i < npaths && len + strlen(paths[i]) + 8 < cap; i++)
        len += (size_t)snprintf(cmd + len, cap - len, " '%s'", paths[i]);
    FILE *p = popen(cmd, "r");
    REQUIRE(p != NULL);
    static char line[1 << 16];
    char path[4096] = "";
    int w = 0, h = 0, nimg = 0, nfaces = 0, identical = 0, unreadable = 0;
    double worst_iou = 1, worst_score = 0;
    while (fgets(line, sizeof line, p)) {
        if (line[0] == 'I' && line[1] == ' ') {
            if (sscanf(line + 2, "%4095s %d %d", path, &w, &h) != 3)
                path[0] = 0;
            continue;
        }
        if (line[0] == 'E') {
            unreadable++;
            continue;
        }
        if (strncmp(line, "HS ", 3) != 0)
            continue;
        char *s = line + 3, *end;
        long n = strtol(s, &end, 10);
        s = end;
        double (*d)[6] = (double (*)[6])calloc((size_t)(n ? n : 1), sizeof *d);
        for (long i = 0; i < n; i++)
            for (int k = 0; k < 6; k++) {
                d[i][k] = strtod(s, &end);
                s = end;
            }
        nimg++;
        fm_image *img = NULL;
        if (fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL) != FM_OK) {
            CHECK_MSG(0, "%s: %s", path, fm_ctx_errmsg(ctx));
            free(d);
            continue;
        }
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = FM_DETECTOR_HOG;
        fm_face_box faces[64];
        size_t got = 0;
        CHECK_STATUS(fm_detect(ctx, eng, img, &o, faces, 64, &got), FM_OK);
        CHECK_MSG((long)got == n, "%s: %zu faces, dlib %ld", path, got, n);
        if ((long)got == n) {
            int same = 1;
            for (long i = 0; i < n; i++) {
                double q = test_face_box_iou(&faces[i], d[i]), ds = fabs(d[i][4] - faces[i].score);
                worst_iou = fmin(worst_iou, q);
                worst_score = fmax(worst_score, ds);
                same &= d[i][0] == faces[i].left && d[i][1] == faces[i].top && d[i][2] == faces[i].right &&
                        d[i][3] == faces[i].bottom;
                CHECK_MSG(q >= 0.95, "%s face %ld: IoU %.3f with dlib's box", path, i, q);
                CHECK_MSG(ds <= 1e-3, "%s face %ld: score %.6f vs dlib %.6f", path, i, faces[i].score, d[i][4]);
            }
            identical += same;
            nfaces += (int)n;
        }
        fm_image_destroy(img);
        free(d);
    }
    int rc = pclose(p);
    CHECK_MSG(rc == 0, "oracle exited with %d", rc);
    CHECK_MSG(nimg + unreadable == npaths, "oracle reported %d of %d images", nimg + unreadable, npaths);
    fprintf(stderr,
            "  vs dlib: %d images (%d unreadable by dlib), %d faces, %d images with identical boxes, worst IoU %.4f, "
            "worst |score diff| %.2g\n",
            nimg, unreadable, nfaces, identical, worst_iou, worst_score);
    free(cmd);
}

int main(void)
{
    ctx = fm_ctx_create();
    if (!ctx)
        return 1;
    RUN(test_fhog_vs_naive);
    if (load_model() != 0) {
        fprintf(stderr, "SKIP part: dlib_frontal_face_detector.dat not in the models directory (run models/fetch)\n");
        test_finish();
        return t_failures ? 1 : TEST_SKIP_CODE;
    }
    RUN(test_malformed);
    RUN(test_missing_model);
    RUN(test_odd_sizes);
    const char *data = test_data_dir();
    if (!data) {
        fprintf(stderr, "SKIP part: ../shared/data not found (set FM_DATA_DIR)\n");
    } else {
        fm_engine_config cfg;
        fm_engine_config_init(&cfg);
        cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_HOG);
        fm_engine *eng = NULL;
        CHECK_STATUS(fm_engine_create(ctx, &cfg, &eng), FM_OK);
        if (eng)
            test_vs_dlib(eng, data);
        fm_engine_destroy(eng);
    }
    free(model);
    fm_ctx_destroy(ctx);
    return test_finish();
}
