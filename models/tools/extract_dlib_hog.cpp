// extract_dlib_hog: writes dlib's built-in frontal face detector (dlib::get_frontal_face_detector(), an
// object_detector<scan_fhog_pyramid<pyramid_down<6>>> with 5 fHOG filters, compiled into Debian's libdlib-dev
// headers as base64 text) in dlib's own serialization, so that facematch can load it like the other model files.
//
// usage: extract_dlib_hog OUT.dat
// Built and run by models/fetch for the manifest row whose source is deb-extract:libdlib-dev; the output is
// deterministic (same bytes on every run for a given dlib version) and its SHA-256 is pinned in models/manifest.
#include <dlib/image_processing/frontal_face_detector.h>

#include <cstdio>
#include <fstream>
#include <sstream>

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: extract_dlib_hog OUT.dat\n");
        return 2;
    }
    try {
        std::ostringstream buf;
        dlib::serialize(dlib::get_frontal_face_detector(), buf);
        const std::string bytes = buf.str();
        std::ofstream out(argv[1], std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), (std::streamsize)bytes.size());
        out.close();
        if (!out) {
            std::fprintf(stderr, "extract_dlib_hog: cannot write %s\n", argv[1]);
            return 1;
        }
    } catch (std::exception &e) {
        std::fprintf(stderr, "extract_dlib_hog: %s\n", e.what());
        return 1;
    }
    return 0;
}
