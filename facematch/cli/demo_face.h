/*
 * demo_face.h — the face step of `facematch demo` (demo-only code, not part of the library): a live session
 * (fm_session) run on a recorded sample clip.
 *
 * A recorded clip cannot react to the random challenge the service's nonce selects. The demo therefore simulates the
 * holder by CHOOSING FOOTAGE: the clip is indexed once (which blinks / turns / nods our own detectors see, and when:
 * an observe-only session, demo_index_build), and for the nonce-derived challenge the demo picks a segment where
 * those actions happen in that order within the windows (demo_pick_segments). The session itself then runs normally
 * on that segment with the nonce: it asks the challenge, checks it, checks liveness and the face, and decides. The
 * index only chooses footage; it never feeds the session. When no segment fits, the caller asks for a new nonce.
 *
 * Index file (text, one record per line, '#' comments):
 *   clip-sha256 <64 hex>            the clip the index was built from (a stale index is refused)
 *   exclude <from_s> <to_s> <why>   parts of the clip never played (e.g. around the frame the card portrait is)
 *   event <action> <t_start> <t_end> <value>   seconds from the start of the clip
 * Threads: one thread; no global state.
 */
#ifndef FM_DEMO_FACE_H
#define FM_DEMO_FACE_H

#include "facematch.h"

#include <stdio.h>

#define DEMO_MAX_EVENTS 1024
#define DEMO_MAX_EXCLUDE 8

typedef struct demo_event {
    int action;               /* fm_challenge_action */
    double t0, t1, value;     /* clip seconds */
} demo_event;

typedef struct demo_index {
    char clip_sha256[65];
    demo_event ev[DEMO_MAX_EVENTS];
    int n;
    double excl_from[DEMO_MAX_EXCLUDE], excl_to[DEMO_MAX_EXCLUDE];
    char excl_why[DEMO_MAX_EXCLUDE][128];
    int n_excl;
    double clip_end;          /* seconds indexed (0 = unknown) */
} demo_index;

typedef struct demo_segment {
    double start, duration;   /* clip seconds */
    int ev[FM_CHALLENGE_MAX_STEPS]; /* index events the challenge steps are expected from */
    int n;
} demo_segment;

/* Reads an index file; 0 or -1 with a message. */
int demo_index_load(const char *path, demo_index *ix, char *err, size_t errcap);
/* Writes it (0 / -1). */
int demo_index_write(const demo_index *ix, const char *path, const char *comment);
/* Indexes [from, to) of the clip with observe-only sessions (40 s chunks, 5 s overlap, duplicates merged) against
 * the reference descriptor; progress lines go to `progress` (may be NULL). Keeps ix's exclusions. */
fm_status demo_index_build(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const char *clip, double from,
                           double to, const fm_session_policy *base, demo_index *ix, FILE *progress);
/* Segments of the clip where the challenge's actions happen in order within the windows, best (shortest) first;
 * returns how many (at most cap). */
int demo_pick_segments(const demo_index *ix, const fm_challenge *ch, demo_segment *out, int cap);

/* Runs a session on [start, start + duration) of the clip (the session's own nonce-derived challenge, or the policy's
 * testing one); prints the instructions as they change to `out` (may be NULL). */
fm_status demo_session_clip(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const uint8_t *nonce,
                            size_t nonce_len, const fm_session_policy *pol, const char *clip, double start,
                            double duration, FILE *out, fm_session_result *res);
/* Presentation attack: a still photo shown to the camera, held by a slightly shaking hand (the photo shifted by a
 * few pixels every frame), `seconds` at `fps`, through a session. */
fm_status demo_session_still(fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait, const uint8_t *nonce,
                             size_t nonce_len, const fm_session_policy *pol, const fm_image *photo, double seconds,
                             double fps, FILE *out, fm_session_result *res);
/* A copy (RGB24) of the frame of a video at t seconds (the card portrait cut from another recording). */
fm_status demo_video_frame(fm_ctx *ctx, const char *video, double t, fm_image **out);
/* "IMAGE" (any format fm_image_load reads) or "VIDEO@SECONDS" (that frame): RGB24. */
fm_status demo_picture(fm_ctx *ctx, const char *spec, fm_image **out);
/* One line: decision, distance, steps met, passive score, reasons. */
void demo_print_result(FILE *f, const fm_session_result *r);

#endif
