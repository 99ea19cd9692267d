// face_oracle: runs dlib 19.24 (Debian libdlib-dev) on images and prints what our C pipeline must reproduce.
//
// usage: face_oracle --models DIR [--mmod] [--chips OUTDIR] IMG...
//        face_oracle --models DIR --desc-chip CHIP.rgb   (150x150 raw RGB bytes -> descriptor line "D ...")
//        face_oracle --hog-scores IMG...   (only the HOG detector: "I" line, then
//                    "HS <n>" and n x (l t r b confidence weight_index) after dlib's NMS, adjust_threshold 0)
//
// Output, per image (space separated, one record per line):
//   I <path> <width> <height>
//   H <n> then n x (l t r b)            frontal HOG detector boxes (dlib order)
//   M <n> then n x (l t r b score)      MMOD CNN detector boxes (only with --mmod)
//   MU <n> then n x (l t r b score)     MMOD on pyramid_up(img) (pyramid_down<2>), boxes mapped back with
//                                       rect_down, as cnn_face_detection_model_v1 with upsample_num_times=1
//                                       (only with --mmod-up)
//   B l t r b | B none                  reference box: largest HOG box, else largest MMOD box
//   P5 x y ... (5 points), P68 x y ... (68 points) on the reference box
//   C <file>                            150x150 chip (raw RGB) from get_face_chip_details(sp5, 150, 0.25)
//   D d0 ... d127                       descriptor of that chip
//   R d0 ... d127                       descriptor of the image itself when it is 150x150 (already a chip)
// Errors go to stderr; an unreadable image prints "I <path> 0 0" and "E <message>".
#include <dlib/dnn.h>
#include <dlib/image_io.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace dlib;

#include "dlib_face_nets.hpp"


static void print_desc(char tag, const matrix<float, 0, 1> &d)
{
    std::printf("%c", tag);
    for (long i = 0; i < d.size(); i++)
        std::printf(" %.9g", d(i));
    std::printf("\n");
}

