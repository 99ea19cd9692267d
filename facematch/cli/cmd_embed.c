/* facematch embed IMG: every face with its box, score, 5 landmarks and 128-d dlib descriptor. */
#include "face_cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_embed(int argc, char **argv)
{
    char dirbuf[4096];
    face_cli_opts o = {0};
    o.verify = 1;
    o.models_dir = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    int json = 0;
    static const char usage[] =
        "usage: facematch embed IMG [--json] [--models DIR] [--detector photo|auto|fast|mmod|hog] [--no-verify]\n"
        "Detects every face in IMG and prints, per face (best score first): the box [l,t,r,b] (inclusive\n"
        "dlib convention), the detector score, the 5 dlib landmarks and the 128-d dlib descriptor.\n"
        "JSON: {\"faces\":[{\"box\":[l,t,r,b],\"score\":s,\"landmarks\":[[x,y],...],\"descriptor\":[...]}]}\n"
        "Detector (default photo): dlib's HOG, then MMOD when it finds no face; auto: fast (UltraFace),\n"
        "then MMOD. --refine N: N rounds of 5-point box refinement (README \"face\").\n"
        "Exit 0, 3 bad image, 4 models.\n";
    const char *pos[1] = {NULL};
    int rc0 = face_cli_args("embed", argc, argv, usage, &o, &json, pos, 1);
    if (rc0 >= 0)
        return rc0;
    const char *path = pos[0];
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("embed", FM_ERR_NO_MEMORY, "out of memory");
    fm_engine *eng = NULL;
    fm_image *img = NULL;
    fm_face_box *faces = NULL;
    size_t n = 0;
    int rc = FM_EXIT_OK;
    fm_status st = face_cli_engine(ctx, &o, 1, &eng);
    if (st != FM_OK) {
        rc = cli_error("embed", st, "models: %s", st == FM_ERR_MODEL_MISSING && !*fm_ctx_errmsg(ctx)
                                                      ? "no face detector model found"
                                                      : fm_ctx_errmsg(ctx));
        goto out;
    }
    st = fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL);
    if (st != FM_OK) {
        rc = cli_error("embed", st, "%s: %s", path, fm_ctx_errmsg(ctx));
        goto out;
    }
    st = face_cli_detect(ctx, eng, &o, img, &faces, &n);
    if (st != FM_OK) {
        rc = cli_error("embed", st, "%s: %s", path, fm_ctx_errmsg(ctx));
        goto out;
    }
    cli_json j;
    if (json) {
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_arr_open(&j, "faces");
    } else {
        printf("%s: %zu face%s\n", path, n, n == 1 ? "" : "s");
    }
    for (size_t k = 0; k < n; k++) {
        fm_point p[5];
        float d[128];
        st = fm_landmarks(ctx, eng, img, &faces[k], 5, p);
        if (st == FM_OK)
            st = fm_embed_face(ctx, eng, FM_EMBED_DLIB, img, &faces[k], d, 128);
        if (st != FM_OK) {
            if (json)
                json_end(&j);
            rc = cli_error("embed", st, "%s: face %zu: %s", path, k, fm_ctx_errmsg(ctx));
            goto out;
        }
        if (json) {
            json_obj_open(&j, NULL);
            json_arr_open(&j, "box");
            json_num(&j, NULL, faces[k].left);
            json_num(&j, NULL, faces[k].top);
            json_num(&j, NULL, faces[k].right);
            json_num(&j, NULL, faces[k].bottom);
            json_arr_close(&j);
            json_num(&j, "score", faces[k].score);
            json_arr_open(&j, "landmarks");
            for (int i = 0; i < 5; i++) {
                json_arr_open(&j, NULL);
                json_num(&j, NULL, p[i].x);
                json_num(&j, NULL, p[i].y);
                json_arr_close(&j);
            }
            json_arr_close(&j);
            json_arr_open(&j, "descriptor");
            for (int i = 0; i < 128; i++)
                json_num(&j, NULL, d[i]);
            json_arr_close(&j);
            json_obj_close(&j);
        } else {
            printf("face %zu: box [%g %g %g %g] score %.4f landmarks", k, faces[k].left, faces[k].top, faces[k].right,
                   faces[k].bottom, faces[k].score);
            for (int i = 0; i < 5; i++)
                printf(" (%g,%g)", p[i].x, p[i].y);
            printf("\n  descriptor:");
            for (int i = 0; i < 128; i++)
                printf(" %.6f", d[i]);
            printf("\n");
        }
        fm_wipe(d, sizeof d);
    }
    if (json) {
        json_arr_close(&j);
        json_obj_close(&j);
        json_end(&j);
    }
out:
    free(faces);
    fm_image_destroy(img);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return rc;
}
