/* Face API behaviour: argument checks, malformed / mismatched model files, comparison semantics, thread-count
 * independence, no-face images. Model-dependent parts skip (with a message) when the models are absent. */
#include "test.h"

#include <stdint.h>

static fm_ctx *ctx;
static char models[4096];
static int have_models;

static uint8_t *slurp(const char *name, size_t *len)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", models, name);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = (uint8_t *)malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static fm_status load_mem(fm_model_id id, const void *data, size_t len, int verify)
{
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(id);
    cfg.verify_sha256 = verify;
    cfg.buffers[id] = data;
    cfg.sizes[id] = len;
    fm_engine *e = NULL;
    fm_status st = fm_engine_create(ctx, &cfg, &e);
    CHECK((st == FM_OK) == (e != NULL));
    fm_engine_destroy(e);
    return st;
}

static void test_compare(void)
{
    float a[128], b[128];
    for (int i = 0; i < 128; i++)
        a[i] = b[i] = (float)sin(i * 0.37) * 0.1f;
    fm_compare_result r;
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_DLIB, a, b, 128, 0, &r), FM_OK);
    CHECK_NEAR(r.distance, 0, 1e-12);
    CHECK(r.match == 1);
    CHECK_NEAR(r.threshold, 0.6, 1e-12);
    CHECK(r.similarity > 0.99);
    b[0] += 0.6f; /* distance exactly 0.6 (in float): not a match (distance < threshold required) */
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_DLIB, a, b, 128, 0, &r), FM_OK);
    CHECK_NEAR(r.distance, fabs((double)b[0] - a[0]), 1e-9);
    CHECK_NEAR(r.similarity, 1.0 / (1.0 + exp((r.distance - 0.6) * 22.0)), 1e-12);
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_DLIB, a, b, 128, 0.7, &r), FM_OK);
    CHECK(r.match == 1 && r.threshold == 0.7 && r.similarity > 0.5);
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_DLIB, a, b, 127, 0, &r), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_DLIB, NULL, b, 128, 0, &r), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_compare(ctx, (fm_embedder)7, a, b, 128, 0, &r), FM_ERR_INVALID_ARGUMENT);
    b[5] = NAN;
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_DLIB, a, b, 128, 0, &r), FM_ERR_INVALID_ARGUMENT);
    /* 512-d: 1 - cosine, scale invariant */
    float c[512], d[512];
    for (int i = 0; i < 512; i++) {
        c[i] = (float)cos(i * 0.1);
        d[i] = 3 * c[i];
    }
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_FR512, c, d, 512, 0, &r), FM_OK);
    CHECK_NEAR(r.distance, 0, 1e-6);
    for (int i = 0; i < 512; i++)
        d[i] = -c[i];
    CHECK_STATUS(fm_compare(ctx, FM_EMBED_FR512, c, d, 512, 0, &r), FM_OK);
    CHECK_NEAR(r.distance, 2, 1e-6);
    CHECK(r.match == 0);
    CHECK(fm_embedder_dim(FM_EMBED_DLIB) == 128 && fm_embedder_dim(FM_EMBED_FR512) == 512);
    CHECK(fm_default_threshold((fm_embedder)9) < 0);
}

