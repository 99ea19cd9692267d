/*
 * capture.h — frame sources outside libfacematch (the CLI and demos use them; the library never does).
 *
 * One small C interface over three sources, implemented with OpenCV's videoio/imgcodecs (capture.cpp):
 *   - a V4L2 camera (device path such as /dev/video0, or an index "0"), optional size and frame rate;
 *   - a video file (any container/codec the system's OpenCV/FFmpeg decodes), timestamps from the container
 *     (CAP_PROP_POS_MSEC) or, when those do not increase, frame index / fps; with realtime = 1 the file is played at
 *     its real frame timing (frames are delivered no faster than they were recorded, and time-stamped with the
 *     monotonic clock, as a camera would);
 *   - an image sequence: a directory (every .jpg/.jpeg/.png/.bmp/.ppm/.pgm file, sorted by name) or a glob pattern,
 *     time-stamped index / fps (fps default 30).
 * Frames are upright BGR24 (3 bytes per pixel), borrowed until the next fmcap_next or fmcap_close.
 * Timestamps are microseconds, strictly increasing within one source. A handle belongs to one thread.
 */
#ifndef FM_CAPTURE_H
#define FM_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fmcap fmcap;

typedef struct fmcap_frame {
    const uint8_t *bgr;    /* width * height BGR24 pixels, rows of `stride` bytes (borrowed) */
    int width, height, stride;
    int64_t timestamp_us;  /* monotonic capture time (files: media time from the first frame) */
    long index;            /* 0-based frame number (in the file, also with a segment) */
} fmcap_frame;

typedef enum fmcap_kind { FMCAP_CAMERA = 1, FMCAP_VIDEO = 2, FMCAP_FRAMES = 3 } fmcap_kind;

/* Each open function returns 0 and sets *out, or -1 with a message in err (capacity errcap, may be NULL). */
int fmcap_open_camera(const char *device, int width, int height, double fps, fmcap **out, char *err, size_t errcap);
int fmcap_open_video(const char *path, int realtime, fmcap **out, char *err, size_t errcap);
int fmcap_open_frames(const char *dir_or_glob, double fps, fmcap **out, char *err, size_t errcap);

/* Video files only, before the first fmcap_next: play only the segment starting at start_s seconds of media time
 * (0 = the beginning) and lasting duration_s seconds (<= 0 = to the end). The file is seeked (OpenCV/FFmpeg seeks to
 * the key frame before and decodes forward), then frames before start_s are skipped; timestamps count from the first
 * delivered frame (0 us), strictly increasing, and realtime playback starts with it. fmcap_frame.index stays the
 * frame's number in the file. Returns 0, or -1 (not a video file, already started, bad values, start beyond the
 * end is only seen by fmcap_next, which then returns 0). */
int fmcap_set_segment(fmcap *c, double start_s, double duration_s);

/* Next frame: 1 = a frame in *f, 0 = end of the source, -1 = error (fmcap_errmsg). */
int fmcap_next(fmcap *c, fmcap_frame *f);
/* Frame rate the source declares (0 if unknown). */
double fmcap_fps(const fmcap *c);
fmcap_kind fmcap_get_kind(const fmcap *c);
const char *fmcap_errmsg(const fmcap *c);
void fmcap_close(fmcap *c);

#ifdef __cplusplus
}
#endif

#endif
