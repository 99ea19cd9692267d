/* Helpers shared by the face tests that run the dlib oracle (tests/oracle/face_oracle) on ../shared/data:
 * the image list of faces/identities.csv, dlib's box IoU and the per-image box check. Include after test.h. */
#ifndef FM_TEST_FACE_DATA_H
#define FM_TEST_FACE_DATA_H

#include "test.h"

#include <stdlib.h>
#include <string.h>

/* Fills paths[0..cap) with "<data>/<path>" for each row of <data>/faces/identities.csv (header skipped; malloc'd
 * strings, never freed by the tests). Returns the number of paths, -1 when the file is missing. */
static inline int test_read_identities(const char *data, char **paths, int cap)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/faces/identities.csv", data);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    char line[4096];
    int n = 0, first = 1;
    while (fgets(line, sizeof line, f) && n < cap) {
        if (first) {
            first = 0;
            continue;
        }
        char *c = strchr(line, ',');
        if (!c)
            continue;
        *c = 0;
        size_t len = strlen(data) + strlen(line) + 2;
        paths[n] = (char *)malloc(len);
        if (!paths[n])
            break;
        snprintf(paths[n], len, "%s/%s", data, line);
        n++;
    }
    fclose(f);
    return n;
}

/* IoU of two boxes {left, top, right, bottom} with dlib's inclusive pixel rectangles */
static inline double test_box_iou(const double a[4], const double b[4])
{
    double il = fmax(a[0], b[0]), it = fmax(a[1], b[1]), ir = fmin(a[2], b[2]), ib = fmin(a[3], b[3]);
    if (il > ir || it > ib)
        return 0;
    double in = (ir - il + 1) * (ib - it + 1);
    double aa = (a[2] - a[0] + 1) * (a[3] - a[1] + 1), ba = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
    return in / (aa + ba - in);
}

static inline double test_face_box_iou(const fm_face_box *f, const double ref[4])
{
    const double a[4] = {f->left, f->top, f->right, f->bottom};
    return test_box_iou(a, ref);
}

/* Each dlib box ref[i] = {l, t, r, b, score} must have one of our boxes with IoU >= 0.95 and a score within 1e-3
 * (the detector criterion). Updates the worst IoU / score difference seen; returns the number of dlib boxes. */
static inline int test_check_boxes_vs_dlib(const char *image, const fm_face_box *ours, size_t got,
                                           const float (*ref)[5], int nref, double *worst_iou, double *worst_score)
{
    for (int i = 0; i < nref; i++) {
        const double r[4] = {ref[i][0], ref[i][1], ref[i][2], ref[i][3]};
        double best = 0, ds = 1e9;
        for (size_t j = 0; j < got; j++) {
            double v = test_face_box_iou(&ours[j], r);
            if (v > best) {
                best = v;
                ds = fabs(ours[j].score - ref[i][4]);
            }
        }
        CHECK_MSG(best >= 0.95, "%s: dlib box %d best IoU %.3f", image, i, best);
        CHECK_MSG(ds <= 1e-3, "%s: dlib box %d score differs by %.2e", image, i, ds);
        *worst_iou = fmin(*worst_iou, best);
        *worst_score = fmax(*worst_score, ds);
    }
    return nref;
}

#endif
