// The C API from C++11: the header must compile cleanly with -std=c++11 -Wall -Wextra -Werror
// -pedantic, link, and run. usage: cxx_smoke BUNDLE
#include "sparsebokeh.h"

#include <cstdio>
#include <memory>
#include <vector>

namespace {

struct BundleDeleter {
    void operator()(sb_bundle *b) const { sb_bundle_free(b); }
};

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    sb_bundle *raw = nullptr;
    if (sb_bundle_load(argv[1], &raw) != SB_OK) {
        std::fprintf(stderr, "load: %s\n", sb_last_error());
        return 1;
    }
    std::unique_ptr<sb_bundle, BundleDeleter> bundle(raw);
    const int w = 12, h = 9, c = 3;
    std::vector<float> src(static_cast<size_t>(w * h * c), 0.5f), dst(src.size(), 0.0f);
    src[static_cast<size_t>((4 * w + 6) * c)] = 10.0f;
    sb_image s = {src.data(), static_cast<ptrdiff_t>(w * c * sizeof(float)), w, h, c};
    sb_image d = {dst.data(), static_cast<ptrdiff_t>(w * c * sizeof(float)), w, h, c};
    sb_stats stats;
    sb_status st = sb_blur_fixed(nullptr, bundle.get(), 2.5, &s, &d, &stats);
    if (st != SB_OK) {
        std::fprintf(stderr, "blur: %s: %s\n", sb_status_string(st), sb_last_error());
        return 1;
    }
    double before = 0, after = 0;
    for (size_t i = 0; i < src.size(); ++i) {
        before += src[i];
        after += dst[i];
    }
    // A point on a flat field: blur only spreads it, so the interior mass is roughly kept.
    std::printf("cxx_smoke: %s, sum %.3f -> %.3f, max radius %.2f\n", sb_version_string(), before, after,
                static_cast<double>(stats.max_radius));
    if (sb_blur_fixed(nullptr, nullptr, 2.5, &s, &d, nullptr) != SB_ERR_NULL_POINTER || sb_last_error()[0] == '\0') {
        return 1;
    }
    return 0;
}
