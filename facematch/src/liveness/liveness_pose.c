/*
 * Head pose from 68 iBUG landmarks: a generic 3D face model fitted by iterative least squares (Levenberg-Marquardt
 * on rotation increments and translation; pinhole camera, focal length = image width, principal point at the
 * image centre, no distortion).
 *
 * Model points (millimetres; origin at the nose tip; X to the subject's LEFT = image-right in a frontal unmirrored
 * view, Y DOWN, Z AWAY from the camera, i.e. into the head). Rounded adult averages from anthropometric tables
 * (outer canthal width ~90 mm, inner ~32 mm, mouth width ~50 mm, nasion ~48 mm above and ~22 mm behind the tip);
 * only rigid points are used (no jaw contour, which slides with yaw; no brows or lips, which move with expression):
 *   27 nasion            (  0, -48, 22)     30 nose tip         (  0,   0,  0)
 *   31/35 alae           (-/+12,  8, 12)    33 subnasale        (  0,  12, 12)
 *   36/45 outer canthi   (-/+45, -36, 36)   39/42 inner canthi  (-/+16, -36, 26)
 *   48/54 mouth corners  (-/+25,  30, 24)   8 menton            (  0,  68, 24)
 * Camera frame: x image-right, y image-down, z forward. A frontal head has R = identity.
 * Angles come from the rotated model axes (liveness.h states the signs):
 *   nose direction n = R (0,0,-1):  yaw = atan2(n.x, -n.z), pitch = atan2(n.y, hypot(n.x, n.z))
 *   eye line       r = R (1,0,0):   roll = atan2(r.y, r.x) — positive when the image-left eye is higher (the eye line
 *                                  descends towards image-right).
 * "Turn left" (the subject's own left) moves the nose to image-right: yaw > 0.
 */
#include "liveness/liveness.h"

#include <math.h>
#include <string.h>

#define NP 12
static const int k_idx[NP] = {27, 30, 31, 35, 33, 36, 45, 39, 42, 48, 54, 8};
static const double k_model[NP][3] = {
    {0, -48, 22}, {0, 0, 0},    {-12, 8, 12},  {12, 8, 12},  {0, 12, 12}, {-45, -36, 36},
    {45, -36, 36}, {-16, -36, 26}, {16, -36, 26}, {-25, 30, 24}, {25, 30, 24}, {0, 68, 24},
};

static void rodrigues(const double w[3], double R[9])
{
    double th = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
    if (th < 1e-12) {
        double I[9] = {1, -w[2], w[1], w[2], 1, -w[0], -w[1], w[0], 1};
        memcpy(R, I, sizeof I);
        return;
    }
    double k[3] = {w[0] / th, w[1] / th, w[2] / th}, c = cos(th), s = sin(th), v = 1 - c;
    R[0] = c + k[0] * k[0] * v;
    R[1] = k[0] * k[1] * v - k[2] * s;
    R[2] = k[0] * k[2] * v + k[1] * s;
    R[3] = k[1] * k[0] * v + k[2] * s;
    R[4] = c + k[1] * k[1] * v;
    R[5] = k[1] * k[2] * v - k[0] * s;
    R[6] = k[2] * k[0] * v - k[1] * s;
    R[7] = k[2] * k[1] * v + k[0] * s;
    R[8] = c + k[2] * k[2] * v;
}

static void matmul3(const double A[9], const double B[9], double C[9])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            C[i * 3 + j] = A[i * 3] * B[j] + A[i * 3 + 1] * B[3 + j] + A[i * 3 + 2] * B[6 + j];
}

/* residuals (2 NP) for rotation exp(dw) R0 and translation t */
static int residuals(const double R0[9], const double dw[3], const double t[3], double f, double cx, double cy,
                     const double obs[NP][2], double *res)
{
    double dR[9], R[9];
    rodrigues(dw, dR);
    matmul3(dR, R0, R);
    for (int i = 0; i < NP; i++) {
        const double *X = k_model[i];
        double x = R[0] * X[0] + R[1] * X[1] + R[2] * X[2] + t[0];
        double y = R[3] * X[0] + R[4] * X[1] + R[5] * X[2] + t[1];
        double z = R[6] * X[0] + R[7] * X[1] + R[8] * X[2] + t[2];
        if (!(z > 1.0))
            return -1;
        res[2 * i] = f * x / z + cx - obs[i][0];
        res[2 * i + 1] = f * y / z + cy - obs[i][1];
    }
    return 0;
}

/* solves the 6x6 system A x = b (Gaussian elimination with partial pivoting); -1 if singular */
static int solve6(double A[36], double b[6], double x[6])
{
    for (int c = 0; c < 6; c++) {
        int p = c;
        for (int r = c + 1; r < 6; r++)
            if (fabs(A[r * 6 + c]) > fabs(A[p * 6 + c]))
                p = r;
        if (fabs(A[p * 6 + c]) < 1e-18)
            return -1;
        if (p != c) {
            for (int k = 0; k < 6; k++) {
                double tmp = A[c * 6 + k];
                A[c * 6 + k] = A[p * 6 + k];
                A[p * 6 + k] = tmp;
            }
            double tb = b[c];
            b[c] = b[p];
            b[p] = tb;
        }
        for (int r = c + 1; r < 6; r++) {
            double m = A[r * 6 + c] / A[c * 6 + c];
            for (int k = c; k < 6; k++)
                A[r * 6 + k] -= m * A[c * 6 + k];
            b[r] -= m * b[c];
        }
    }
    for (int r = 5; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < 6; k++)
            s -= A[r * 6 + k] * x[k];
        x[r] = s / A[r * 6 + r];
    }
    return 0;
}

