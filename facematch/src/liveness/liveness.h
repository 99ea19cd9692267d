/*
 * liveness.h — per-frame liveness signals and event detectors (internal, not installed).
 *
 * Measurements (stateless, per frame):
 *   - eye aspect ratio (EAR) from 68 iBUG landmarks (Soukupová & Čech 2016):
 *       EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)   with p1..p6 = points 36..41 (or 42..47)
 *   - eye-closed probability from faceplugin's fr_eye.onnx (24x24 grey crops from the 68 points, faceplugin's
 *     getEyeBBox), mean of both eyes;
 *   - head pose yaw/pitch/roll from 68 landmarks fitted to a generic 3D face model (iterative least squares, pinhole
 *     camera, focal length assumed = image width, principal point at the image centre). Conventions below;
 *   - passive anti-spoof: fr_liveness.onnx with faceplugin's crop (box scaled 2.7x, 128x128, raw RGB) plus
 *     hand-made cues, fused into one "probability live" score (liveness_pad.c documents the fusion and where the
 *     threshold was calibrated).
 * Detectors (stateful, caller-owned plain structs, no allocation, one per face track):
 *   - blink: robust open-eye EAR baseline (a high quantile of the last 2 s), closure below a fraction of the
 *     baseline or a rise of the eye model's closed-probability over its own open-eye level; blink = closing then
 *     reopening, the whole event >= 0.1 s and the closed span <= 0.5 s (configurable); gaps in the frame stream are
 *     tolerated (missing frames = NaN inputs are skipped; a gap longer than max_gap resets the state);
 *   - head motion: turn left / turn right / nod relative to a neutral pose, requiring passage through intermediate
 *     angles (monotone sweep sampled at >= 2 intermediate bands) and plausible angular speed.
 *
 * POSE SIGN CONVENTIONS (clips are NOT mirrored: the image is what the camera sees):
 *   yaw   > 0: the nose points towards IMAGE-RIGHT = the subject's OWN LEFT. "turn left" (subject's own left) therefore
 *              means yaw increasing from the neutral pose.
 *   pitch > 0: head down (nose towards the chin side / image bottom). A nod = pitch goes down (>0) and back.
 *   roll  > 0: head tilted so that the image-left eye (subject's right eye) is higher than the image-right eye
 *              (clockwise rotation of the face in the image).
 *   Angles in degrees. Camera frame: x to image-right, y to image-bottom, z away from the camera into the scene.
 *
 * Thread rules: lv_models is immutable after creation and may be shared by threads; every call that runs a model
 * takes the caller's own nn_arena (one per thread / fm_ctx). Detector structs belong to one thread.
 */
#ifndef FM_LIVENESS_H
#define FM_LIVENESS_H

#include "facematch.h"
#include "nn/nn.h"

#include <stdint.h>

/* ---- models ----------------------------------------------------------------------------------------------- */

typedef struct lv_models lv_models;

typedef struct lv_models_config {
    const char *models_dir;        /* NULL = fm_models_default_dir() */
    const char *liveness_path;     /* optional: overrides models_dir/fr_liveness.onnx */
    const char *eye_path;          /* optional: overrides models_dir/fr_eye.onnx */
    const void *liveness_buf;      /* optional bytes in memory (override paths), read only during create */
    size_t liveness_len;
    const void *eye_buf;
    size_t eye_len;
    int verify_sha256;             /* 1 (default): manifest SHA-256 check (FM_ERR_MODEL_HASH) */
    int need_eye;                  /* 1 (default): fr_eye is required; 0: skipped when absent (eye prob = NaN) */
} lv_models_config;

void lv_models_config_init(lv_models_config *cfg);
/* Loads fr_liveness.onnx (always required) and fr_eye.onnx. FM_ERR_IO / FM_ERR_MODEL_HASH / FM_ERR_MODEL_INVALID. */
fm_status lv_models_create(fm_ctx *ctx, const lv_models_config *cfg, lv_models **out);
void lv_models_destroy(lv_models *m);
int lv_models_has_eye(const lv_models *m);

/* ---- eyes ------------------------------------------------------------------------------------------------- */

/* EAR of one eye: which = 0 -> points 36..41 (image-left eye = subject's right), 1 -> 42..47. NaN if degenerate. */
double lv_ear(const fm_point pts[68], int which);
/* Mean EAR of both eyes (NaN if either is degenerate). */
double lv_ear_mean(const fm_point pts[68]);

/* Eye-closed probability (0..1), mean over both eyes, from fr_eye.onnx. img: any fm_image (converted to upright
 * RGB internally if needed). *p_closed = NaN and FM_OK when the eye model is not loaded. */
fm_status lv_eye_closed(fm_ctx *ctx, const lv_models *m, nn_arena *arena, const fm_image *img,
                        const fm_point pts[68], double *p_closed);

/* ---- head pose -------------------------------------------------------------------------------------------- */

