/* The face step of `facematch demo`: see demo_face.h. */
#include "demo_face.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The clip needs the capture adapter and the session's observe mode / event list (FM_SESSION_MAX_EVENTS). */
#if defined(FM_HAVE_CAPTURE) && defined(FM_SESSION_MAX_EVENTS)
#define DEMO_HAVE_CLIP 1
#include "capture.h"
#endif

/* Segment choice (seconds). The session asks step 1 once one steady frontal face has been seen for the policy's
 * settle time (0.5 s); a step is met when its detector fires (median of 3 samples: about 2 frames late at 24 fps). */
#define LEAD 1.5       /* segment starts this long before the first action starts */
#define ASK_DELAY 0.8  /* expected time from the segment start to the first step being asked */
#define LATENCY 0.15   /* expected detector delay after the event's end */
#define MARGIN 0.4     /* kept free before each step's deadline */
#define COLLECT 4.0    /* played after the last step, for the match frames (the session stops when it has them) */
#define CHUNK 40.0     /* indexing: one observe-only session per chunk (at most FM_SESSION_MAX_EVENTS events each) */
#define OVERLAP 5.0    /* chunks overlap: an event cut by a chunk end is seen whole by the next chunk */

/* An error of this file (not of the library): printed at once (stderr); the ctx's message is cleared so that the
 * caller does not print a stale one. */
static fm_status fail(fm_ctx *ctx, fm_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static fm_status fail(fm_ctx *ctx, fm_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "facematch demo: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fm_ctx_clear_error(ctx);
    return st;
}

static const char *action_name(int a)
{
    const char *n = fm_challenge_action_name((fm_challenge_action)a);
    return n ? n : "?";
}

int demo_index_load(const char *path, demo_index *ix, char *err, size_t errcap)
{
    memset(ix, 0, sizeof *ix);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int ln = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errcap, "%s:%d: line too long", path, ln);
            rc = -1;
            break;
        }
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char word[32], name[32], hex[80];
        double a, b, c;
        int used = 0;
        if (sscanf(p, "%31s%n", word, &used) != 1) {
            rc = -1;
            snprintf(err, errcap, "%s:%d: syntax", path, ln);
            break;
        }
        if (!strcmp(word, "clip-sha256") && sscanf(p + used, "%79s", hex) == 1 && strlen(hex) == 64) {
            memcpy(ix->clip_sha256, hex, 65);
        } else if (!strcmp(word, "clip-end") && sscanf(p + used, "%lf", &a) == 1 && a >= 0 && a < 1e6) {
            ix->clip_end = a;
        } else if (!strcmp(word, "exclude") && sscanf(p + used, "%lf %lf %n", &a, &b, &used) >= 2 && a >= 0 &&
                   b > a && b < 1e6 && ix->n_excl < DEMO_MAX_EXCLUDE) {
            ix->excl_from[ix->n_excl] = a;
            ix->excl_to[ix->n_excl] = b;
            char *why = strstr(p, "exclude");
            /* the reason: the rest of the line after the two numbers */
            why += 7;
            for (int k = 0; k < 2; k++) {
                while (isspace((unsigned char)*why))
                    why++;
                while (*why && !isspace((unsigned char)*why))
                    why++;
            }
            while (isspace((unsigned char)*why))
                why++;
            snprintf(ix->excl_why[ix->n_excl], sizeof ix->excl_why[0], "%s", why);
            char *nl = strchr(ix->excl_why[ix->n_excl], '\n');
            if (nl)
                *nl = '\0';
            ix->n_excl++;
        } else if (!strcmp(word, "event") && sscanf(p + used, "%31s %lf %lf %lf", name, &a, &b, &c) == 4 &&
                   fm_challenge_action_parse(name) != 0 && a >= 0 && b >= a && b < 1e6 && ix->n < DEMO_MAX_EVENTS) {
            demo_event *e = &ix->ev[ix->n++];
            e->action = (int)fm_challenge_action_parse(name);
            e->t0 = a;
            e->t1 = b;
            e->value = c;
        } else {
            snprintf(err, errcap, "%s:%d: not an index record: %.60s", path, ln, p);
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc == 0 && !ix->clip_sha256[0]) {
        snprintf(err, errcap, "%s: no clip-sha256 line", path);
        rc = -1;
    }
    return rc;
}