static void test_args(void)
{
    fm_engine *e = NULL;
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    CHECK(cfg.verify_sha256 == 1 && cfg.models == FM_ENGINE_DEFAULT_MODELS);
    cfg.models = 1u << 30;
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_ERR_INVALID_ARGUMENT);
    CHECK(e == NULL);
    CHECK_STATUS(fm_engine_create(ctx, NULL, NULL), FM_ERR_INVALID_ARGUMENT);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5);
    cfg.models_dir = "/nonexistent/facematch-models";
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_ERR_IO);
    cfg.optional_missing = 1;
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_OK);
    CHECK(e && !fm_engine_has_model(e, FM_MODEL_DLIB_SP5));
    fm_image *img = NULL;
    CHECK_STATUS(fm_image_create(ctx, FM_PIX_RGB24, 64, 64, &img), FM_OK);
    fm_face_box box = {10, 10, 50, 50, 1};
    fm_point p[68];
    CHECK_STATUS(fm_landmarks(ctx, e, img, &box, 5, p), FM_ERR_MODEL_MISSING);
    CHECK_STATUS(fm_landmarks(ctx, e, img, &box, 6, p), FM_ERR_INVALID_ARGUMENT);
    fm_face_box bad = {10, 10, NAN, 50, 1};
    CHECK_STATUS(fm_landmarks(ctx, e, img, &bad, 5, p), FM_ERR_INVALID_ARGUMENT);
    size_t n = 99;
    fm_detect_options o;
    fm_detect_options_init(&o);
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_MODEL_MISSING);
    o.detector = FM_DETECTOR_MMOD;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_MODEL_MISSING);
    o.detector = (fm_detector)42;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_INVALID_ARGUMENT);
    float d[128];
    CHECK_STATUS(fm_embed_chip(ctx, e, FM_EMBED_DLIB, img, d, 128), FM_ERR_MODEL_MISSING);
    CHECK_STATUS(fm_embed_chip(ctx, e, FM_EMBED_DLIB, img, d, 64), FM_ERR_BUFFER_TOO_SMALL);
    /* chips need no model */
    fm_point five[5] = {{40, 20}, {33, 20}, {15, 20}, {22, 20}, {28, 35}};
    fm_image *chip = NULL;
    CHECK_STATUS(fm_face_chip(ctx, img, five, 5, 150, 0.25, &chip), FM_OK);
    CHECK(chip && fm_image_width(chip) == 150 && fm_image_height(chip) == 150 &&
          fm_image_pixfmt(chip) == FM_PIX_RGB24);
    fm_image_destroy(chip);
    chip = NULL;
    CHECK_STATUS(fm_face_chip(ctx, img, five, 4, 150, 0.25, &chip), FM_ERR_INVALID_ARGUMENT);
    CHECK(chip == NULL);
    CHECK_STATUS(fm_face_chip(ctx, img, five, 5, 150, -1, &chip), FM_ERR_INVALID_ARGUMENT);
    five[2].x = INFINITY;
    CHECK_STATUS(fm_face_chip(ctx, img, five, 5, 150, 0.25, &chip), FM_ERR_INVALID_ARGUMENT);
    fm_image_destroy(img);
    fm_engine_destroy(e);
}

/* An image that is a uniform colour: both points map to the same colour, so the chip (inside the image) is that
 * colour; outside the image dlib's chips are black. */
static void test_chip_uniform(void)
{
    fm_image *img = NULL;
    CHECK_STATUS(fm_image_create(ctx, FM_PIX_RGB24, 300, 300, &img), FM_OK);
    int stride;
    uint8_t *px = (uint8_t *)fm_image_plane(img, 0, &stride);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 300; x++) {
            px[y * stride + 3 * x] = 200;
            px[y * stride + 3 * x + 1] = 100;
            px[y * stride + 3 * x + 2] = 50;
        }
    /* an upright face of ~60 px in the middle: chip lies inside the image */
    fm_point five[5] = {{180, 130}, {163, 131}, {120, 130}, {137, 131}, {150, 160}};
    fm_image *chip = NULL;
    CHECK_STATUS(fm_face_chip(ctx, img, five, 5, 150, 0.25, &chip), FM_OK);
    if (chip) {
        int cs;
        const uint8_t *c = fm_image_plane(chip, 0, &cs);
        int bad = 0;
        for (int y = 0; y < 150; y++)
            for (int x = 0; x < 150; x++)
                bad += c[y * cs + 3 * x] != 200 || c[y * cs + 3 * x + 1] != 100 || c[y * cs + 3 * x + 2] != 50;
        CHECK_MSG(bad == 0, "%d chip pixels differ from the uniform colour", bad);
        fm_image_destroy(chip);
    }
    /* face near the corner: part of the chip falls outside and is black */
    fm_point corner[5] = {{30, 10}, {13, 11}, {-30, 10}, {-13, 11}, {0, 40}};
    CHECK_STATUS(fm_face_chip(ctx, img, corner, 5, 150, 0.25, &chip), FM_OK);
    if (chip) {
        int cs;
        const uint8_t *c = fm_image_plane(chip, 0, &cs);
        CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0);
        CHECK(c[149 * cs + 3 * 149] == 200);
        fm_image_destroy(chip);
    }
    fm_image_destroy(img);
}