typedef struct lv_pose {
    double yaw, pitch, roll;   /* degrees, conventions above */
    double rms_px;             /* RMS reprojection residual in pixels (fit quality) */
    double rms_rel;            /* rms_px divided by the inter-ocular distance */
    int ok;                    /* 1 if the fit converged */
} lv_pose;

/* Fits the generic 3D model to 68 landmarks of an image of width x height. Returns 0 (out->ok = 1) or -1. */
int lv_head_pose68(const fm_point pts[68], int width, int height, lv_pose *out);

/* ---- passive anti-spoof ----------------------------------------------------------------------------------- */

typedef struct lv_pad_result {
    double model_live;   /* fr_liveness softmax probs[0] (faceplugin's liveness score) */
    double model_probs[3];
    double moire;        /* high-frequency periodic energy of the face crop (higher = more screen-like) */
    double specular;     /* fraction of saturated, low-saturation pixels in the face crop */
    double colour;       /* chroma spread of the inner face (the fit weighs it negatively: screen replays show
                            boosted colour; NUAA prints the opposite — a weak, dataset-dependent cue) */
    double fused;        /* fused probability live 0..1 (see liveness_pad.c) */
    float box[4];        /* the detector-style box (x1, y1, x2, y2) the crop and the cues were taken from */
    int crop[4];         /* fr_liveness's input rectangle (x, y, w, h) in the image, before the 128x128 resize */
} lv_pad_result;

/* box: the face as returned by fm_detect (dlib convention); mapped back to the detector's own box for
 * faceplugin's crop. img: any fm_image. */
fm_status lv_pad_score(fm_ctx *ctx, const lv_models *m, nn_arena *arena, const fm_image *img,
                       const fm_face_box *box, lv_pad_result *out);
/* Same with an UltraFace box (x1, y1, x2, y2; what fr_detect outputs), as faceplugin feeds it. */
fm_status lv_pad_score_raw(fm_ctx *ctx, const lv_models *m, nn_arena *arena, const fm_image *img,
                           const float raw_box[4], lv_pad_result *out);
/* Threshold on lv_pad_result.fused calibrated on pad.csv (live if fused >= threshold). */
double lv_pad_default_threshold(void);

/* Video-level passive decision (what a session consumes): the median of the per-frame fused scores over the
 * scored frames (NaN scores skipped) must reach lv_pad_video_threshold(); at least LV_PAD_VIDEO_MIN_FRAMES scored
 * frames are needed, else evaluated = 0. The median ignores a minority of frames where another face or a bad crop
 * dominates. Calibration (clips and stills, which were held out): README "Liveness signals", bench/pad_calibrate.py. */
#define LV_PAD_VIDEO_MIN_FRAMES 3
typedef struct lv_pad_video_result {
    int evaluated, pass;
    int scored;         /* finite scores used */
    double median;      /* NaN when none */
    double threshold;
} lv_pad_video_result;
double lv_pad_video_threshold(void);
/* scores: n per-frame fused scores (any order). No allocation; above 1024 scores every k-th one is used. */
void lv_pad_video(const double *scores, int n, lv_pad_video_result *out);

/* ---- blink detector --------------------------------------------------------------------------------------- */

typedef struct lv_blink_params {
    double close_ratio;    /* closed when EAR < close_ratio * baseline (default 0.8) */
    double open_ratio;     /* reopened when EAR > open_ratio * baseline (default 0.9) */
    double p_closed;       /* eye model: closed when p > max(p_closed, p_base + p_rise) (default 0.5) */
    double p_rise;         /* ... i.e. a rise of at least this over the model's own open-eye level p_base (0.4) */
    double p_max_base;     /* the model is ignored while its open-eye level p_base exceeds this (default 0.6: it
                              reads "closed" on some faces/glasses all along) */
    double min_dur;        /* shortest accepted event, closing-to-reopening: from the last open frame before to the
                              first open frame after, plus one frame interval of slack (default 0.1 s: at 30 fps a
                              single closed frame qualifies) */
    double max_dur;        /* longest accepted closed span: first to last closed frame plus one frame interval,
                              minus one frame of slack (default 0.5 s) */
    double short_ratio;    /* a closed span shorter than min_dur (one or two frames) counts only when the EAR went
                              below short_ratio * baseline (the eye model alone does not confirm it; default 0.65) */
    double baseline_win;   /* seconds of history for the robust baselines (default 2.0) */
    double baseline_q;     /* quantile of the EAR history taken as the open-eye baseline (default 0.75) */
    double warmup;         /* seconds of history before blinks are reported (default 0.05) */
    double max_gap;        /* a gap longer than this between frames resets the closure in progress (default 0.25 s) */
} lv_blink_params;

typedef struct lv_blink_event {
    double t_start, t_end;  /* first closed frame, first reopened frame */
    double duration;        /* closed span (first to last closed frame + one frame interval), seconds */
    double min_ratio;       /* lowest EAR / baseline during the blink */
} lv_blink_event;

#define LV_BLINK_HIST 64

