/* A small example of the sparsebokeh C API: blur a synthetic RGBA frame with a depth ramp.
 *
 *   cc -std=c99 blur.c $(pkg-config --cflags --libs sparsebokeh) -o blur
 *   ./blur kernels/hexagon.json
 */
#include <sparsebokeh.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    enum { W = 64, H = 48 };
    static float rgba[W * H * 4], depth[W * H], out[W * H * 4];
    sb_bundle *bundle = NULL;
    sb_context *ctx = NULL;
    sb_lens lens;
    sb_stats stats;
    sb_status status;
    int x, y;

    if (argc != 2) {
        fprintf(stderr, "usage: %s BUNDLE.json\n", argv[0]);
        return 2;
    }

    /* A checkerboard (premultiplied RGBA) whose depth grows from 1 (left) to 5 (right). */
    for (y = 0; y < H; y++) {
        for (x = 0; x < W; x++) {
            float v = ((x / 8 + y / 8) % 2) ? 1.0f : 0.1f;
            float *p = &rgba[(y * W + x) * 4];
            p[0] = v;
            p[1] = 0.5f * v;
            p[2] = 0.25f;
            p[3] = 1.0f;
            depth[y * W + x] = 1.0f + 4.0f * (float)x / (W - 1);
        }
    }

    status = sb_bundle_load(argv[1], &bundle);
    if (status != SB_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], sb_last_error());
        return 1;
    }
    printf("sparsebokeh %s, bundle \"%s\": %zu layers x %zu taps, %zu radii\n", sb_version_string(),
           sb_bundle_name(bundle), sb_bundle_layers(bundle), sb_bundle_taps(bundle), sb_bundle_radius_count(bundle));

    /* Two render threads; 0 would use every core. */
    status = sb_context_create(2, &ctx);
    if (status != SB_OK) {
        fprintf(stderr, "%s\n", sb_last_error());
        sb_bundle_free(bundle);
        return 1;
    }

    /* In focus at depth 2, up to 8 px of blur. */
    sb_lens_default(&lens);
    lens.mode = SB_LENS_DEPTH;
    lens.focus = 2.0;
    lens.size = 8.0;
    lens.maximum = 8.0;

    {
        /* Tightly packed, top-down images: the row stride is one row of floats, in bytes. */
        sb_image src = {rgba, W * 4 * sizeof(float), W, H, 4};
        sb_image z = {depth, W * sizeof(float), W, H, 1};
        sb_image dst = {out, W * 4 * sizeof(float), W, H, 4};
        status = sb_blur_depth(ctx, bundle, &lens, &src, &z, 0, &dst, &stats);
    }
    if (status != SB_OK) {
        fprintf(stderr, "blur failed (%s): %s\n", sb_status_string(status), sb_last_error());
    } else {
        printf("blurred %dx%d: largest radius %.2f px, %u radius tables; centre pixel %.4f %.4f %.4f %.4f\n", W, H,
               stats.max_radius, stats.tables, out[(H / 2 * W + W / 2) * 4], out[(H / 2 * W + W / 2) * 4 + 1],
               out[(H / 2 * W + W / 2) * 4 + 2], out[(H / 2 * W + W / 2) * 4 + 3]);
    }

    sb_context_free(ctx);
    sb_bundle_free(bundle);
    return status == SB_OK ? 0 : 1;
}