static void test_bad_models(void)
{
    if (!have_models) {
        fprintf(stderr, "SKIP part: dlib models not found in %s\n", models);
        return;
    }
    size_t n5, nr;
    uint8_t *sp5 = slurp("shape_predictor_5_face_landmarks.dat", &n5);
    uint8_t *rn = slurp("dlib_face_recognition_resnet_model_v1.dat", &nr);
    REQUIRE(sp5 && rn);
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_SP5, sp5, n5, 1), FM_OK);
    /* truncated everywhere along the file: always a clean FM_ERR_MODEL_INVALID */
    for (size_t cut = 0; cut < n5; cut += n5 / 97 + 1)
        CHECK_STATUS(load_mem(FM_MODEL_DLIB_SP5, sp5, cut, 0), FM_ERR_MODEL_INVALID);
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_SP5, sp5, n5 - 1, 0), FM_ERR_MODEL_INVALID);
    CHECK(strstr(fm_ctx_errmsg(ctx), "ends early") != NULL);
    /* the right file in the wrong slot */
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_RESNET, sp5, n5, 0), FM_ERR_MODEL_INVALID);
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_SP68, sp5, n5, 0), FM_ERR_MODEL_INVALID);
    CHECK_MSG(strstr(fm_ctx_errmsg(ctx), "expected 68") != NULL, "%s", fm_ctx_errmsg(ctx));
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_MMOD, rn, nr, 0), FM_ERR_MODEL_INVALID);
    CHECK_MSG(strstr(fm_ctx_errmsg(ctx), "loss_mmod_") != NULL, "%s", fm_ctx_errmsg(ctx));
    /* hash check */
    sp5[n5 / 2] ^= 1;
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_SP5, sp5, n5, 1), FM_ERR_MODEL_HASH);
    sp5[n5 / 2] ^= 1;
    /* ResNet: a layer's name corrupted */
    uint8_t *rc = (uint8_t *)malloc(nr);
    memcpy(rc, rn, nr);
    for (size_t i = 0; i + 5 < nr; i++)
        if (memcmp(rc + i, "con_4", 5) == 0) { /* the file was saved by an older dlib: con_4 */
            rc[i + 4] = '9';
            break;
        }
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_RESNET, rc, nr, 0), FM_ERR_MODEL_INVALID);
    CHECK_MSG(strstr(fm_ctx_errmsg(ctx), "con_9") != NULL && strstr(fm_ctx_errmsg(ctx), "expected") != NULL, "%s",
              fm_ctx_errmsg(ctx));
    /* trailing garbage */
    uint8_t *rx = (uint8_t *)malloc(nr + 1);
    memcpy(rx, rn, nr);
    rx[nr] = 0;
    CHECK_STATUS(load_mem(FM_MODEL_DLIB_RESNET, rx, nr + 1, 0), FM_ERR_MODEL_INVALID);
    free(rx);
    free(rc);
    free(sp5);
    free(rn);
}

static void test_threads_and_noface(void)
{
    if (!have_models)
        return;
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    fm_engine *e = NULL;
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_OK);
    if (!e)
        return;
    fm_image *img = NULL;
    CHECK_STATUS(fm_image_create(ctx, FM_PIX_RGB24, 150, 150, &img), FM_OK);
    int stride;
    uint8_t *px = (uint8_t *)fm_image_plane(img, 0, &stride);
    uint32_t s = 12345;
    for (int i = 0; i < 150 * stride; i++) {
        s = s * 1103515245u + 12345u;
        px[i] = (uint8_t)(s >> 24);
    }
    float d1[128], d2[128];
    CHECK_STATUS(fm_embed_chip(ctx, e, FM_EMBED_DLIB, img, d1, 128), FM_OK);
    fm_ctx_set(ctx, FM_PARAM_THREADS, 2);
    CHECK_STATUS(fm_embed_chip(ctx, e, FM_EMBED_DLIB, img, d2, 128), FM_OK);
    fm_ctx_set(ctx, FM_PARAM_THREADS, 1);
    double md = 0;
    for (int i = 0; i < 128; i++)
        md = fmax(md, fabs((double)d1[i] - d2[i]));
    CHECK_MSG(md < 1e-5, "threads change the descriptor by %g", md);
    /* uniform grey: MMOD finds nothing */
    memset(px, 128, (size_t)150 * stride);
    fm_detect_options o;
    fm_detect_options_init(&o);
    o.detector = FM_DETECTOR_MMOD;
    size_t n = 99;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_OK);
    CHECK(n == 0);
    fm_image_destroy(img);
    fm_engine_destroy(e);
}

