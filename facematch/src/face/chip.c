/* Face chips. The dlib path reproduces dlib 19.24's get_face_chip_details / extract_image_chips (including the
 * bounding box crop, the pyramid_down<2> levels used when the face is much larger than the chip, the chip->image
 * affine map through the rotated rectangle corners, and bilinear interpolation truncated to 8 bits), so our chips
 * equal dlib's bit for bit up to floating point rounding. */
#include "chip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fm_similarity_transform(const double *from, const double *to, int n, double m[6])
{
    double mfx = 0, mfy = 0, mtx = 0, mty = 0;
    for (int i = 0; i < n; i++) {
        mfx += from[2 * i];
        mfy += from[2 * i + 1];
        mtx += to[2 * i];
        mty += to[2 * i + 1];
    }
    mfx /= n;
    mfy /= n;
    mtx /= n;
    mty /= n;
    double sf = 0, c00 = 0, c01 = 0, c10 = 0, c11 = 0;
    for (int i = 0; i < n; i++) {
        double fx = from[2 * i] - mfx, fy = from[2 * i + 1] - mfy;
        double tx = to[2 * i] - mtx, ty = to[2 * i + 1] - mty;
        sf += fx * fx + fy * fy;
        c00 += tx * fx;
        c01 += tx * fy;
        c10 += ty * fx;
        c11 += ty * fy;
    }
    sf /= n;
    c00 /= n;
    c01 /= n;
    c10 /= n;
    c11 /= n;
    double a = c00 + c11, b = c10 - c01;
    double norm = sqrt(a * a + b * b);
    double cs = 1, sn = 0, scale = 1;
    if (norm > 0) {
        cs = a / norm;
        sn = b / norm;
    }
    if (sf != 0)
        scale = norm / sf;
    m[0] = scale * cs;
    m[1] = -scale * sn;
    m[3] = scale * sn;
    m[4] = scale * cs;
    m[2] = mtx - (m[0] * mfx + m[1] * mfy);
    m[5] = mty - (m[3] * mfx + m[4] * mfy);
}

/* dlib's 5-point chip template (get_face_chip_details) */
static const double tmpl5[5][2] = {{0.8595674595992, 0.2134981538014},
                                   {0.6460604764104, 0.2289674387677},
                                   {0.1205750620789, 0.2137274526848},
                                   {0.3340850613712, 0.2290642403242},
                                   {0.4901123135679, 0.6277975316475}};
/* dlib's mean face shape for landmarks 17..67 (get_face_chip_details) */
static const double mean68_x[51] = {
    0.000213256, 0.0752622, 0.18113,  0.29077,  0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
    0.490127,    0.490127,  0.490127, 0.490127, 0.36688,  0.426036, 0.490127, 0.554217, 0.613373, 0.121737,
    0.187122,    0.265825,  0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751,
    0.719335,    0.254149,  0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127,    0.423532,  0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127,
    0.42689};
static const double mean68_y[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454,
    0.203352, 0.307009, 0.409805,  0.515625,  0.587326,  0.609345,  0.628106,  0.609345,  0.587326, 0.216423,
    0.178758, 0.179852, 0.231733,  0.245099,  0.244077,  0.231733,  0.179852,  0.178758,  0.216423, 0.244077,
    0.245099, 0.780233, 0.745405,  0.727388,  0.742578,  0.727388,  0.745405,  0.780233,  0.864805, 0.902192,
    0.909281, 0.902192, 0.864805,  0.784792,  0.778746,  0.785343,  0.778746,  0.784792,  0.824182, 0.831803,
    0.824182};

int fm_chip_details_from_points(const float *pts, int npoints, int size, double padding, fm_chip_details *d)
{
    double from[2 * 68], to[2 * 68];
    int n = 0;
    if (size <= 0 || !(padding >= 0) || !isfinite(padding))
        return -1;
    if (npoints == 5) {
        for (int i = 0; i < 5; i++) {
            from[2 * n] = (padding + tmpl5[i][0]) / (2 * padding + 1) * size;
            from[2 * n + 1] = (padding + tmpl5[i][1]) / (2 * padding + 1) * size;
            to[2 * n] = pts[2 * i];
            to[2 * n + 1] = pts[2 * i + 1];
            n++;
        }
    } else if (npoints == 68) {
        for (int i = 17; i < 68; i++) {
            if ((55 <= i && i <= 59) || (65 <= i && i <= 67) || (17 <= i && i <= 26))
                continue;
            from[2 * n] = (padding + mean68_x[i - 17]) / (2 * padding + 1) * size;
            from[2 * n + 1] = (padding + mean68_y[i - 17]) / (2 * padding + 1) * size;
            to[2 * n] = pts[2 * i];
            to[2 * n + 1] = pts[2 * i + 1];
            n++;
        }
    } else {
        return -1;
    }
    double m[6];
    fm_similarity_transform(from, to, n, m);
    /* p = M * (1,0) */
    double px = m[0], py = m[3];
    d->angle = atan2(py, px);
    double scale = sqrt(px * px + py * py);
    double cx = m[0] * (size / 2.0) + m[1] * (size / 2.0) + m[2];
    double cy = m[3] * (size / 2.0) + m[4] * (size / 2.0) + m[5];
    double w = size * scale - 1, h = size * scale - 1;
    d->l = cx - w / 2;
    d->t = cy - h / 2;
    d->r = cx + w / 2;
    d->b = cy + h / 2;
    d->rows = d->cols = size;
    return 0;
}

