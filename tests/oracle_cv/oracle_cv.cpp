// oracle_cv — OpenCV 4.6 DNN as the reference for our ONNX runtime.
//
//   oracle_cv test            for every labelled image in ../shared/data/faces/identities.csv and a sample of
//                             ../shared/data/liveness/pad.csv: build each model's input tensor with OUR preprocessing
//                             (facematch/src/face/onnx_models.h), run it through cv::dnn (readNetFromONNX, OpenCV
//                             backend, CPU) and through onnx_run, and require for every output value
//                             |ours - opencv| <= 1e-4 * max(1, |opencv|). Prints the worst case per model/output.
//                             Exit 0 pass, 1 fail, 77 skip (data or models absent).
//   oracle_cv run MODEL.onnx IN.bin OUT.bin D0 D1 D2 D3
//                             runs one model in OpenCV on a float32 tensor of shape D0xD1xD2xD3 read from IN.bin
//                             and writes all outputs (graph output order, float32) to OUT.bin.
//   oracle_cv ours MODEL.onnx IN.bin OUT.bin
//                             the same with OUR runtime (input shape from the model).
//   oracle_cv tensors DIR N   writes the input tensors `test` would build for N images of faces/identities.csv.
//   oracle_cv bench N         median wall and thread-CPU ms per forward pass of each model in OpenCV DNN
//                             (cv::setNumThreads(1)), JSON on stdout.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <time.h>
#include <vector>

extern "C" {
#include "face/onnx_models.h"
#include "nn/onnx.h"
}