int demo_index_write(const demo_index *ix, const char *path, const char *comment)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    if (comment)
        fprintf(f, "%s", comment);
    fprintf(f, "clip-sha256 %s\n", ix->clip_sha256);
    if (ix->clip_end > 0)
        fprintf(f, "clip-end %.3f\n", ix->clip_end);
    for (int i = 0; i < ix->n_excl; i++)
        fprintf(f, "exclude %.3f %.3f %s\n", ix->excl_from[i], ix->excl_to[i], ix->excl_why[i]);
    for (int i = 0; i < ix->n; i++)
        fprintf(f, "event %-10s %9.3f %9.3f %7.3f\n", action_name(ix->ev[i].action), ix->ev[i].t0, ix->ev[i].t1,
                ix->ev[i].value);
    return fclose(f) == 0 ? 0 : -1;
}

static int excluded(const demo_index *ix, double a, double b)
{
    for (int i = 0; i < ix->n_excl; i++)
        if (a < ix->excl_to[i] && b > ix->excl_from[i])
            return 1;
    return 0;
}

int demo_pick_segments(const demo_index *ix, const fm_challenge *ch, demo_segment *out, int cap)
{
    int n = 0;
    for (int i = 0; i < ix->n && n < cap; i++) {
        const demo_event *e0 = &ix->ev[i];
        if (e0->action != ch->action[0])
            continue;
        demo_segment s;
        memset(&s, 0, sizeof s);
        s.start = e0->t0 - LEAD;
        if (s.start < 0)
            continue;
        double asked = s.start + ASK_DELAY;
        double met = e0->t1 + LATENCY;
        if (met > asked + ch->window_ms[0] / 1000.0 - MARGIN)
            continue;
        s.ev[0] = i;
        int ok = 1;
        for (int k = 1; k < ch->n_steps && ok; k++) {
            ok = 0;
            for (int j = 0; j < ix->n; j++) {
                const demo_event *e = &ix->ev[j];
                if (e->action != ch->action[k] || e->t0 < met - 0.1)
                    continue;
                if (e->t1 + LATENCY > met + ch->window_ms[k] / 1000.0 - MARGIN)
                    break; /* events are in time order: later ones are later still */
                s.ev[k] = j;
                met = e->t1 + LATENCY;
                ok = 1;
                break;
            }
        }
        if (!ok)
            continue;
        s.n = ch->n_steps;
        s.duration = met + COLLECT - s.start;
        if (excluded(ix, s.start, s.start + s.duration) || (ix->clip_end > 0 && s.start + s.duration > ix->clip_end))
            continue;
        out[n++] = s;
    }
    /* shortest first (stable for equal durations: earlier first) */
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && out[b].duration < out[b - 1].duration - 1e-9; b--) {
            demo_segment t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return n;
}

void demo_print_result(FILE *f, const fm_session_result *r)
{
    fprintf(f, "   session decision: %s; distance %.4f (threshold %.2f, %d frames)", 
            fm_verdict_decision_name((fm_verdict_decision)r->decision), r->distance, r->threshold, r->match_frames);
    if (!isnan(r->pad_score))
        fprintf(f, "; passive score median %.3f", r->pad_score);
    fprintf(f, "\n   challenge:");
    for (int i = 0; i < r->n_steps; i++) {
        const fm_session_step *s = &r->steps[i];
        if (s->met)
            fprintf(f, " %s met at %.2f s (asked %.2f s);", action_name(s->action), s->met_at, s->asked_at);
        else
            fprintf(f, " %s NOT met;", action_name(s->action));
    }
    fprintf(f, "%s\n   reasons:", r->challenge_fixed ? " (FIXED FOR TESTING)" : "");
    for (int i = 0; i < r->n_reasons; i++)
        fprintf(f, " %s", r->reasons[i]);
    fprintf(f, "%s\n", r->n_reasons ? "" : " (none)");
}