static double sumsq(const double *r, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += r[i] * r[i];
    return s;
}

int lv_head_pose68(const fm_point pts[68], int width, int height, lv_pose *out)
{
    if (!out)
        return -1;
    memset(out, 0, sizeof *out);
    out->yaw = out->pitch = out->roll = out->rms_px = out->rms_rel = NAN;
    if (!pts || width < 2 || height < 2)
        return -1;
    double obs[NP][2];
    for (int i = 0; i < NP; i++) {
        obs[i][0] = pts[k_idx[i]].x;
        obs[i][1] = pts[k_idx[i]].y;
        if (!isfinite(obs[i][0]) || !isfinite(obs[i][1]) || fabs(obs[i][0]) > 1e6 || fabs(obs[i][1]) > 1e6)
            return -1;
    }
    double f = width, cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
    double iod = hypot(obs[6][0] - obs[5][0], obs[6][1] - obs[5][1]);
    if (!(iod > 2))
        return -1;
    /* start: frontal, at the distance where the outer canthi are iod pixels apart, nose tip under landmark 30 */
    double R0[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    double t[3];
    t[2] = f * 90.0 / iod;
    t[0] = (obs[1][0] - cx) * t[2] / f;
    t[1] = (obs[1][1] - cy) * t[2] / f;
    double res[2 * NP], res2[2 * NP], J[2 * NP][6];
    double zero[3] = {0, 0, 0};
    if (residuals(R0, zero, t, f, cx, cy, obs, res))
        return -1;
    double cost = sumsq(res, 2 * NP), lambda = 1e-3;
    int it;
    for (it = 0; it < 50; it++) {
        /* numeric Jacobian: rotation increments (radians) and translation (mm) */
        for (int k = 0; k < 6; k++) {
            double dw[3] = {0, 0, 0}, tt[3] = {t[0], t[1], t[2]};
            double h = k < 3 ? 1e-6 : 1e-4 * (1 + fabs(t[2]));
            if (k < 3)
                dw[k] = h;
            else
                tt[k - 3] += h;
            if (residuals(R0, dw, tt, f, cx, cy, obs, res2))
                return -1;
            for (int i = 0; i < 2 * NP; i++)
                J[i][k] = (res2[i] - res[i]) / h;
        }
        double A[36] = {0}, g[6] = {0};
        for (int i = 0; i < 2 * NP; i++)
            for (int a = 0; a < 6; a++) {
                g[a] -= J[i][a] * res[i];
                for (int b = 0; b < 6; b++)
                    A[a * 6 + b] += J[i][a] * J[i][b];
            }
        int improved = 0;
        for (int tries = 0; tries < 10 && !improved; tries++) {
            double Al[36], gl[6], d[6];
            memcpy(Al, A, sizeof A);
            memcpy(gl, g, sizeof g);
            for (int a = 0; a < 6; a++)
                Al[a * 6 + a] += lambda * (A[a * 6 + a] + 1e-9);
            if (solve6(Al, gl, d))
                return -1;
            double dw[3] = {d[0], d[1], d[2]}, tt[3] = {t[0] + d[3], t[1] + d[4], t[2] + d[5]};
            if (residuals(R0, dw, tt, f, cx, cy, obs, res2) == 0) {
                double c2 = sumsq(res2, 2 * NP);
                if (c2 < cost) {
                    double dR[9], Rn[9];
                    rodrigues(dw, dR);
                    matmul3(dR, R0, Rn);
                    memcpy(R0, Rn, sizeof Rn);
                    memcpy(t, tt, sizeof tt);
                    memcpy(res, res2, sizeof res);
                    double rel = (cost - c2) / cost;
                    cost = c2;
                    lambda = fmax(lambda / 3, 1e-9);
                    improved = 1;
                    if (rel < 1e-10)
                        it = 1000;
                    break;
                }
            }
            lambda *= 4;
        }
        if (!improved)
            break;
    }
    /* rotated axes */
    double n[3] = {-R0[2], -R0[5], -R0[8]}; /* R (0,0,-1) */
    double r[3] = {R0[0], R0[3], R0[6]};    /* R (1,0,0) */
    out->yaw = atan2(n[0], -n[2]) * 180.0 / M_PI;
    out->pitch = atan2(n[1], hypot(n[0], n[2])) * 180.0 / M_PI;
    out->roll = atan2(r[1], r[0]) * 180.0 / M_PI;
    out->rms_px = sqrt(cost / NP);
    out->rms_rel = out->rms_px / iod;
    out->ok = isfinite(out->yaw) && isfinite(out->pitch) && isfinite(out->roll) && t[2] > 0;
    return out->ok ? 0 : -1;
}