typedef struct drect {
    double l, t, r, b;
} drect;

static double drect_area(drect a)
{
    if (a.t > a.b || a.l > a.r)
        return 0;
    return (a.r - a.l + 1) * (a.b - a.t + 1);
}

static drect rect_down(drect a)
{
    drect o = {a.l / 2.0 - 1.25, a.t / 2.0 - 0.75, a.r / 2.0 - 1.25, a.b / 2.0 - 0.75};
    return o;
}

static void rotate_pt(double cx, double cy, double x, double y, double ang, double *ox, double *oy)
{
    double s = sin(ang), c = cos(ang);
    double dx = x - cx, dy = y - cy;
    *ox = c * dx - s * dy + cx;
    *oy = s * dx + c * dy + cy;
}

int fm_pyramid_down2_rgb(const uint8_t *src, int w, int h, int stride, uint8_t **out, int *ow, int *oh)
{
    *out = NULL;
    *ow = *oh = 0;
    if (w <= 8 || h <= 8)
        return 0;
    const int tw = (w - 3) / 2, dh = (h - 3) / 2;
    uint16_t *tmp = (uint16_t *)malloc((size_t)h * (size_t)tw * 3 * sizeof(uint16_t));
    uint8_t *dst = (uint8_t *)malloc((size_t)dh * (size_t)tw * 3);
    if (!tmp || !dst) {
        free(tmp);
        free(dst);
        return -1;
    }
    for (int r = 0; r < h; r++) {
        const uint8_t *row = src + (size_t)r * (size_t)stride;
        uint16_t *t = tmp + (size_t)r * (size_t)tw * 3;
        for (int c = 0; c < tw; c++) {
            const uint8_t *p = row + (size_t)(2 * c) * 3;
            for (int k = 0; k < 3; k++)
                t[3 * c + k] = (uint16_t)(p[k] + 4 * p[3 + k] + 6 * p[6 + k] + 4 * p[9 + k] + p[12 + k]);
        }
    }
    int dr = 0;
    for (int r = 2; r < h - 2; r += 2) {
        const uint16_t *a = tmp + (size_t)(r - 2) * (size_t)tw * 3, *b = a + (size_t)tw * 3, *c = b + (size_t)tw * 3,
                       *d = c + (size_t)tw * 3, *e = d + (size_t)tw * 3;
        uint8_t *o = dst + (size_t)dr * (size_t)tw * 3;
        for (int i = 0; i < tw * 3; i++) {
            uint16_t v = (uint16_t)(a[i] + b[i] * 4 + c[i] * 6 + d[i] * 4 + e[i]);
            o[i] = (uint8_t)(v / 256);
        }
        dr++;
    }
    free(tmp);
    *out = dst;
    *ow = tw;
    *oh = dh;
    return 0;
}