/* Options of the detectors, and the per-ctx network scratch: detections with a ctx whose scratch is reused, a fresh
 * ctx and no ctx at all give the same boxes. */
static void test_detect_options_and_scratch(void)
{
    if (!have_models)
        return;
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    fm_engine *e = NULL;
    CHECK_STATUS(fm_engine_create(ctx, &cfg, &e), FM_OK);
    if (!e)
        return;
    fm_image *img = NULL;
    CHECK_STATUS(fm_image_create(ctx, FM_PIX_RGB24, 64, 64, &img), FM_OK);
    size_t n = 99;
    fm_detect_options o;
    fm_detect_options_init(&o);
    CHECK(o.detector == FM_DETECTOR_FAST && o.refine == 0 && o.upsample == 0);
    o.refine = FM_DETECT_MAX_REFINE + 1;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_INVALID_ARGUMENT);
    o.refine = -1;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_INVALID_ARGUMENT);
    o.refine = 1; /* no 5-point predictor loaded */
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_MODEL_MISSING);
    o.refine = 0;
    o.detector = FM_DETECTOR_PHOTO; /* no HOG model loaded */
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_MODEL_MISSING);
    o.detector = FM_DETECTOR_MMOD;
    o.upsample = 2;
    CHECK_STATUS(fm_detect(ctx, e, img, &o, NULL, 0, &n), FM_ERR_INVALID_ARGUMENT);
    fm_image_destroy(img);
    img = NULL;
    const char *data = test_data_dir();
    char path[4600];
    if (data) {
        snprintf(path, sizeof path, "%s/faces/deepface/tests/unit/dataset/img1.jpg", data);
        if (fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL) != FM_OK)
            img = NULL;
    }
    if (img) {
        fm_detect_options_init(&o);
        fm_face_box a[8], b[8], c[8];
        size_t na = 0, nb = 0, nc = 0;
        fm_ctx *fresh = fm_ctx_create();
        CHECK_STATUS(fm_detect(ctx, e, img, &o, a, 8, &na), FM_OK);
        CHECK_STATUS(fm_detect(ctx, e, img, &o, b, 8, &nb), FM_OK); /* scratch reused */
        CHECK_STATUS(fm_detect(NULL, e, img, &o, c, 8, &nc), FM_OK); /* no ctx: local scratch */
        CHECK(na >= 1 && na == nb && na == nc);
        for (size_t i = 0; i < na && i < 8; i++)
            CHECK(memcmp(&a[i], &b[i], sizeof a[i]) == 0 && memcmp(&a[i], &c[i], sizeof a[i]) == 0);
        CHECK_STATUS(fm_detect(fresh, e, img, &o, c, 8, &nc), FM_OK);
        CHECK(nc == na && memcmp(&a[0], &c[0], sizeof a[0]) == 0);
        fm_ctx_destroy(fresh);
        fm_image_destroy(img);
    }
    fm_engine_destroy(e);
}

int main(void)
{
    ctx = fm_ctx_create();
    if (fm_models_default_dir(models, sizeof models) == FM_OK) {
        char p[4400];
        snprintf(p, sizeof p, "%s/shape_predictor_5_face_landmarks.dat", models);
        FILE *f = fopen(p, "rb");
        have_models = f != NULL;
        if (f)
            fclose(f);
    }
    RUN(test_compare);
    RUN(test_args);
    RUN(test_chip_uniform);
    RUN(test_bad_models);
    RUN(test_threads_and_noface);
    RUN(test_detect_options_and_scratch);
    fm_ctx_destroy(ctx);
    return test_finish();
}