namespace {

struct Model {
    const char *file;
    onnx_model_kind kind;
    std::vector<int> shape;
    std::vector<std::string> outputs;
    double tol; // relative tolerance: |ours - opencv| <= tol * max(1, |opencv|)
};

const std::vector<Model> &models()
{
    static const std::vector<Model> m = {
        {"fr_detect.onnx", ONNX_ULTRAFACE, {1, 3, 240, 320}, {"scores", "boxes"}, 1e-4},
        {"fr_landmark.onnx", ONNX_LANDMARK68, {1, 1, 64, 64}, {"output"}, 1e-4},
        {"fr_feature.onnx", ONNX_FEATURE512, {1, 3, 112, 112}, {"output"}, 1e-4},
        {"fr_liveness.onnx", ONNX_LIVENESS, {1, 3, 128, 128}, {"output"}, 1e-4},
        {"fr_eye.onnx", ONNX_EYE, {1, 1, 24, 24}, {"output"}, 1e-4},
        // BlazeFace's regression outputs are small differences of activations in the hundreds: against a float64
        // evaluation (tests/python/test_onnx_reference.py, 196 face tensors) OpenCV itself is off by up to 2.7e-4
        // relative and we by up to 4.1e-4, so 1e-4 between two float32 implementations is not attainable here.
        {"face_detection_front_128x128_barracuda.onnx", ONNX_BLAZEFACE, {1, 128, 128, 3},
         {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"}, 1e-3},
    };
    return m;
}

std::string models_dir()
{
    char buf[4096];
    if (fm_models_default_dir(buf, sizeof buf) != FM_OK)
        return "";
    return buf;
}

std::string data_dir()
{
    const char *d = getenv("FM_DATA_DIR");
    if (d && *d)
        return d;
    const char *src = getenv("FM_SOURCE_DIR");
    return std::string(src && *src ? src : FM_SOURCE_DIR) + "/../shared/data";
}

bool exists(const std::string &p)
{
    std::ifstream f(p);
    return f.good();
}

std::vector<std::vector<float>> cv_forward(cv::dnn::Net &net, const Model &m, const float *input)
{
    cv::Mat blob(static_cast<int>(m.shape.size()), m.shape.data(), CV_32F, const_cast<float *>(input));
    net.setInput(blob.clone());
    std::vector<cv::Mat> outs;
    std::vector<cv::String> names(m.outputs.begin(), m.outputs.end());
    net.forward(outs, names);
    std::vector<std::vector<float>> r;
    for (auto &o : outs) {
        cv::Mat c = o.isContinuous() ? o : o.clone();
        r.emplace_back(c.ptr<float>(), c.ptr<float>() + c.total());
    }
    return r;
}

struct Stat {
    double worst_rel = 0, worst_abs = 0;
    long values = 0, tensors = 0, failures = 0;
    std::string where;
};

struct Runner {
    std::vector<cv::dnn::Net> nets;
    std::vector<onnx_model *> ours;
    nn_arena arena = {nullptr, 0};
    fm_ctx *ctx = nullptr;
    std::vector<std::vector<Stat>> stats;
    std::string dump_dir; // when set, compare() writes each input tensor there instead of comparing
    int dumped = 0;

    bool load(const std::string &dir)
    {
        ctx = fm_ctx_create();
        for (auto &m : models()) {
            std::string p = dir + "/" + m.file;
            if (!exists(p)) {
                fprintf(stderr, "SKIP: model %s not found (run models/fetch)\n", p.c_str());
                return false;
            }
            nets.push_back(cv::dnn::readNetFromONNX(p));
            nets.back().setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
            nets.back().setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
            onnx_model *om = nullptr;
            if (onnx_model_load_file(ctx, p.c_str(), &om) != FM_OK ||
                onnx_model_check(ctx, om, m.kind) != FM_OK) {
                fprintf(stderr, "FAIL: our loader rejects %s: %s\n", p.c_str(), fm_ctx_errmsg(ctx));
                exit(1);
            }
            ours.push_back(om);
            stats.emplace_back(m.outputs.size());
        }
        return true;
    }

    // runs model i on `input` in both implementations and records the differences
    void compare(size_t i, const std::vector<float> &input, const std::string &where)
    {
        const Model &m = models()[i];
        if (!dump_dir.empty()) {
            std::string base = m.file;
            base = base.substr(0, base.size() - 5);
            char name[64];
            snprintf(name, sizeof name, "%04d", dumped++);
            FILE *f = fopen((dump_dir + "/" + base + "." + name + ".bin").c_str(), "wb");
            if (f) {
                fwrite(input.data(), sizeof(float), input.size(), f);
                fclose(f);
            }
            stats[i][0].tensors++;
            return;
        }
        std::vector<std::vector<float>> ref = cv_forward(nets[i], m, input.data());
        std::vector<std::vector<float>> got(m.outputs.size());
        std::vector<float *> ptrs;
        for (size_t o = 0; o < m.outputs.size(); o++) {
            got[o].resize(onnx_model_output_size(ours[i], static_cast<int>(o)));
            ptrs.push_back(got[o].data());
        }
        if (onnx_run(ctx, ours[i], &arena, input.data(), ptrs.data(), 1) != FM_OK) {
            fprintf(stderr, "FAIL: onnx_run %s: %s\n", m.file, fm_ctx_errmsg(ctx));
            stats[i][0].failures++;
            return;
        }
        for (size_t o = 0; o < m.outputs.size(); o++) {
            Stat &s = stats[i][o];
            s.tensors++;
            if (ref[o].size() != got[o].size()) {
                fprintf(stderr, "FAIL: %s output %s: %zu values vs OpenCV %zu\n", m.file, m.outputs[o].c_str(),
                        got[o].size(), ref[o].size());
                s.failures++;
                continue;
            }
            for (size_t k = 0; k < ref[o].size(); k++) {
                double b = ref[o][k], a = got[o][k];
                double d = std::fabs(a - b), rel = d / std::max(1.0, std::fabs(b));
                s.values++;
                if (!(rel <= m.tol)) {
                    if (s.failures < 5)
                        fprintf(stderr, "FAIL: %s %s[%zu] on %s: ours %.9g opencv %.9g\n", m.file,
                                m.outputs[o].c_str(), k, where.c_str(), a, b);
                    s.failures++;
                }
                if (rel > s.worst_rel || std::isnan(rel)) {
                    s.worst_rel = rel;
                    s.where = where;
                }
                s.worst_abs = std::max(s.worst_abs, d);
            }
        }
    }

    // every model on tensors built from one image
    void image(const std::string &path, const std::string &label)
    {
        cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
        if (bgr.empty()) {
            fprintf(stderr, "FAIL: cannot read %s\n", path.c_str());
            stats[0][0].failures++;
            return;
        }
        cv::Mat rgb;
        cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
        onnx_rgb_view v = {rgb.ptr<uint8_t>(), rgb.cols, rgb.rows, rgb.step[0]};

        std::vector<float> t(3 * 240 * 320);
        onnx_ultraface_input(&v, t.data());
        compare(0, t, label);

        // the face box our detector finds (largest), or the central half of the image
        onnx_face faces[16];
        int n = 0;
        float box[4] = {rgb.cols * 0.25f, rgb.rows * 0.25f, rgb.cols * 0.75f, rgb.rows * 0.75f};
        if (onnx_ultraface_detect(ctx, ours[0], &arena, &v, nullptr, faces, 16, &n) == FM_OK && n > 0) {
            int best = 0;
            for (int k = 1; k < std::min(n, 16); k++)
                if ((faces[k].x2 - faces[k].x1) * (faces[k].y2 - faces[k].y1) >
                    (faces[best].x2 - faces[best].x1) * (faces[best].y2 - faces[best].y1))
                    best = k;
            box[0] = faces[best].x1;
            box[1] = faces[best].y1;
            box[2] = faces[best].x2;
            box[3] = faces[best].y2;
        }
        t.assign(64 * 64, 0.0f);
        if (onnx_landmark_input(&v, box, t.data()) == 0)
            compare(1, t, label);
        t.assign(3 * 128 * 128, 0.0f);
        if (onnx_liveness_input(&v, box, t.data()) == 0)
            compare(3, t, label);

        float pts[136];
        if (onnx_landmark68(ctx, ours[1], &arena, &v, box, 1, pts) == FM_OK) {
            for (int e = 0; e < 2; e++) {
                t.assign(24 * 24, 0.0f);
                if (onnx_eye_input(&v, pts, e, t.data()) == 0)
                    compare(4, t, label + (e ? " (right eye)" : " (left eye)"));
            }
            // a 112x112 crop as faceplugin builds it: affine map of (left eye, right eye, nose) to its template
            auto avg = [&](std::initializer_list<int> idx, int c) {
                double s = 0;
                for (int k : idx)
                    s += pts[k * 2 + c];
                return static_cast<float>(s / idx.size());
            };
            cv::Point2f src[3] = {{avg({37, 38, 40, 41}, 0), avg({37, 38, 40, 41}, 1)},
                                  {avg({43, 44, 46, 47}, 0), avg({43, 44, 46, 47}, 1)},
                                  {pts[30 * 2], pts[30 * 2 + 1]}};
            cv::Point2f dst[3] = {{38.29459953f, 51.69630051f}, {73.53179932f, 51.50139999f},
                                  {56.02519989f, 71.73660278f}};
            cv::Mat chip;
            cv::Mat tfm = cv::getAffineTransform(src, dst);
            cv::warpAffine(rgb, chip, tfm, cv::Size(112, 112));
            if (!chip.isContinuous())
                chip = chip.clone();
            t.assign(3 * 112 * 112, 0.0f);
            onnx_feature_input(chip.ptr<uint8_t>(), chip.step[0], t.data());
            compare(2, t, label);
        }
        t.assign(128 * 128 * 3, 0.0f);
        float sc, px, py;
        onnx_blazeface_input(&v, t.data(), &sc, &px, &py);
        compare(5, t, label);
    }

    int report()
    {
        long fails = 0;
        printf("{\"tolerance\":\"|ours-opencv| <= tol*max(1,|opencv|)\",\"opencv\":\"%s\",\"models\":[\n",
               CV_VERSION);
        for (size_t i = 0; i < models().size(); i++)
            for (size_t o = 0; o < models()[i].outputs.size(); o++) {
                const Stat &s = stats[i][o];
                fails += s.failures;
                printf("  {\"model\":\"%s\",\"output\":\"%s\",\"tol\":%g,\"tensors\":%ld,\"values\":%ld,"
                       "\"max_abs\":%.3g,\"max_rel\":%.3g,\"worst\":\"%s\",\"failures\":%ld}%s\n",
                       models()[i].file, models()[i].outputs[o].c_str(), models()[i].tol, s.tensors, s.values, s.worst_abs,
                       s.worst_rel, s.where.c_str(), s.failures,
                       i + 1 == models().size() && o + 1 == models()[i].outputs.size() ? "" : ",");
                if (s.tensors == 0) {
                    fprintf(stderr, "FAIL: no tensor compared for %s\n", models()[i].file);
                    fails++;
                }
            }
        printf("]}\n");
        return fails ? 1 : 0;
    }

    ~Runner()
    {
        for (auto *m : ours)
            onnx_model_free(m);
        nn_arena_free(&arena);
        fm_ctx_destroy(ctx);
    }
};

std::vector<std::string> csv_paths(const std::string &file)
{
    std::vector<std::string> r;
    std::ifstream f(file);
    std::string line;
    std::getline(f, line); // header
    while (std::getline(f, line)) {
        auto c = line.find(',');
        if (c != std::string::npos && c > 0)
            r.push_back(line.substr(0, c));
    }
    return r;
}

int cmd_test()
{
    std::string data = data_dir();
    if (!exists(data + "/README.md")) {
        fprintf(stderr, "SKIP: test data not found at %s (set FM_DATA_DIR)\n", data.c_str());
        return 77;
    }
    Runner r;
    if (!r.load(models_dir()))
        return 77;
    std::vector<std::string> faces = csv_paths(data + "/faces/identities.csv");
    std::vector<std::string> live = csv_paths(data + "/liveness/pad.csv");
    if (faces.empty()) {
        fprintf(stderr, "FAIL: no images listed in faces/identities.csv\n");
        return 1;
    }
    for (auto &p : faces)
        r.image(data + "/" + p, p);
    // every 40th liveness image (the set has ~2,600; the sample covers every subset and both labels)
    for (size_t k = 0; k < live.size(); k += 40)
        r.image(data + "/" + live[k], live[k]);
    fprintf(stderr, "compared %zu face images and %zu liveness images\n", faces.size(), (live.size() + 39) / 40);
    return r.report();
}

// writes the input tensors of every model for the first N images of faces/identities.csv into DIR
int cmd_tensors(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: oracle_cv tensors DIR N\n");
        return 2;
    }
    std::string data = data_dir();
    if (!exists(data + "/README.md")) {
        fprintf(stderr, "SKIP: test data not found at %s\n", data.c_str());
        return 77;
    }
    Runner r;
    if (!r.load(models_dir()))
        return 77;
    r.dump_dir = argv[2];
    std::vector<std::string> faces = csv_paths(data + "/faces/identities.csv");
    size_t n = std::min(faces.size(), static_cast<size_t>(std::max(1, atoi(argv[3]))));
    for (size_t k = 0; k < n; k++)
        r.image(data + "/" + faces[(k * faces.size()) / n], faces[(k * faces.size()) / n]);
    return 0;
}

// runs OUR runtime on a tensor file (input size from the model), writing all outputs in graph order
int cmd_ours(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: oracle_cv ours MODEL.onnx IN.bin OUT.bin\n");
        return 2;
    }
    fm_ctx *ctx = fm_ctx_create();
    onnx_model *m = nullptr;
    if (onnx_model_load_file(ctx, argv[2], &m) != FM_OK) {
        fprintf(stderr, "%s\n", fm_ctx_errmsg(ctx));
        fm_ctx_destroy(ctx);
        return 1;
    }
    std::vector<float> in(onnx_model_input_size(m));
    FILE *f = fopen(argv[3], "rb");
    bool ok = f && fread(in.data(), sizeof(float), in.size(), f) == in.size();
    if (f)
        fclose(f);
    std::vector<std::vector<float>> outs(onnx_model_num_outputs(m));
    std::vector<float *> ptrs;
    for (size_t o = 0; o < outs.size(); o++) {
        outs[o].resize(onnx_model_output_size(m, static_cast<int>(o)));
        ptrs.push_back(outs[o].data());
    }
    nn_arena arena = {nullptr, 0};
    ok = ok && onnx_run(ctx, m, &arena, in.data(), ptrs.data(), 1) == FM_OK;
    if (ok && (f = fopen(argv[4], "wb"))) {
        for (auto &o : outs)
            fwrite(o.data(), sizeof(float), o.size(), f);
        fclose(f);
    } else {
        ok = false;
    }
    nn_arena_free(&arena);
    onnx_model_free(m);
    fm_ctx_destroy(ctx);
    return ok ? 0 : 1;
}

int cmd_run(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: oracle_cv run MODEL.onnx IN.bin OUT.bin D0 D1 D2 D3\n");
        return 2;
    }
    std::vector<int> shape = {atoi(argv[5]), atoi(argv[6]), atoi(argv[7]), atoi(argv[8])};
    size_t n = 1;
    for (int d : shape)
        n *= static_cast<size_t>(std::max(d, 0));
    std::vector<float> in(n);
    FILE *f = fopen(argv[3], "rb");
    if (!f || fread(in.data(), sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot read %zu floats from %s\n", n, argv[3]);
        if (f)
            fclose(f);
        return 1;
    }
    fclose(f);
    // output names in the file's graph order (read with our loader) so both tools write the same layout
    std::vector<cv::String> names;
    {
        fm_ctx *ctx = fm_ctx_create();
        onnx_model *om = nullptr;
        if (onnx_model_load_file(ctx, argv[2], &om) == FM_OK) {
            for (int o = 0; o < onnx_model_num_outputs(om); o++)
                names.emplace_back(onnx_model_output_name(om, o));
            onnx_model_free(om);
        }
        fm_ctx_destroy(ctx);
    }
    cv::dnn::Net net = cv::dnn::readNetFromONNX(argv[2]);
    if (names.empty())
        names = net.getUnconnectedOutLayersNames();
    cv::Mat blob(4, shape.data(), CV_32F, in.data());
    net.setInput(blob);
    std::vector<cv::Mat> outs;
    net.forward(outs, names);
    f = fopen(argv[4], "wb");
    if (!f)
        return 1;
    for (auto &o : outs) {
        cv::Mat c = o.isContinuous() ? o : o.clone();
        fwrite(c.ptr<float>(), sizeof(float), c.total(), f);
    }
    fclose(f);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    int iters = argc > 2 ? std::max(1, atoi(argv[2])) : 50;
    cv::setNumThreads(1);
    std::string dir = models_dir();
    printf("{\"opencv\":\"%s\",\"threads\":1,\"models\":[", CV_VERSION);
    bool first = true;
    for (auto &m : models()) {
        std::string p = dir + "/" + m.file;
        if (!exists(p))
            continue;
        cv::dnn::Net net = cv::dnn::readNetFromONNX(p);
        size_t n = 1;
        for (int d : m.shape)
            n *= static_cast<size_t>(d);
        std::vector<float> in(n);
        for (size_t k = 0; k < n; k++)
            in[k] = static_cast<float>((k * 2654435761u) % 1000) / 1000.0f - 0.5f;
        std::vector<double> ms, cpu;
        for (int it = 0; it < iters + 3; it++) {
            struct timespec c0, c1;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
            auto t0 = std::chrono::steady_clock::now();
            cv_forward(net, m, in.data());
            auto t1 = std::chrono::steady_clock::now();
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
            if (it >= 3) {
                ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
                cpu.push_back((c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6);
            }
        }
        std::sort(ms.begin(), ms.end());
        std::sort(cpu.begin(), cpu.end());
        printf("%s{\"model\":\"%s\",\"median_ms\":%.3f,\"cpu_median_ms\":%.3f}", first ? "" : ",", m.file,
               ms[ms.size() / 2], cpu[cpu.size() / 2]);
        first = false;
    }
    printf("]}\n");
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    std::string cmd = argc > 1 ? argv[1] : "test";
    try {
        if (cmd == "test")
            return cmd_test();
        if (cmd == "run")
            return cmd_run(argc, argv);
        if (cmd == "bench")
            return cmd_bench(argc, argv);
        if (cmd == "tensors")
            return cmd_tensors(argc, argv);
        if (cmd == "ours")
            return cmd_ours(argc, argv);
    } catch (const cv::Exception &e) {
        fprintf(stderr, "FAIL: OpenCV: %s\n", e.what());
        return 1;
    }
    fprintf(stderr, "usage: oracle_cv test | run MODEL IN OUT D0 D1 D2 D3 | ours MODEL IN OUT | tensors DIR N | "
                    "bench [N]\n");
    return 2;
}
