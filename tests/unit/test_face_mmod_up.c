/* MMOD with upsample = 1 (fm_detect_options.upsample) against dlib 19.24: tests/oracle/face_oracle --mmod-up runs
 * pyramid_up(img, pyramid_down<2>) + the CNN and maps the boxes back with rect_down, as dlib's
 * cnn_face_detection_model_v1 does with upsample_num_times = 1. Images: four small ones from ../shared/data/faces
 * and deepface img1.jpg scaled down (our area resize, written as PNG to a temporary file) so that its face is
 * too small for MMOD without upsampling. Asserts per image: same number of faces, each dlib box matched with
 * IoU >= 0.95 and score within 1e-3; and that the scaled-down image really needs the upsampling (dlib finds a face
 * only with it). Skips (77) when the data, the models or the oracle binary are absent. */
#include "test_face_data.h"

#include <stdlib.h>
#include <unistd.h>

/* parses "<n> l t r b score ..." after the tag; returns n (at most cap stored) */
static int parse_boxes(const char *s, float (*ref)[5], int cap)
{
    char *end;
    long n = strtol(s, &end, 10);
    int k = 0;
    for (long i = 0; i < n && k < cap; i++, k++)
        for (int j = 0; j < 5; j++) {
            ref[k][j] = strtof(end, &end);
        }
    return (int)n;
}

int main(void)
{
    const char *data = test_data_dir();
    if (!data)
        SKIP_ALL("../shared/data not found (set FM_DATA_DIR)");
    char models[4096], oracle[4200];
    if (fm_models_default_dir(models, sizeof models) != FM_OK)
        SKIP_ALL("no models directory");
    snprintf(oracle, sizeof oracle, "%s/tests/oracle/face_oracle", FM_BINARY_DIR);
    if (access(oracle, X_OK) != 0)
        SKIP_ALL("%s not built (needs libdlib-dev)", oracle);
    const char *rel[] = {"faces/face_recognition/examples/obama_small.jpg",
                         "faces/openface/images/examples-aligned/adams.png",
                         "faces/openface/images/examples-aligned/lennon-2.png",
                         "faces/faceapi-bbt/examples/images/stuart/stuart5.png"};
    enum { NREL = 4 };
    char paths[NREL + 1][4600];
    for (int i = 0; i < NREL; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", data, rel[i]);
        if (access(paths[i], R_OK) != 0)
            SKIP_ALL("%s not found", paths[i]);
    }
    fm_ctx *ctx = fm_ctx_create();
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    fm_engine *eng = NULL;
    fm_status st = fm_engine_create(ctx, &cfg, &eng);
    if (st == FM_ERR_IO)
        SKIP_ALL("MMOD model not found: %s", fm_ctx_errmsg(ctx));
    CHECK_STATUS(st, FM_OK);
    if (st != FM_OK)
        return test_finish();
    /* the small-face image: deepface img1 scaled to 120 px wide (its face about 56 px) */
    {
        char src[4600];
        snprintf(src, sizeof src, "%s/faces/deepface/tests/unit/dataset/img1.jpg", data);
        fm_image *img = NULL, *small = NULL;
        CHECK_STATUS(fm_image_load(ctx, src, FM_PIX_RGB24, &img, NULL), FM_OK);
        if (!img)
            return test_finish();
        int w = fm_image_width(img), h = fm_image_height(img);
        CHECK_STATUS(fm_image_resize(ctx, img, 120, (int)(120.0 * h / w + 0.5), FM_RESIZE_AREA, &small), FM_OK);
        size_t len = 0;
        fm_image_encode(ctx, small, FM_FORMAT_PNG, 0, NULL, 0, &len);
        uint8_t *buf = (uint8_t *)malloc(len);
        CHECK(buf != NULL);
        CHECK_STATUS(fm_image_encode(ctx, small, FM_FORMAT_PNG, 0, buf, len, &len), FM_OK);
        snprintf(paths[NREL], sizeof paths[NREL], "/tmp/fm_test_mmod_up_%d.png", (int)getpid());
        FILE *f = fopen(paths[NREL], "wb");
        CHECK(f && fwrite(buf, 1, len, f) == len);
        if (f)
            fclose(f);
        free(buf);
        fm_image_destroy(img);
        fm_image_destroy(small);
    }
    char cmd[30000];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "'%s' --models '%s' --mmod --mmod-up", oracle, models);
    for (int i = 0; i <= NREL; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s'", paths[i]);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p)
        return test_finish();
    static char ol[1 << 16];
    char cur[4600] = "";
    int checked = 0, faces = 0, plain_small = -1, up_small = -1;
    double worst_iou = 1, worst_score = 0;
    while (fgets(ol, sizeof ol, p)) {
        if (ol[0] == 'I') {
            int w, h;
            if (sscanf(ol + 2, "%4599s %d %d", cur, &w, &h) != 3)
                cur[0] = 0;
            continue;
        }
        const int is_small = strcmp(cur, paths[NREL]) == 0;
        if (ol[0] == 'M' && ol[1] == ' ' && is_small)
            plain_small = parse_boxes(ol + 2, NULL, 0);
        if (ol[0] != 'M' || ol[1] != 'U' || !cur[0])
            continue;
        float ref[32][5];
        int nref = parse_boxes(ol + 3, ref, 32);
        if (is_small)
            up_small = nref;
        fm_image *img = NULL;
        CHECK_STATUS(fm_image_load(ctx, cur, FM_PIX_RGB24, &img, NULL), FM_OK);
        if (!img)
            continue;
        fm_detect_options o;
        fm_detect_options_init(&o);
        o.detector = FM_DETECTOR_MMOD;
        o.upsample = 1;
        fm_face_box b[32];
        size_t got = 0;
        CHECK_STATUS(fm_detect(ctx, eng, img, &o, b, 32, &got), FM_OK);
        CHECK_MSG((long)got == nref, "%s: %zu faces, dlib finds %d", cur, got, nref);
        faces += test_check_boxes_vs_dlib(cur, b, got < 32 ? got : 32, (const float(*)[5])ref, nref < 32 ? nref : 32,
                                          &worst_iou, &worst_score);
        checked++;
        fm_image_destroy(img);
    }
    int rc = pclose(p);
    unlink(paths[NREL]);
    CHECK_MSG(rc == 0, "oracle exited with %d", rc);
    CHECK_MSG(checked == NREL + 1, "compared %d of %d images", checked, NREL + 1);
    CHECK_MSG(plain_small == 0 && up_small >= 1,
              "the scaled-down image should need upsampling: dlib finds %d faces without, %d with", plain_small,
              up_small);
    fprintf(stderr, "MMOD upsample=1: %d images, %d dlib faces, worst IoU %.4f, worst score diff %.2e\n", checked,
            faces, worst_iou, worst_score);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return test_finish();
}
