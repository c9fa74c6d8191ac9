/* Blurs an image through the C API and writes the results as raw little-endian floats, for
 * tests/capi.rs to compare byte for byte with the Rust API's output.
 * usage: blur_compare BUNDLE SRC.raw DEPTH.raw WIDTH HEIGHT CHANNELS OUTDIR */
#include "sparsebokeh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                  \
    do {                                                                                             \
        sb_status s_ = (call);                                                                       \
        if (s_ != SB_OK) {                                                                           \
            fprintf(stderr, "%s:%d: %s -> %d (%s): %s\n", __FILE__, __LINE__, #call, (int)s_,        \
                    sb_status_string(s_), sb_last_error());                                          \
            return 1;                                                                                \
        }                                                                                            \
    } while (0)

static float *read_raw(const char *path, size_t n) {
    float *p = (float *)malloc(n * sizeof(float));
    FILE *f = fopen(path, "rb");
    if (!p || !f || fread(p, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return p;
}

static void write_raw(const char *dir, const char *name, const float *p, size_t n) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static sb_image packed(float *data, int w, int h, int c) {
    sb_image img;
    img.data = data;
    img.width = w;
    img.height = h;
    img.channels = c;
    img.row_stride_bytes = (ptrdiff_t)w * c * (ptrdiff_t)sizeof(float);
    return img;
}

/* The same pixels stored bottom-up with `pad` spare floats per row: data = row 0 (the top row,
 * last in memory), negative stride. */
static sb_image bottom_up(float *buffer, const float *top_down, int w, int h, int c, int pad) {
    sb_image img;
    size_t row = (size_t)w * c, stride = row + pad;
    int y;
    for (y = 0; y < h; y++) {
        memcpy(buffer + (size_t)(h - 1 - y) * stride, top_down + (size_t)y * row, row * sizeof(float));
    }
    img.data = buffer + (size_t)(h - 1) * stride;
    img.width = w;
    img.height = h;
    img.channels = c;
    img.row_stride_bytes = -(ptrdiff_t)(stride * sizeof(float));
    return img;
}

static void top_down(float *out, const sb_image *img) {
    size_t row = (size_t)img->width * img->channels;
    int y;
    for (y = 0; y < img->height; y++) {
        memcpy(out + (size_t)y * row, (const char *)img->data + y * img->row_stride_bytes, row * sizeof(float));
    }
}

int main(int argc, char **argv) {
    sb_bundle *bundle = NULL;
    sb_context *one = NULL, *three = NULL;
    sb_lens lens;
    sb_stats stats;
    sb_image src, depth, dst, coc, fsrc, fdepth, fdst;
    int w, h, c, pad = 3;
    size_t n, np;
    float *src_px, *depth_px, *out, *coc_px, *fsrc_buf, *fdepth_buf, *fdst_buf;
    const char *dir;

    if (argc != 8) {
        fprintf(stderr, "usage: %s BUNDLE SRC DEPTH W H C OUTDIR\n", argv[0]);
        return 2;
    }
    w = atoi(argv[4]);
    h = atoi(argv[5]);
    c = atoi(argv[6]);
    dir = argv[7];
    n = (size_t)w * h * c;
    np = (size_t)w * h;
    src_px = read_raw(argv[2], n);
    depth_px = read_raw(argv[3], np);
    out = (float *)calloc(n, sizeof(float));
    coc_px = (float *)calloc(np, sizeof(float));

    if (sb_version() != SB_VERSION) {
        fprintf(stderr, "library version %s does not match the header's\n", sb_version_string());
        return 1;
    }
    CHECK(sb_bundle_load(argv[1], &bundle));
    CHECK(sb_lens_default(&lens));
    if (lens.edges != SB_EDGES_LAYERED) {
        fprintf(stderr, "sb_lens_default: edges %d, expected SB_EDGES_LAYERED\n", lens.edges);
        return 1;
    }
    lens.edges = SB_EDGES_GATHER; /* the gather renders first; layered below */
    lens.focus = 2.0;
    lens.dof = 0.25;
    lens.size = 6.0;
    lens.maximum = 9.0;

    src = packed(src_px, w, h, c);
    depth = packed(depth_px, w, h, 1);
    dst = packed(out, w, h, c);
    coc = packed(coc_px, w, h, 1);

    CHECK(sb_blur_fixed(NULL, bundle, 3.3, &src, &dst, &stats));
    write_raw(dir, "fixed.raw", out, n);
    CHECK(sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, &dst, &stats));
    write_raw(dir, "depth.raw", out, n);
    printf("bad_depth %llu max_radius %g tables %u\n", (unsigned long long)stats.bad_depth, stats.max_radius,
           stats.tables);

    CHECK(sb_context_create(1, &one));
    CHECK(sb_context_create(3, &three));
    if (sb_context_threads(one) != 1 || sb_context_threads(three) != 3) {
        fprintf(stderr, "thread counts %u %u\n", sb_context_threads(one), sb_context_threads(three));
        return 1;
    }
    CHECK(sb_blur_depth(one, bundle, &lens, &src, &depth, 0, &dst, NULL));
    write_raw(dir, "depth_t1.raw", out, n);
    CHECK(sb_blur_depth(three, bundle, &lens, &src, &depth, 0, &dst, NULL));
    write_raw(dir, "depth_t3.raw", out, n);

    fsrc_buf = (float *)calloc((n / h + pad) * h, sizeof(float));
    fdepth_buf = (float *)calloc((np / h + pad) * h, sizeof(float));
    fdst_buf = (float *)calloc((n / h + pad) * h, sizeof(float));
    fsrc = bottom_up(fsrc_buf, src_px, w, h, c, pad);
    fdepth = bottom_up(fdepth_buf, depth_px, w, h, 1, pad);
    fdst = bottom_up(fdst_buf, out, w, h, c, pad);
    CHECK(sb_blur_depth(three, bundle, &lens, &fsrc, &fdepth, 0, &fdst, NULL));
    top_down(out, &fdst);
    write_raw(dir, "depth_flipped.raw", out, n);

    lens.edges = SB_EDGES_LAYERED;
    CHECK(sb_blur_depth(three, bundle, &lens, &fsrc, &fdepth, 0, &fdst, NULL));
    top_down(out, &fdst);
    write_raw(dir, "layered_flipped.raw", out, n);
    CHECK(sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, &dst, NULL));
    write_raw(dir, "layered.raw", out, n);
    lens.edges = SB_EDGES_GATHER;

    CHECK(sb_coc_map(&lens, &depth, 0, &coc, NULL));
    write_raw(dir, "coc.raw", coc_px, np);

    sb_context_free(one);
    sb_context_free(three);
    sb_bundle_free(bundle);
    free(src_px);
    free(depth_px);
    free(out);
    free(coc_px);
    free(fsrc_buf);
    free(fdepth_buf);
    free(fdst_buf);
    printf("blur_compare: done\n");
    return 0;
}