/* One frame into the session; prints instruction changes. Returns 1 when the session is done or failed. */
static int push(fm_ctx *ctx, fm_session *s, const fm_image *img, int64_t ts, FILE *out, int *last_instr,
                fm_status *st)
{
    fm_session_feedback fb;
    *st = fm_session_push_frame(s, img, ts, &fb);
    if (*st == FM_ERR_INVALID_ARGUMENT) /* a rejected frame fails the session for good: finish says why */
        *st = FM_OK;
    if (*st != FM_OK)
        return 1;
    (void)ctx;
    if (out && (int)fb.instruction != *last_instr) {
        if (fb.step >= 0 && fb.state == FM_SESSION_CHALLENGE)
            fprintf(out, "     [%5.2f s] step %d/%d: %s (%.1f s left)\n", fb.t, fb.step + 1, fb.n_steps, fb.text_en,
                    fb.step_time_left);
        else
            fprintf(out, "     [%5.2f s] %s\n", fb.t, fb.text_en);
        *last_instr = (int)fb.instruction;
    }
    return fb.state == FM_SESSION_DONE || fb.state == FM_SESSION_FAILED;
}

fm_status demo_picture(fm_ctx *ctx, const char *spec, fm_image **out)
{
    const char *at = strrchr(spec, '@');
    char path[4096];
    char *end = NULL;
    double t = at ? strtod(at + 1, &end) : 0;
    if (at && end && *end == '\0' && end != at + 1 && t >= 0 && (size_t)(at - spec) < sizeof path) {
        memcpy(path, spec, (size_t)(at - spec));
        path[at - spec] = '\0';
        return demo_video_frame(ctx, path, t, out);
    }
    return fm_image_load(ctx, spec, FM_PIX_RGB24, out, NULL);
}

fm_status demo_session_still(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const uint8_t *nonce,
                             size_t nonce_len, const fm_session_policy *pol, const fm_image *photo, double seconds,
                             double fps, FILE *out, fm_session_result *res)
{
    fm_image *img = NULL;
    fm_session *s = NULL;
    fm_status st = fm_image_convert(ctx, photo, FM_PIX_RGB24, &img);
    if (st == FM_OK)
        st = fm_session_create(ctx, eng, portrait, nonce, nonce_len, pol, &s);
    if (st != FM_OK)
        goto out;
    int stride = 0;
    const uint8_t *pix = fm_image_pixels(img, 0, &stride);
    int W = fm_image_width(img), H = fm_image_height(img);
    const int J = 6; /* hand shake: up to 6 px */
    if (W <= 2 * J || H <= 2 * J) {
        st = fail(ctx, FM_ERR_INVALID_ARGUMENT, "the attack photo is too small");
        goto out;
    }
    uint32_t rng = 12345u;
    int last = -1;
    int frames = (int)(seconds * fps);
    for (int i = 0; i < frames; i++) {
        rng = rng * 1664525u + 1013904223u;
        int dx = (int)((rng >> 24) % (unsigned)J), dy = (int)((rng >> 16) % (unsigned)J);
        const uint8_t *planes[1] = {pix + (size_t)dy * (size_t)stride + (size_t)dx * 3};
        int strides[1] = {stride};
        fm_image *v = NULL;
        st = fm_image_wrap(ctx, FM_PIX_RGB24, W - J, H - J, planes, strides, 0, &v);
        if (st != FM_OK)
            goto out;
        int done = push(ctx, s, v, (int64_t)llround(i * 1e6 / fps), out, &last, &st);
        fm_image_destroy(v);
        if (st != FM_OK)
            goto out;
        if (done)
            break;
    }
    st = fm_session_finish(s, res);
out:
    fm_session_destroy(s);
    fm_image_destroy(img);
    return st;
}