int fm_chip_extract_rgb(const uint8_t *rgb, int width, int height, int stride, const fm_chip_details *d,
                        uint8_t *out)
{
    const size_t chip_size = (size_t)d->rows * (size_t)d->cols;
    memset(out, 0, chip_size * 3);
    drect crect = {d->l, d->t, d->r, d->b};
    /* pyramid depth and border growth */
    double grow = 2;
    drect rr = rect_down(crect);
    while (drect_area(rr) > (double)chip_size) {
        rr = rect_down(rr);
        grow = grow * 2 + 2;
    }
    const double cx = (crect.l + crect.r) / 2, cy = (crect.t + crect.b) / 2;
    double xs[4], ys[4];
    rotate_pt(cx, cy, crect.l, crect.t, d->angle, &xs[0], &ys[0]);
    rotate_pt(cx, cy, crect.r, crect.t, d->angle, &xs[1], &ys[1]);
    rotate_pt(cx, cy, crect.l, crect.b, d->angle, &xs[2], &ys[2]);
    rotate_pt(cx, cy, crect.r, crect.b, d->angle, &xs[3], &ys[3]);
    drect rot = {xs[0], ys[0], xs[0], ys[0]};
    for (int i = 1; i < 4; i++) {
        rot.l = fmin(rot.l, xs[i]);
        rot.r = fmax(rot.r, xs[i]);
        rot.t = fmin(rot.t, ys[i]);
        rot.b = fmax(rot.b, ys[i]);
    }
    drect g = {rot.l - grow, rot.t - grow, rot.r + grow, rot.b + grow};
    g.l = fmax(g.l, 0);
    g.t = fmax(g.t, 0);
    g.r = fmin(g.r, width - 1);
    g.b = fmin(g.b, height - 1);
    if (g.l > g.r || g.t > g.b)
        return 0; /* chip entirely outside the image */
    long bl = (long)floor(g.l + 0.5), bt = (long)floor(g.t + 0.5), br = (long)floor(g.r + 0.5),
         bb = (long)floor(g.b + 0.5);
    if (bl > br || bt > bb)
        return 0;
    const uint8_t *src = rgb + (size_t)bt * (size_t)stride + (size_t)bl * 3;
    int sw = (int)(br - bl + 1), sh = (int)(bb - bt + 1), sstride = stride;
    /* level selection */
    int level = -1;
    drect rect = {crect.l - bl, crect.t - bt, crect.r - bl, crect.b - bt};
    while (drect_area(rect_down(rect)) > (double)chip_size) {
        level++;
        rect = rect_down(rect);
    }
    uint8_t *lev = NULL;
    for (int i = 0; i <= level; i++) {
        uint8_t *next;
        int nw, nh;
        if (fm_pyramid_down2_rgb(src, sw, sh, sstride, &next, &nw, &nh)) {
            free(lev);
            return -1;
        }
        free(lev);
        lev = next;
        src = lev;
        sw = nw;
        sh = nh;
        sstride = nw * 3;
        if (!lev)
            return 0; /* empty level: dlib's chip is all zeros */
    }
    const double rcx = (rect.l + rect.r) / 2, rcy = (rect.t + rect.b) / 2;
    double ax, ay, bx, by, qx, qy;
    rotate_pt(rcx, rcy, rect.l, rect.t, d->angle, &ax, &ay);
    rotate_pt(rcx, rcy, rect.r, rect.t, d->angle, &bx, &by);
    rotate_pt(rcx, rcy, rect.l, rect.b, d->angle, &qx, &qy);
    const double ux = (bx - ax) / (d->cols - 1), uy = (by - ay) / (d->cols - 1);
    const double vx = (qx - ax) / (d->rows - 1), vy = (qy - ay) / (d->rows - 1);
    for (int r = 0; r < d->rows; r++) {
        uint8_t *o = out + (size_t)r * (size_t)d->cols * 3;
        for (int c = 0; c < d->cols; c++) {
            const double px = ax + c * ux + r * vx, py = ay + c * uy + r * vy;
            const double fl = floor(px), ft = floor(py);
            if (!(fl >= 0 && ft >= 0 && fl + 1 < sw && ft + 1 < sh))
                continue;
            const long left = (long)fl, top = (long)ft;
            const double lr = px - left, tb = py - top;
            const uint8_t *p00 = src + (size_t)top * (size_t)sstride + (size_t)left * 3;
            const uint8_t *p01 = p00 + 3, *p10 = p00 + sstride, *p11 = p10 + 3;
            for (int k = 0; k < 3; k++) {
                double v = (1 - tb) * ((1 - lr) * p00[k] + lr * p01[k]) + tb * ((1 - lr) * p10[k] + lr * p11[k]);
                o[3 * c + k] = (uint8_t)v;
            }
        }
    }
    free(lev);
    return 0;
}

void fm_warp_bilinear(const uint8_t *src, int w, int h, int stride, int bpp, const double m[6], uint8_t *dst,
                      int dw, int dh)
{
    for (int y = 0; y < dh; y++) {
        uint8_t *o = dst + (size_t)y * (size_t)dw * (size_t)bpp;
        for (int x = 0; x < dw; x++) {
            const double sx = m[0] * x + m[1] * y + m[2], sy = m[3] * x + m[4] * y + m[5];
            const double fx = floor(sx), fy = floor(sy);
            uint8_t *px = o + (size_t)x * (size_t)bpp;
            if (!(fx >= 0 && fy >= 0 && fx + 1 < w && fy + 1 < h)) {
                memset(px, 0, (size_t)bpp);
                continue;
            }
            const long ix = (long)fx, iy = (long)fy;
            const double ax = sx - fx, ay = sy - fy;
            const uint8_t *p00 = src + (size_t)iy * (size_t)stride + (size_t)ix * (size_t)bpp;
            const uint8_t *p01 = p00 + bpp, *p10 = p00 + stride, *p11 = p10 + bpp;
            for (int k = 0; k < bpp; k++) {
                double v = (1 - ay) * ((1 - ax) * p00[k] + ax * p01[k]) + ay * ((1 - ax) * p10[k] + ax * p11[k]);
                px[k] = (uint8_t)(v + 0.5);
            }
        }
    }
}
