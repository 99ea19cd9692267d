/* facematch compare A B: distance between the largest face of each image and the match decision. */
#include "face_cli.h"

#include <stdlib.h>
#include <string.h>

static int face_of(fm_ctx *ctx, fm_engine *eng, const face_cli_opts *o, const char *path, float *d, size_t *nfaces,
                   int *rc)
{
    fm_image *img = NULL;
    fm_face_box *faces = NULL;
    fm_status st = fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL);
    if (st != FM_OK) {
        *rc = cli_error("compare", st, "%s: %s", path, fm_ctx_errmsg(ctx));
        return -1;
    }
    st = face_cli_detect(ctx, eng, o, img, &faces, nfaces);
    if (st == FM_OK && *nfaces == 0) {
        *rc = cli_error("compare", FM_ERR_NO_FACE, "%s: no face found", path);
        st = FM_ERR_NO_FACE;
    } else if (st != FM_OK) {
        *rc = cli_error("compare", st, "%s: %s", path, fm_ctx_errmsg(ctx));
    } else {
        int k = face_cli_largest(faces, *nfaces);
        st = fm_embed_face(ctx, eng, FM_EMBED_DLIB, img, &faces[k], d, 128);
        if (st != FM_OK)
            *rc = cli_error("compare", st, "%s: %s", path, fm_ctx_errmsg(ctx));
    }
    free(faces);
    fm_image_destroy(img);
    return st == FM_OK ? 0 : -1;
}

int cmd_compare(int argc, char **argv)
{
    char dirbuf[4096];
    face_cli_opts o = {0};
    o.verify = 1;
    o.models_dir = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    int json = 0;
    static const char usage[] =
        "usage: facematch compare A B [--json] [--threshold T] [--models DIR] [--no-verify]\n"
        "                         [--detector photo|auto|fast|mmod|hog] [--refine N]\n"
        "Compares the largest face of image A with the largest face of image B (dlib ResNet 128-d,\n"
        "Euclidean distance; match when distance < threshold, default 0.6).\n"
        "JSON: {\"faces_a\":n,\"faces_b\":n,\"distance\":d,\"threshold\":t,\"match\":true|false}\n"
        "Detector (default photo): dlib's HOG, then MMOD when it finds no face; auto: fast (UltraFace),\n"
        "then MMOD. --refine N: N rounds of 5-point box refinement (README \"face\").\n"
        "Exit 0 match, 1 no match, 3 unreadable image or no face in an image, 4 models.\n";
    const char *pos[2] = {NULL};
    int rc0 = face_cli_args("compare", argc, argv, usage, &o, &json, pos, 2);
    if (rc0 >= 0)
        return rc0;
    const char *pa = pos[0];
    const char *pb = pos[1];
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("compare", FM_ERR_NO_MEMORY, "out of memory");
    fm_engine *eng = NULL;
    int rc = FM_EXIT_OK;
    float da[128], db[128];
    size_t na = 0, nb = 0;
    fm_status st = face_cli_engine(ctx, &o, 1, &eng);
    if (st != FM_OK) {
        rc = cli_error("compare", st, "models: %s", *fm_ctx_errmsg(ctx) ? fm_ctx_errmsg(ctx) : "no detector model");
        goto out;
    }
    if (face_of(ctx, eng, &o, pa, da, &na, &rc) || face_of(ctx, eng, &o, pb, db, &nb, &rc))
        goto out;
    fm_compare_result res;
    st = fm_compare(ctx, FM_EMBED_DLIB, da, db, 128, o.threshold, &res);
    if (st != FM_OK) {
        rc = cli_error("compare", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    if (json) {
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_int(&j, "faces_a", (long long)na);
        json_int(&j, "faces_b", (long long)nb);
        json_num(&j, "distance", res.distance);
        json_num(&j, "threshold", res.threshold);
        json_bool(&j, "match", res.match);
        json_num(&j, "similarity", res.similarity);
        json_obj_close(&j);
        json_end(&j);
    } else {
        printf("faces: %zu in A, %zu in B (largest of each compared)\ndistance %.4f, threshold %.4f: %s\n", na, nb,
               res.distance, res.threshold, res.match ? "MATCH" : "no match");
    }
    rc = res.match ? FM_EXIT_OK : FM_EXIT_FAIL;
out:
    fm_wipe(da, sizeof da);
    fm_wipe(db, sizeof db);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return rc;
}