#if defined(DEMO_HAVE_CLIP)
/* Plays [start, start + duration) of the clip into an existing session; *done when it ended by itself. */
static fm_status play(fm_ctx *ctx, fm_session *s, const char *clip, double start, double duration, FILE *out,
                      int *ended, double *played)
{
    char err[512];
    fmcap *cap = NULL;
    if (fmcap_open_video(clip, 0, &cap, err, sizeof err) != 0)
        return fail(ctx, FM_ERR_IO, "%s", err);
    fm_status st = FM_OK;
    if (fmcap_set_segment(cap, start, duration) != 0) {
        st = fail(ctx, FM_ERR_INVALID_ARGUMENT, "%s: %s", clip, fmcap_errmsg(cap));
        goto out;
    }
    int last = -1;
    *ended = 0;
    for (;;) {
        fmcap_frame f;
        int n = fmcap_next(cap, &f);
        if (n < 0) {
            st = fail(ctx, FM_ERR_IO, "%s: %s", clip, fmcap_errmsg(cap));
            goto out;
        }
        if (n == 0)
            break;
        if (played)
            *played = f.timestamp_us / 1e6;
        const uint8_t *planes[1] = {f.bgr};
        int strides[1] = {f.stride};
        fm_image *img = NULL;
        st = fm_image_wrap(ctx, FM_PIX_BGR24, f.width, f.height, planes, strides, 0, &img);
        if (st != FM_OK)
            goto out;
        int done = push(ctx, s, img, f.timestamp_us, out, &last, &st);
        fm_image_destroy(img);
        if (st != FM_OK)
            goto out;
        if (done) {
            *ended = 1;
            break;
        }
    }
out:
    fmcap_close(cap);
    return st;
}

fm_status demo_video_frame(fm_ctx *ctx, const char *video, double t, fm_image **out)
{
    char err[512];
    fmcap *cap = NULL;
    *out = NULL;
    if (fmcap_open_video(video, 0, &cap, err, sizeof err) != 0)
        return fail(ctx, FM_ERR_IO, "%s", err);
    fm_status st = FM_OK;
    fmcap_frame f;
    if (fmcap_set_segment(cap, t, 0) != 0 || fmcap_next(cap, &f) != 1) {
        st = fail(ctx, FM_ERR_IO, "%s: no frame at %.2f s", video, t);
    } else {
        const uint8_t *planes[1] = {f.bgr};
        int strides[1] = {f.stride};
        fm_image *img = NULL;
        st = fm_image_wrap(ctx, FM_PIX_BGR24, f.width, f.height, planes, strides, 0, &img);
        if (st == FM_OK)
            st = fm_image_convert(ctx, img, FM_PIX_RGB24, out);
        fm_image_destroy(img);
    }
    fmcap_close(cap);
    return st;
}

fm_status demo_session_clip(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const uint8_t *nonce,
                            size_t nonce_len, const fm_session_policy *pol, const char *clip, double start,
                            double duration, FILE *out, fm_session_result *res)
{
    fm_session *s = NULL;
    fm_status st = fm_session_create(ctx, eng, portrait, nonce, nonce_len, pol, &s);
    int ended = 0;
    if (st == FM_OK)
        st = play(ctx, s, clip, start, duration, out, &ended, NULL);
    if (st == FM_OK)
        st = fm_session_finish(s, res);
    fm_session_destroy(s);
    return st;
}

static int cmp_event(const void *a, const void *b)
{
    const demo_event *x = a, *y = b;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0 ? 1 : x->action - y->action;
}

