// capture.cpp — the thin OpenCV adapter behind capture.h.
#include "capture.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <glob.h>
#include <sys/stat.h>
#include <time.h>

struct fmcap {
    fmcap_kind kind = FMCAP_VIDEO;
    cv::VideoCapture vc;
    std::vector<std::string> files;
    size_t next_file = 0;
    double fps = 0;
    int realtime = 0;
    long index = 0;
    int64_t last_ts = -1;
    int64_t last_media = -1; // media time of the previous frame (files)
    int64_t t_start_mono = 0; // realtime playback / camera: monotonic time of the first frame
    double first_media_ms = NAN;
    double seg_start_ms = 0;      // segment (video files): media time of the first frame to deliver
    double seg_len_ms = 0;        // 0 = to the end
    bool started = false;
    long delivered = 0;
    cv::Mat frame;
    std::string err;
};

static int64_t mono_us()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fail(char *err, size_t cap, const std::string &msg)
{
    if (err && cap) {
        std::snprintf(err, cap, "%s", msg.c_str());
    }
    return -1;
}

extern "C" int fmcap_open_camera(const char *device, int width, int height, double fps, fmcap **out, char *err,
                                 size_t errcap)
{
    if (!device || !out)
        return fail(err, errcap, "fmcap_open_camera: NULL argument");
    *out = nullptr;
    fmcap *c = new (std::nothrow) fmcap;
    if (!c)
        return fail(err, errcap, "out of memory");
    c->kind = FMCAP_CAMERA;
    bool ok;
    try {
        const char *p = device;
        bool digits = *p != 0;
        for (; *p; p++)
            digits = digits && std::isdigit((unsigned char)*p);
        if (digits)
            ok = c->vc.open(std::atoi(device), cv::CAP_V4L2);
        else
            ok = c->vc.open(device, cv::CAP_V4L2);
        if (ok) {
            if (width > 0)
                c->vc.set(cv::CAP_PROP_FRAME_WIDTH, width);
            if (height > 0)
                c->vc.set(cv::CAP_PROP_FRAME_HEIGHT, height);
            if (fps > 0)
                c->vc.set(cv::CAP_PROP_FPS, fps);
            c->fps = c->vc.get(cv::CAP_PROP_FPS);
        }
    } catch (const cv::Exception &e) {
        delete c;
        return fail(err, errcap, std::string("camera ") + device + ": " + e.what());
    }
    if (!ok) {
        delete c;
        return fail(err, errcap, std::string("cannot open camera ") + device + " (V4L2)");
    }
    *out = c;
    return 0;
}

extern "C" int fmcap_open_video(const char *path, int realtime, fmcap **out, char *err, size_t errcap)
{
    if (!path || !out)
        return fail(err, errcap, "fmcap_open_video: NULL argument");
    *out = nullptr;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return fail(err, errcap, std::string(path) + ": not a readable file");
    fmcap *c = new (std::nothrow) fmcap;
    if (!c)
        return fail(err, errcap, "out of memory");
    c->kind = FMCAP_VIDEO;
    c->realtime = realtime;
    bool ok;
    try {
        ok = c->vc.open(path, cv::CAP_FFMPEG);
        if (!ok)
            ok = c->vc.open(path, cv::CAP_ANY);
        if (ok)
            c->fps = c->vc.get(cv::CAP_PROP_FPS);
    } catch (const cv::Exception &e) {
        delete c;
        return fail(err, errcap, std::string(path) + ": " + e.what());
    }
    if (!ok) {
        delete c;
        return fail(err, errcap, std::string(path) + ": cannot decode this video");
    }
    if (!(c->fps > 0 && c->fps <= 1000))
        c->fps = 30;
    *out = c;
    return 0;
}

static bool image_name(const std::string &n)
{
    std::string l = n;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char ch) { return (char)std::tolower(ch); });
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm"};
    for (const char *e : ext) {
        size_t k = std::strlen(e);
        if (l.size() > k && l.compare(l.size() - k, k, e) == 0)
            return true;
    }
    return false;
}

extern "C" int fmcap_open_frames(const char *spec, double fps, fmcap **out, char *err, size_t errcap)
{
    if (!spec || !out)
        return fail(err, errcap, "fmcap_open_frames: NULL argument");
    *out = nullptr;
    std::vector<std::string> files;
    struct stat sb;
    if (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(spec);
        if (!d)
            return fail(err, errcap, std::string(spec) + ": cannot list the directory");
        while (struct dirent *e = readdir(d)) {
            std::string n = e->d_name;
            if (n[0] != '.' && image_name(n))
                files.push_back(std::string(spec) + "/" + n);
        }
        closedir(d);
    } else {
        glob_t g;
        std::memset(&g, 0, sizeof g);
        if (glob(spec, 0, nullptr, &g) == 0)
            for (size_t i = 0; i < g.gl_pathc; i++)
                files.push_back(g.gl_pathv[i]);
        globfree(&g);
    }
    if (files.empty())
        return fail(err, errcap, std::string(spec) + ": no image files found");
    std::sort(files.begin(), files.end());
    fmcap *c = new (std::nothrow) fmcap;
    if (!c)
        return fail(err, errcap, "out of memory");
    c->kind = FMCAP_FRAMES;
    c->files = std::move(files);
    c->fps = fps > 0 && fps <= 1000 ? fps : 30;
    *out = c;
    return 0;
}