int main(int argc, char **argv)
{
    std::string models, chips_dir, desc_chip;
    bool do_mmod = false, do_mmod_up = false, hog_scores = false;
    std::vector<std::string> images;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--models" && i + 1 < argc) models = argv[++i];
        else if (a == "--mmod") do_mmod = true;
        else if (a == "--mmod-up") do_mmod_up = true;
        else if (a == "--hog-scores") hog_scores = true;
        else if (a == "--chips" && i + 1 < argc) chips_dir = argv[++i];
        else if (a == "--desc-chip" && i + 1 < argc) desc_chip = argv[++i];
        else images.push_back(a);
    }
    if (hog_scores) {
        frontal_face_detector hog = get_frontal_face_detector();
        for (const auto &path : images) {
            matrix<rgb_pixel> img;
            try {
                load_image(img, path);
            } catch (std::exception &e) {
                std::printf("I %s 0 0\nE %s\n", path.c_str(), e.what());
                continue;
            }
            std::printf("I %s %ld %ld\n", path.c_str(), img.nc(), img.nr());
            std::vector<rect_detection> dets;
            hog(img, dets, 0.0);
            std::printf("HS %zu", dets.size());
            for (auto &d : dets)
                std::printf(" %ld %ld %ld %ld %.9g %lu", d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(),
                            d.detection_confidence, d.weight_index);
            std::printf("\n");
            std::fflush(stdout);
        }
        return 0;
    }
    if (models.empty()) {
        std::fprintf(stderr, "usage: face_oracle --models DIR [--mmod] [--chips OUTDIR] IMG...\n");
        return 2;
    }
    try {
        anet_type net;
        deserialize(models + "/dlib_face_recognition_resnet_model_v1.dat") >> net;
        if (!desc_chip.empty()) {
            matrix<rgb_pixel> chip(150, 150);
            std::ifstream f(desc_chip, std::ios::binary);
            for (long r = 0; r < 150; r++)
                for (long c = 0; c < 150; c++) {
                    unsigned char px[3];
                    f.read((char *)px, 3);
                    chip(r, c) = rgb_pixel(px[0], px[1], px[2]);
                }
            if (!f) { std::fprintf(stderr, "cannot read %s\n", desc_chip.c_str()); return 3; }
            print_desc('D', net(chip));
            return 0;
        }
        shape_predictor sp5, sp68;
        deserialize(models + "/shape_predictor_5_face_landmarks.dat") >> sp5;
        deserialize(models + "/shape_predictor_68_face_landmarks.dat") >> sp68;
        frontal_face_detector hog = get_frontal_face_detector();
        mmod_net_type mmod;
        if (do_mmod || do_mmod_up)
            deserialize(models + "/mmod_human_face_detector.dat") >> mmod;
        int idx = 0;
        for (const auto &path : images) {
            matrix<rgb_pixel> img;
            try {
                load_image(img, path);
            } catch (std::exception &e) {
                std::printf("I %s 0 0\nE %s\n", path.c_str(), e.what());
                continue;
            }
            std::printf("I %s %ld %ld\n", path.c_str(), img.nc(), img.nr());
            std::vector<rectangle> dets = hog(img);
            std::printf("H %zu", dets.size());
            for (auto &r : dets) std::printf(" %ld %ld %ld %ld", r.left(), r.top(), r.right(), r.bottom());
            std::printf("\n");
            rectangle ref;
            bool have = false;
            for (auto &r : dets)
                if (!have || r.area() > ref.area()) { ref = r; have = true; }
            if (do_mmod) {
                auto md = mmod(img);
                std::printf("M %zu", md.size());
                for (auto &d : md)
                    std::printf(" %ld %ld %ld %ld %.9g", d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom(),
                                d.detection_confidence);
                std::printf("\n");
                if (!have)
                    for (auto &d : md)
                        if (!have || d.rect.area() > ref.area()) { ref = d.rect; have = true; }
            }
            if (do_mmod_up) {
                pyramid_down<2> pyr;
                matrix<rgb_pixel> up;
                pyramid_up(img, up, pyr);
                auto md = mmod(up);
                std::printf("MU %zu", md.size());
                for (auto &d : md) {
                    rectangle r = pyr.rect_down(d.rect);
                    std::printf(" %ld %ld %ld %ld %.9g", r.left(), r.top(), r.right(), r.bottom(), d.detection_confidence);
                }
                std::printf("\n");
            }
            if (have) {
                std::printf("B %ld %ld %ld %ld\n", ref.left(), ref.top(), ref.right(), ref.bottom());
                full_object_detection s5 = sp5(img, ref), s68 = sp68(img, ref);
                std::printf("P5");
                for (unsigned long i = 0; i < s5.num_parts(); i++) std::printf(" %ld %ld", s5.part(i).x(), s5.part(i).y());
                std::printf("\nP68");
                for (unsigned long i = 0; i < s68.num_parts(); i++) std::printf(" %ld %ld", s68.part(i).x(), s68.part(i).y());
                std::printf("\n");
                matrix<rgb_pixel> chip;
                extract_image_chip(img, get_face_chip_details(s5, 150, 0.25), chip);
                if (!chips_dir.empty()) {
                    std::string out = chips_dir + "/chip" + std::to_string(idx) + ".rgb";
                    std::ofstream f(out, std::ios::binary);
                    for (long r = 0; r < chip.nr(); r++)
                        for (long c = 0; c < chip.nc(); c++) {
                            const rgb_pixel &p = chip(r, c);
                            f.put((char)p.red); f.put((char)p.green); f.put((char)p.blue);
                        }
                    std::printf("C %s\n", out.c_str());
                }
                print_desc('D', net(chip));
            } else {
                std::printf("B none\n");
            }
            if (img.nr() == 150 && img.nc() == 150)
                print_desc('R', net(img));
            idx++;
            std::fflush(stdout);
        }
    } catch (std::exception &e) {
        std::fprintf(stderr, "face_oracle: %s\n", e.what());
        return 1;
    }
    return 0;
}