fm_status demo_index_build(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const char *clip, double from,
                           double to, const fm_session_policy *base, demo_index *ix, FILE *progress)
{
    uint8_t digest[32];
    fm_status st = fm_sha256_file(ctx, clip, digest, ix->clip_sha256);
    if (st != FM_OK)
        return st;
    ix->n = 0;
    fm_session_policy pol = *base;
    pol.observe = 1;
    pol.test_n_steps = 0;
    static const uint8_t nonce[16] = {0x66, 0x61, 0x63, 0x65, 0x6d, 0x61, 0x74, 0x63,
                                      0x68, 0x2d, 0x69, 0x6e, 0x64, 0x65, 0x78, 0x31}; /* "facematch-index1" */
    double end = from;
    double c = from;
    while (c < to) {
        /* never index an excluded part (the demo never plays it): jump over it, and stop a chunk where one starts */
        int moved = 0;
        double len = c + CHUNK > to ? to - c : CHUNK, next;
        for (int i = 0; i < ix->n_excl; i++) {
            if (c >= ix->excl_from[i] && c < ix->excl_to[i]) {
                c = ix->excl_to[i];
                moved = 1;
            } else if (ix->excl_from[i] > c && ix->excl_from[i] < c + len) {
                len = ix->excl_from[i] - c;
            }
        }
        if (moved)
            continue;
        next = c + len >= to ? to : c + len - (len == CHUNK ? OVERLAP : 0);
        for (int i = 0; i < ix->n_excl; i++)
            if (fabs(c + len - ix->excl_from[i]) < 1e-9)
                next = ix->excl_to[i];
        fm_session *s = NULL;
        fm_session_result *r = malloc(sizeof *r);
        if (!r)
            return fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        st = fm_session_create(ctx, eng, portrait, nonce, sizeof nonce, &pol, &s);
        int ended = 0;
        double played = 0;
        if (st == FM_OK)
            st = play(ctx, s, clip, c, len, NULL, &ended, &played);
        if (st == FM_OK)
            st = fm_session_finish(s, r);
        fm_session_destroy(s);
        if (st != FM_OK) {
            free(r);
            return st;
        }
        if (r->n_events_total > r->n_events && progress)
            fprintf(progress, "   (chunk at %.0f s: %d events, only the first %d kept)\n", c, r->n_events_total,
                    r->n_events);
        int added = 0;
        for (int i = 0; i < r->n_events && ix->n < DEMO_MAX_EVENTS; i++) {
            demo_event e = {r->events[i].action, c + r->events[i].t_start, c + r->events[i].t_end,
                            r->events[i].value};
            int dup = 0; /* the overlap sees some events twice */
            for (int j = 0; j < ix->n && !dup; j++)
                dup = ix->ev[j].action == e.action && fabs(ix->ev[j].t0 - e.t0) < 0.4;
            if (!dup)
                ix->ev[ix->n++] = e, added++;
        }
        free(r);
        end = c + played;
        if (progress)
            fprintf(progress, "   indexed %6.1f - %6.1f s: %d events\n", c, end, added);
        if (played < len - 1.0)
            break; /* the clip ended */
        c = next;
    }
    qsort(ix->ev, (size_t)ix->n, sizeof ix->ev[0], cmp_event);
    ix->clip_end = end;
    return FM_OK;
}
#else
fm_status demo_video_frame(fm_ctx *ctx, const char *video, double t, fm_image **out)
{
    (void)video, (void)t;
    *out = NULL;
    return fail(ctx, FM_ERR_UNSUPPORTED, "this build cannot read video frames (capture/ needs libopencv-dev)");
}

fm_status demo_session_clip(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const uint8_t *nonce,
                            size_t nonce_len, const fm_session_policy *pol, const char *clip, double start,
                            double duration, FILE *out, fm_session_result *res)
{
    (void)eng, (void)portrait, (void)nonce, (void)nonce_len, (void)pol, (void)clip, (void)start, (void)duration,
        (void)out, (void)res;
    return fail(ctx, FM_ERR_UNSUPPORTED, "this build cannot play the clip into a session (needs capture/ with "
                "libopencv-dev and the session's observe mode)");
}

fm_status demo_index_build(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const char *clip, double from,
                           double to, const fm_session_policy *base, demo_index *ix, FILE *progress)
{
    (void)eng, (void)portrait, (void)clip, (void)from, (void)to, (void)base, (void)ix, (void)progress;
    return fail(ctx, FM_ERR_UNSUPPORTED, "this build cannot play the clip into a session (needs capture/ with "
                "libopencv-dev and the session's observe mode)");
}
#endif