extern "C" int fmcap_set_segment(fmcap *c, double start_s, double duration_s)
{
    if (!c)
        return -1;
    if (c->kind != FMCAP_VIDEO) {
        c->err = "a segment applies to video files only";
        return -1;
    }
    if (c->started) {
        c->err = "fmcap_set_segment: frames were already read";
        return -1;
    }
    if (!(start_s >= 0 && start_s < 1e7) || !(duration_s < 1e7) || std::isnan(duration_s)) {
        c->err = "fmcap_set_segment: start must be in [0, 1e7) s, duration below 1e7 s";
        return -1;
    }
    c->seg_start_ms = start_s * 1000;
    c->seg_len_ms = duration_s > 0 ? duration_s * 1000 : 0;
    if (start_s > 0) {
        try {
            // a failed seek is not an error: frames before the start are then decoded and skipped
            c->vc.set(cv::CAP_PROP_POS_MSEC, c->seg_start_ms);
        } catch (const cv::Exception &) {
        }
    }
    return 0;
}

// Reads the next video frame at or after the segment start; returns its media time (ms) or NaN at the end.
static double read_video_frame(fmcap *c, long *file_index)
{
    for (;;) {
        if (!c->vc.read(c->frame) || c->frame.empty())
            return NAN;
        double ms = c->vc.get(cv::CAP_PROP_POS_MSEC);
        double pos = c->vc.get(cv::CAP_PROP_POS_FRAMES); // frames decoded so far, i.e. this frame's number + 1
        *file_index = pos >= 1 ? (long)pos - 1 : c->delivered;
        if (!std::isfinite(ms))
            ms = *file_index * 1000.0 / c->fps;
        // skip what lies before the segment (half a frame of tolerance for rounded container times)
        if (c->delivered == 0 && c->seg_start_ms > 0 && ms < c->seg_start_ms - 500.0 / c->fps)
            continue;
        return ms;
    }
}

extern "C" int fmcap_next(fmcap *c, fmcap_frame *f)
{
    if (!c || !f)
        return -1;
    c->started = true;
    try {
        long file_index = c->index;
        int64_t ts;
        if (c->kind == FMCAP_FRAMES) {
            if (c->next_file >= c->files.size())
                return 0;
            const std::string &path = c->files[c->next_file++];
            c->frame = cv::imread(path, cv::IMREAD_COLOR);
            if (c->frame.empty()) {
                c->err = path + ": cannot decode the image";
                return -1;
            }
            ts = (int64_t)std::llround(c->index * 1e6 / c->fps);
        } else {
            if (c->kind == FMCAP_CAMERA) {
                if (!c->vc.read(c->frame) || c->frame.empty())
                    return 0;
                ts = mono_us();
            } else {
                double ms = read_video_frame(c, &file_index);
                if (std::isnan(ms))
                    return 0;
                if (std::isnan(c->first_media_ms))
                    c->first_media_ms = ms;
                if (c->seg_len_ms > 0 && ms - c->first_media_ms >= c->seg_len_ms)
                    return 0;
                int64_t media = (int64_t)std::llround((ms - c->first_media_ms) * 1000);
                // containers without usable timestamps: delivered frames / fps
                if (media <= c->last_media && c->delivered > 0)
                    media = (int64_t)std::llround(c->delivered * 1e6 / c->fps);
                if (media <= c->last_media)
                    media = c->last_media + 1;
                c->last_media = media;
                ts = media;
                if (c->realtime) {
                    if (c->delivered == 0)
                        c->t_start_mono = mono_us();
                    int64_t due = c->t_start_mono + media, now = mono_us();
                    if (due > now)
                        std::this_thread::sleep_for(std::chrono::microseconds(due - now));
                    ts = mono_us();
                }
            }
        }
        if (c->frame.type() != CV_8UC3) {
            cv::Mat tmp;
            if (c->frame.channels() == 1)
                cv::cvtColor(c->frame, tmp, cv::COLOR_GRAY2BGR);
            else if (c->frame.channels() == 4)
                cv::cvtColor(c->frame, tmp, cv::COLOR_BGRA2BGR);
            else {
                c->err = "unsupported frame type";
                return -1;
            }
            c->frame = tmp;
        }
        if (ts <= c->last_ts)
            ts = c->last_ts + 1; // never repeat a timestamp (coarse clocks)
        c->last_ts = ts;
        f->bgr = c->frame.data;
        f->width = c->frame.cols;
        f->height = c->frame.rows;
        f->stride = (int)c->frame.step[0];
        f->timestamp_us = ts;
        f->index = c->kind == FMCAP_VIDEO ? file_index : c->index;
        c->index++;
        c->delivered++;
        return 1;
    } catch (const cv::Exception &e) {
        c->err = e.what();
        return -1;
    }
}

extern "C" double fmcap_fps(const fmcap *c) { return c ? c->fps : 0; }
extern "C" fmcap_kind fmcap_get_kind(const fmcap *c) { return c ? c->kind : FMCAP_VIDEO; }
extern "C" const char *fmcap_errmsg(const fmcap *c) { return c ? c->err.c_str() : "NULL capture handle"; }

extern "C" void fmcap_close(fmcap *c)
{
    if (!c)
        return;
    try {
        c->vc.release();
    } catch (...) {
    }
    delete c;
}