typedef struct lv_blink_detector {
    lv_blink_params p;
    double baseline;        /* open-eye EAR baseline: baseline_q quantile of the recent EAR (NaN until seen) */
    double base_time;       /* seconds of history accumulated */
    double last_t;          /* last frame time (NaN = none) */
    double last_open_t;     /* last frame the eyes were open */
    double last_dt;         /* last frame interval */
    int closed;
    double closed_since, last_closed_t, open_before_t, min_ratio;
    int model_seen;         /* the eye model read "closed" during the closure in progress */
    int blinks;             /* blinks reported so far */
    double p_base;          /* eye model's median closed-probability on frames the EAR calls open (NaN until seen) */
    /* ring buffers (no allocation): recent EAR values (with times) and eye-model values on EAR-open frames */
    double ear_hist[LV_BLINK_HIST], ear_hist_t[LV_BLINK_HIST];
    int ear_n, ear_pos;
    double p_hist[LV_BLINK_HIST];
    int p_n, p_pos;
} lv_blink_detector;

void lv_blink_params_init(lv_blink_params *p);
void lv_blink_init(lv_blink_detector *d, const lv_blink_params *p /* NULL = defaults */);
/* Feeds one frame: t seconds (increasing), ear (NaN = no face/landmarks this frame), p_closed (NaN = unknown).
 * Returns 1 and fills *ev when a blink has just completed, else 0. */
int lv_blink_push(lv_blink_detector *d, double t, double ear, double p_closed, lv_blink_event *ev);

/* ---- head motion detector --------------------------------------------------------------------------------- */

typedef enum lv_motion {
    LV_MOTION_NONE = 0,
    LV_MOTION_TURN_LEFT = 1,   /* subject's own left: yaw increases */
    LV_MOTION_TURN_RIGHT = 2,  /* subject's own right: yaw decreases */
    LV_MOTION_NOD = 3          /* pitch down (> 0) and back */
} lv_motion;

typedef struct lv_motion_params {
    double turn_deg;       /* yaw change from neutral that completes a turn (default 15) */
    double nod_deg;        /* pitch change that counts as the nod's low point (default 12) */
    double nod_return;     /* nod completes when pitch comes back within this of neutral (default 0.5 * nod_deg) */
    double min_sweep_s;    /* minimum time from leaving neutral to reaching the target (default 0.03 s) */
    double max_sweep_s;    /* maximum time (default 3.0 s) */
    double max_speed;      /* deg/s between consecutive frames; faster = implausible jump, resets (default 600) */
    int min_bands;         /* intermediate angle bands (of 3 between neutral and the target) that must be seen on
                              the way (default 1: at 30 fps a brisk 200 deg/s turn gives ~1-2 samples in between) */
    double neutral_tau;    /* time constant of the neutral-pose estimate while near frontal (default 1.5 s) */
    double neutral_max_yaw; /* the neutral yaw estimate is kept within +-this of camera-frontal (yaw 0): a head held
                              turned (or a first frame taken mid-turn) is not the neutral pose (default 8 deg;
                              NaN = unbounded) */
    double max_gap;        /* longer frame gaps reset the sweep in progress (default 0.3 s) */
} lv_motion_params;

typedef struct lv_motion_event {
    lv_motion motion;
    double t_start, t_end;  /* left neutral / completed */
    double peak_deg;        /* largest change from neutral reached */
} lv_motion_event;

typedef struct lv_motion_detector {
    lv_motion_params p;
    double yaw0, pitch0;    /* neutral pose estimate (NaN until initialised) */
    double neutral_time;
    double last_t, last_yaw, last_pitch;
    /* sweep in progress per axis direction: 0 yaw+, 1 yaw-, 2 pitch+ */
    int active[3];
    double start_t[3], peak[3];
    unsigned bands[3];      /* bit i: band i of (0, target) visited */
    int reached[3];         /* nod: low point reached, waiting for the return */
    double reached_t[3];
    int armed[3];           /* the axis was seen near neutral since its last sweep: only then may a sweep start (a
                               sweep cannot begin from a far pose, e.g. after a reset by a pose-fit flip) */
    double hist[2][2];      /* previous two raw (yaw, pitch) samples: a median of 3 suppresses landmark jitter */
    int hist_n;
} lv_motion_detector;

void lv_motion_params_init(lv_motion_params *p);
void lv_motion_init(lv_motion_detector *d, const lv_motion_params *p /* NULL = defaults */);
/* Sets the neutral pose explicitly (e.g. the mean pose while the face settled frontal); otherwise the first frame
 * starts it and it follows the head slowly while the head is near it and no sweep is in progress. */
void lv_motion_set_neutral(lv_motion_detector *d, double yaw0, double pitch0);
/* Feeds one frame's pose (NaN = none this frame); the detector works on the median of the last 3 samples.
 * A nod is cancelled when the yaw leaves neutral by more than 0.8 of a turn (pitch couples with large yaw). Returns 1 and fills *ev when a motion completed, else 0. */
int lv_motion_push(lv_motion_detector *d, double t, double yaw, double pitch, lv_motion_event *ev);
const char *lv_motion_name(lv_motion m);

#endif
