/* Blink and head-motion event detectors (see liveness.h for the contract). */
#include "liveness/liveness.h"

#include <math.h>
#include <string.h>

/* ---- blink ---------------------------------------------------------------------------------------------------- */

void lv_blink_params_init(lv_blink_params *p)
{
    p->close_ratio = 0.8;
    p->open_ratio = 0.9;
    p->p_closed = 0.5;
    p->p_rise = 0.4;
    p->p_max_base = 0.6;
    p->min_dur = 0.1;
    p->max_dur = 0.5;
    p->short_ratio = 0.65;
    p->baseline_win = 2.0;
    p->baseline_q = 0.75;
    p->warmup = 0.05;
    p->max_gap = 0.25;
}

void lv_blink_init(lv_blink_detector *d, const lv_blink_params *p)
{
    memset(d, 0, sizeof *d);
    if (p)
        d->p = *p;
    else
        lv_blink_params_init(&d->p);
    d->baseline = NAN;
    d->last_t = NAN;
    d->last_open_t = NAN;
    d->closed_since = NAN;
    d->last_closed_t = NAN;
    d->open_before_t = NAN;
    d->min_ratio = NAN;
    d->p_base = NAN;
}

/* q-quantile (0..1) of n values (n <= LV_BLINK_HIST), by sorting a copy */
static double quantile(const double *v, int n, double q)
{
    double s[LV_BLINK_HIST];
    if (n < 1)
        return NAN;
    if (n > LV_BLINK_HIST)
        n = LV_BLINK_HIST;
    memcpy(s, v, (size_t)n * sizeof *s);
    for (int i = 1; i < n; i++) { /* insertion sort: n <= 64 */
        double x = s[i];
        int j = i - 1;
        while (j >= 0 && s[j] > x) {
            s[j + 1] = s[j];
            j--;
        }
        s[j + 1] = x;
    }
    int k = (int)floor(q * (n - 1) + 0.5);
    return s[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void end_closure(lv_blink_detector *d)
{
    d->closed = 0;
    d->closed_since = d->last_closed_t = d->open_before_t = NAN;
}

int lv_blink_push(lv_blink_detector *d, double t, double ear, double p_closed, lv_blink_event *ev)
{
    if (!d || !isfinite(t))
        return 0;
    if (isfinite(d->last_t) && t <= d->last_t)
        return 0; /* not increasing: ignored */
    if (!isfinite(ear) || ear <= 0) {
        /* missing frame: time passes; a closure in progress survives only short gaps */
        if (d->closed && isfinite(d->last_t) && t - d->last_t > d->p.max_gap)
            end_closure(d);
        return 0;
    }
    double dt = isfinite(d->last_t) ? t - d->last_t : 0;
    if (dt > d->p.max_gap && d->closed)
        end_closure(d);
    d->last_t = t;
    if (dt > 0)
        d->last_dt = fmin(dt, d->p.max_gap);
    /* robust open-eye baseline: a high quantile of the last baseline_win seconds of EAR (blinks are a small
     * fraction of frames, so they cannot drag it; it follows distance and pose changes within seconds) */
    d->ear_hist[d->ear_pos] = ear;
    d->ear_hist_t[d->ear_pos] = t;
    d->ear_pos = (d->ear_pos + 1) % LV_BLINK_HIST;
    if (d->ear_n < LV_BLINK_HIST)
        d->ear_n++;
    double recent[LV_BLINK_HIST];
    int nr = 0;
    for (int i = 0; i < d->ear_n; i++)
        if (t - d->ear_hist_t[i] <= d->p.baseline_win)
            recent[nr++] = d->ear_hist[i];
    d->baseline = quantile(recent, nr, d->p.baseline_q);
    d->base_time += dt > 0 ? fmin(dt, d->p.max_gap) : 0;
    if (nr < 3 || d->base_time < d->p.warmup) {
        d->last_open_t = t;
        return 0;
    }
    double ratio = ear / d->baseline;
    /* the eye model counts only while its own open-eye level is low enough to see a rise */
    int model_ok = isfinite(p_closed) && isfinite(d->p_base) && d->p_base <= d->p.p_max_base;
    double pthr = isfinite(d->p_base) ? fmax(d->p.p_closed, d->p_base + d->p.p_rise) : 1.0;
    int model_closed = model_ok && p_closed > pthr;
    if (isfinite(p_closed) && ratio > d->p.open_ratio && !d->closed) {
        d->p_hist[d->p_pos] = p_closed;
        d->p_pos = (d->p_pos + 1) % LV_BLINK_HIST;
        if (d->p_n < LV_BLINK_HIST)
            d->p_n++;
        d->p_base = quantile(d->p_hist, d->p_n, 0.5);
    }
    int is_closed = ratio < d->p.close_ratio || model_closed;
    int is_open = ratio > d->p.open_ratio && !model_closed;
    int fired = 0;
    double fr = d->last_dt > 0 ? d->last_dt : dt;
    if (!d->closed) {
        if (is_closed) {
            d->closed = 1;
            d->closed_since = d->last_closed_t = t;
            d->open_before_t = isfinite(d->last_open_t) ? d->last_open_t : t - fr;
            d->min_ratio = ratio;
            d->model_seen = model_closed;
        }
    } else {
        d->model_seen |= model_closed;
        if (ratio < d->min_ratio)
            d->min_ratio = ratio;
        if (is_closed)
            d->last_closed_t = t;
        if (is_open) {
            /* frame quantisation: each edge is only known to within one frame interval */
            double slack = fmin(fr, 0.1); /* (+1 ms below: timestamps are often millisecond-rounded) */
            double event = t - d->open_before_t;                  /* closing + closed + reopening */
            double span = d->last_closed_t - d->closed_since + fr; /* closed frames */
            int deep = span >= d->p.min_dur || d->min_ratio < d->p.short_ratio;
            if (deep && event + slack + 1e-3 >= d->p.min_dur && span - slack <= d->p.max_dur + 1e-3) {
                if (ev) {
                    ev->t_start = d->closed_since;
                    ev->t_end = t;
                    ev->duration = span;
                    ev->min_ratio = d->min_ratio;
                }
                d->blinks++;
                fired = 1;
            }
            end_closure(d);
        } else if (t - d->closed_since > d->p.max_dur + 1.0) {
            /* a long closure is not a blink; forget it */
            end_closure(d);
        }
    }
    if (!d->closed && is_open)
        d->last_open_t = t;
    return fired;
}

/* ---- head motion ---------------------------------------------------------------------------------------------- */

void lv_motion_params_init(lv_motion_params *p)
{
    p->turn_deg = 15;
    p->nod_deg = 12;
    p->nod_return = 6;
    p->min_sweep_s = 0.03;
    p->max_sweep_s = 3.0;
    p->max_speed = 600;
    p->min_bands = 1;
    p->neutral_tau = 1.5;
    p->neutral_max_yaw = 8;
    p->max_gap = 0.3;
}

void lv_motion_init(lv_motion_detector *d, const lv_motion_params *p)
{
    memset(d, 0, sizeof *d);
    if (p)
        d->p = *p;
    else
        lv_motion_params_init(&d->p);
    d->yaw0 = d->pitch0 = NAN;
    d->last_t = d->last_yaw = d->last_pitch = NAN;
}

void lv_motion_set_neutral(lv_motion_detector *d, double yaw0, double pitch0)
{
    if (d && isfinite(yaw0) && isfinite(pitch0)) {
        d->yaw0 = yaw0;
        d->pitch0 = pitch0;
    }
}

static double med3(double a, double b, double c)
{
    return fmax(fmin(a, b), fmin(fmax(a, b), c));
}

const char *lv_motion_name(lv_motion m)
{
    switch (m) {
    case LV_MOTION_TURN_LEFT: return "turn_left";
    case LV_MOTION_TURN_RIGHT: return "turn_right";
    case LV_MOTION_NOD: return "nod";
    default: return "none";
    }
}

#define NBANDS 4 /* the way from neutral to the target is split into 4 bands; the first and last don't count */

static void reset_axis(lv_motion_detector *d, int k)
{
    d->active[k] = 0;
    d->bands[k] = 0;
    d->reached[k] = 0;
    d->peak[k] = 0;
}

int lv_motion_push(lv_motion_detector *d, double t, double yaw, double pitch, lv_motion_event *ev)
{
    if (!d || !isfinite(t))
        return 0;
    if (isfinite(d->last_t) && t <= d->last_t)
        return 0;
    if (!isfinite(yaw) || !isfinite(pitch))
        return 0; /* missing frame: the gap check below handles long ones */
    double dt = isfinite(d->last_t) ? t - d->last_t : 0;
    if (dt > d->p.max_gap)
        for (int k = 0; k < 3; k++)
            reset_axis(d, k);
    /* median of the last three samples (after a gap the history restarts) */
    double ry = yaw, rp = pitch;
    if (dt > d->p.max_gap)
        d->hist_n = 0;
    if (d->hist_n >= 2) {
        yaw = med3(d->hist[0][0], d->hist[1][0], ry);
        pitch = med3(d->hist[0][1], d->hist[1][1], rp);
    }
    d->hist[0][0] = d->hist[1][0];
    d->hist[0][1] = d->hist[1][1];
    d->hist[1][0] = ry;
    d->hist[1][1] = rp;
    if (d->hist_n < 2)
        d->hist_n++;
    /* implausible jump between consecutive (filtered) samples: a cut or a swapped face, not a head motion */
    if (dt > 0 && dt <= d->p.max_gap && isfinite(d->last_yaw) &&
        (fabs(yaw - d->last_yaw) / dt > d->p.max_speed || fabs(pitch - d->last_pitch) / dt > d->p.max_speed))
        for (int k = 0; k < 3; k++) {
            reset_axis(d, k);
            d->armed[k] = 0; /* after a jump, a sweep starts again only from near neutral */
        }
    d->last_t = t;
    d->last_yaw = yaw;
    d->last_pitch = pitch;
    if (!isfinite(d->yaw0)) {
        d->yaw0 = isfinite(d->p.neutral_max_yaw) ? fmax(-d->p.neutral_max_yaw, fmin(d->p.neutral_max_yaw, yaw)) : yaw;
        d->pitch0 = pitch;
        return 0;
    }
    double dy = yaw - d->yaw0, dp = pitch - d->pitch0;
    double target[3] = {d->p.turn_deg, d->p.turn_deg, d->p.nod_deg};
    double v[3] = {dy, -dy, dp};
    double start_frac = 0.25; /* a sweep starts once a quarter of the way out */
    int fired = 0;
    for (int k = 0; k < 3 && !fired; k++) {
        if (d->active[k] == 2)
            continue; /* parked after an event until the head is back near neutral */
        if (!d->active[k] && v[k] < start_frac * target[k])
            d->armed[k] = 1;
        if (!d->active[k]) {
            /* a sweep starts once the head has left neutral, below the target (a jump straight to the target
             * has no intermediate samples and fails the band test anyway), and only from near neutral */
            if (d->armed[k] && v[k] > 0.5 * start_frac * target[k] && v[k] < target[k]) {
                d->armed[k] = 0;
                d->active[k] = 1;
                d->start_t[k] = t;
                d->peak[k] = v[k];
                d->bands[k] = 0;
            }
        }
        if (!d->active[k])
            continue;
        if (v[k] > d->peak[k])
            d->peak[k] = v[k];
        if (k == 2 && fabs(dy) > 0.8 * d->p.turn_deg) {
            reset_axis(d, k); /* pitch measured during a large turn is not a nod */
            continue;
        }
        int band = (int)floor(v[k] / target[k] * NBANDS);
        if (band >= 1 && band < NBANDS)
            d->bands[k] |= 1u << band;
        if (v[k] < 0.5 * start_frac * target[k] && !d->reached[k]) {
            reset_axis(d, k); /* went back without reaching the target */
            continue;
        }
        if (t - d->start_t[k] > d->p.max_sweep_s && !d->reached[k]) {
            reset_axis(d, k);
            continue;
        }
        int nb = 0;
        for (int b = 1; b < NBANDS; b++)
            nb += (d->bands[k] >> b) & 1;
        if (!d->reached[k] && v[k] >= target[k]) {
            double sweep = t - d->start_t[k];
            if (nb >= d->p.min_bands && sweep >= d->p.min_sweep_s) {
                d->reached[k] = 1;
                d->reached_t[k] = t;
            } else {
                reset_axis(d, k); /* no intermediate sample: may start again from below the target */
                continue;
            }
        }
        if (d->reached[k]) {
            int done = k < 2 ? 1 : (v[k] <= d->p.nod_return);
            if (k == 2 && t - d->reached_t[k] > d->p.max_sweep_s) {
                reset_axis(d, k);
                continue;
            }
            if (done) {
                if (ev) {
                    ev->motion = k == 0 ? LV_MOTION_TURN_LEFT : k == 1 ? LV_MOTION_TURN_RIGHT : LV_MOTION_NOD;
                    ev->t_start = d->start_t[k];
                    ev->t_end = t;
                    ev->peak_deg = d->peak[k];
                }
                reset_axis(d, k);
                d->active[k] = 2; /* must come back towards neutral before the next one */
                fired = 1;
            }
        }
    }
    /* axes parked after an event (active == 2) re-arm near neutral */
    for (int k = 0; k < 3; k++)
        if (d->active[k] == 2 && v[k] < 0.5 * start_frac * target[k])
            reset_axis(d, k);
    /* neutral pose: follows the head slowly while it is near frontal and no sweep is in progress */
    if (d->active[0] != 1 && d->active[1] != 1 && d->active[2] != 1 && fabs(dy) < 0.5 * d->p.turn_deg &&
        fabs(dp) < 0.5 * d->p.nod_deg) {
        double a = dt > 0 ? 1 - exp(-dt / d->p.neutral_tau) : 0;
        d->yaw0 += a * dy;
        d->pitch0 += a * dp;
        if (isfinite(d->p.neutral_max_yaw))
            d->yaw0 = fmax(-d->p.neutral_max_yaw, fmin(d->p.neutral_max_yaw, d->yaw0));
        d->neutral_time += dt;
    }
    return fired;
}
