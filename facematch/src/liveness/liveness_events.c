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
    p->min_dur = 0.1;
    p->max_dur = 0.5;
    p->baseline_tau = 2.0;
    p->warmup = 0.15;
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
    d->min_ratio = NAN;
    d->p_base = NAN;
}

int lv_blink_push(lv_blink_detector *d, double t, double ear, double p_closed, lv_blink_event *ev)
{
    if (!d || !isfinite(t))
        return 0;
    if (isfinite(d->last_t) && t <= d->last_t)
        return 0; /* not increasing: ignored */
    double dt = isfinite(d->last_t) ? t - d->last_t : 0;
    if (!isfinite(ear) || ear <= 0) {
        /* missing frame: time passes; a closure in progress survives only short gaps */
        if (d->closed && isfinite(d->closed_since) && t - d->last_t > d->p.max_gap) {
            d->closed = 0;
            d->closed_since = NAN;
        }
        return 0;
    }
    if (dt > d->p.max_gap && d->closed) {
        d->closed = 0;
        d->closed_since = NAN;
    }
    d->last_t = t;
    if (!isfinite(d->baseline)) {
        d->baseline = ear;
        d->base_time = 0;
        d->last_open_t = t;
        return 0;
    }
    double ratio = ear / d->baseline;
    /* the eye model counts only while it agrees with the EAR on open eyes (p_base low) */
    int model_ok = isfinite(p_closed) && isfinite(d->p_base) && d->p_base < 0.3;
    int model_closed = model_ok && p_closed > d->p.p_closed;
    if (isfinite(p_closed) && ratio > d->p.open_ratio && !d->closed) {
        double a = dt > 0 ? 1 - exp(-dt / d->p.baseline_tau) : 0.05;
        d->p_base = isfinite(d->p_base) ? d->p_base + fmax(a, 0.1) * (p_closed - d->p_base) : p_closed;
    }
    int is_closed = ratio < d->p.close_ratio || (model_closed && ratio < d->p.open_ratio);
    int is_open = ratio > d->p.open_ratio && !model_closed;
    int fired = 0;
    if (!d->closed) {
        if (is_closed && d->base_time >= d->p.warmup) {
            d->closed = 1;
            d->closed_since = t;
            d->min_ratio = ratio;
        }
    } else {
        if (ratio < d->min_ratio)
            d->min_ratio = ratio;
        if (is_open) {
            double dur = t - d->closed_since;
            /* frame quantisation: the closed interval is only known to within one frame interval each side */
            double slack = fmin(dt, 0.1);
            if (dur + slack >= d->p.min_dur && dur - slack <= d->p.max_dur) {
                if (ev) {
                    ev->t_start = d->closed_since;
                    ev->t_end = t;
                    ev->duration = dur;
                    ev->min_ratio = d->min_ratio;
                }
                d->blinks++;
                fired = 1;
            }
            d->closed = 0;
            d->closed_since = NAN;
        } else if (t - d->closed_since > d->p.max_dur + 1.0) {
            /* a long closure is not a blink; forget it (the baseline is left alone) */
            d->closed = 0;
            d->closed_since = NAN;
            d->base_time = 0; /* require a fresh open period */
        }
    }
    /* adaptive open-eye baseline: follows open frames only (a slow EMA; a few closed frames cannot drag it) */
    if (!d->closed && ratio > d->p.close_ratio && !model_closed) {
        double a = dt > 0 ? 1 - exp(-dt / d->p.baseline_tau) : 0.05;
        if (d->base_time < d->p.warmup)
            a = fmax(a, 0.3); /* settle quickly at the start */
        d->baseline += a * (ear - d->baseline);
        d->base_time += dt > 0 ? fmin(dt, d->p.max_gap) : 0;
        d->last_open_t = t;
    }
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
        for (int k = 0; k < 3; k++)
            reset_axis(d, k);
    d->last_t = t;
    d->last_yaw = yaw;
    d->last_pitch = pitch;
    if (!isfinite(d->yaw0)) {
        d->yaw0 = yaw;
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
        if (!d->active[k]) {
            /* a sweep starts once the head has left neutral, below the target (a jump straight to the target
             * has no intermediate samples and fails the band test anyway) */
            if (v[k] > 0.5 * start_frac * target[k] && v[k] < target[k]) {
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
        if (k == 2 && fabs(dy) > 0.5 * d->p.turn_deg) {
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
        d->neutral_time += dt;
    }
    return fired;
}
