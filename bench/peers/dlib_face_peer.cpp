// dlib_face_peer: the reference timings for bench_face (dlib 19.24 from Debian's libdlib-dev).
//   dlib_face_peer --models DIR desc CHIP.png N        median ms of the ResNet descriptor of a 150x150 chip
//   dlib_face_peer --models DIR compare A B N          median ms of a whole compare: load both images, HOG
//                                                      detector, largest face, 5 points, chip, descriptor, distance
//   dlib_face_peer --models DIR hog IMG N              median thread-CPU ms of the HOG frontal face detector on IMG
//                                                      (image decoded once; bench_hog)
// Prints one JSON object. bench_face runs it pinned to one core (taskset) with OPENBLAS_NUM_THREADS=1.
#include <dlib/dnn.h>
#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <string>
#include <vector>

using namespace dlib;

#include "dlib_face_nets.hpp" // tests/oracle: dlib's published network types

static double ms_since(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of this thread (a shared, loaded machine inflates wall time with the neighbours' work)
static double thread_cpu_ms()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 5 || std::string(argv[1]) != "--models") {
        std::fprintf(stderr, "usage: dlib_face_peer --models DIR desc CHIP N | compare A B N\n");
        return 2;
    }
    std::string models = argv[2], mode = argv[3];
    try {
        anet_type net;
        deserialize(models + "/dlib_face_recognition_resnet_model_v1.dat") >> net;
        if (mode == "desc" && argc >= 6) {
            matrix<rgb_pixel> chip;
            load_image(chip, argv[4]);
            int n = std::atoi(argv[5]);
            matrix<float, 0, 1> d = net(chip); // warm-up
            std::vector<double> t, tc;
            for (int i = 0; i < n; i++) {
                auto t0 = std::chrono::steady_clock::now();
                double c0 = thread_cpu_ms();
                d = net(chip);
                tc.push_back(thread_cpu_ms() - c0);
                t.push_back(ms_since(t0));
            }
            std::printf("{\"desc_median_ms\":%.4f,\"desc_min_ms\":%.4f,\"desc_cpu_median_ms\":%.4f,"
                        "\"desc_cpu_min_ms\":%.4f}\n", median(t), *std::min_element(t.begin(), t.end()), median(tc),
                        *std::min_element(tc.begin(), tc.end()));
            return 0;
        }
        if (mode == "hog" && argc >= 6) {
            frontal_face_detector hog = get_frontal_face_detector();
            matrix<rgb_pixel> img;
            load_image(img, argv[4]);
            int n = std::atoi(argv[5]);
            size_t faces = hog(img).size(); // warm-up
            std::vector<double> t;
            for (int i = 0; i < n; i++) {
                timespec a, b;
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
                faces = hog(img).size();
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
                t.push_back((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
            }
            std::printf("{\"hog_median_ms\":%.4f,\"hog_min_ms\":%.4f,\"hog_faces\":%zu}\n", median(t),
                        *std::min_element(t.begin(), t.end()), faces);
            return 0;
        }
        if (mode == "compare" && argc >= 7) {
            shape_predictor sp5;
            deserialize(models + "/shape_predictor_5_face_landmarks.dat") >> sp5;
            frontal_face_detector hog = get_frontal_face_detector();
            int n = std::atoi(argv[6]);
            std::vector<double> t;
            double dist = -1;
            for (int i = 0; i <= n; i++) {
                auto t0 = std::chrono::steady_clock::now();
                matrix<float, 0, 1> d[2];
                for (int k = 0; k < 2; k++) {
                    matrix<rgb_pixel> img;
                    load_image(img, argv[4 + k]);
                    std::vector<rectangle> dets = hog(img);
                    if (dets.empty()) {
                        std::fprintf(stderr, "no face in %s\n", argv[4 + k]);
                        return 3;
                    }
                    rectangle best = dets[0];
                    for (auto &r : dets)
                        if (r.area() > best.area()) best = r;
                    matrix<rgb_pixel> chip;
                    extract_image_chip(img, get_face_chip_details(sp5(img, best), 150, 0.25), chip);
                    d[k] = net(chip);
                }
                dist = length(d[0] - d[1]);
                if (i > 0) // first run is the warm-up
                    t.push_back(ms_since(t0));
            }
            std::printf("{\"compare_median_ms\":%.4f,\"compare_min_ms\":%.4f,\"distance\":%.6f}\n", median(t),
                        *std::min_element(t.begin(), t.end()), dist);
            return 0;
        }
    } catch (std::exception &e) {
        std::fprintf(stderr, "dlib_face_peer: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "bad arguments\n");
    return 2;
}
