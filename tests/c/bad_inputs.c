/* Walks the bad-input matrix through the C API: every case must return the expected
 * status, leave a non-empty message in sb_last_error() and leave the destination untouched.
 * usage: bad_inputs DIR (DIR holds the bundle files written by tests/capi.rs)
 * Prints one "ok NAME" line per passing case; exits 1 if any case fails. */
#include "sparsebokeh.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 8
#define H 6
#define C 4
#define SENTINEL (-1234.5f)

static int failures = 0;
static float src_px[W * H * C], dst_px[W * H * C], depth_px[W * H], coc_px[W * H];
static sb_bundle *bundle = NULL;

static int untouched(const float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != SENTINEL) return 0;
    }
    return 1;
}

static int src_intact(void) {
    size_t i;
    for (i = 0; i < W * H * C; i++) {
        if (src_px[i] != (float)(i % 17) / 17.0f) return 0;
    }
    return 1;
}

static void reset(void) {
    size_t i;
    for (i = 0; i < W * H * C; i++) {
        src_px[i] = (float)(i % 17) / 17.0f;
        dst_px[i] = SENTINEL;
    }
    for (i = 0; i < W * H; i++) {
        depth_px[i] = 1.0f + (float)(i % 5);
        coc_px[i] = SENTINEL;
    }
}

static void expect(const char *name, sb_status got, sb_status want) {
    const char *msg = sb_last_error();
    int ok = 1;
    if (got != want) {
        printf("FAIL %s: status %d (%s), expected %d (%s); message: %s\n", name, (int)got, sb_status_string(got),
               (int)want, sb_status_string(want), msg);
        ok = 0;
    } else if (want != SB_OK && (msg == NULL || msg[0] == '\0')) {
        printf("FAIL %s: empty error message\n", name);
        ok = 0;
    } else if (want != SB_OK && !(untouched(dst_px, W * H * C) && untouched(coc_px, W * H) && src_intact())) {
        printf("FAIL %s: the destination was written\n", name);
        ok = 0;
    }
    if (ok) {
        printf("ok %s: %s\n", name, msg);
    } else {
        failures++;
    }
    reset();
}

static sb_image img(float *data, int w, int h, int c) {
    sb_image i;
    i.data = data;
    i.width = w;
    i.height = h;
    i.channels = c;
    i.row_stride_bytes = (ptrdiff_t)w * c * 4;
    return i;
}

static sb_lens lens0(void) {
    sb_lens l;
    sb_lens_default(&l);
    l.focus = 2.0;
    l.size = 4.0;
    l.maximum = 6.0;
    return l;
}

/* One bad image descriptor, tried as src, as dst and as depth of each render call. */
static void bad_image(const char *name, sb_image bad, sb_status want) {
    char label[256];
    sb_image src = img(src_px, W, H, C), dst = img(dst_px, W, H, C), depth = img(depth_px, W, H, 1);
    sb_image coc = img(coc_px, W, H, 1);
    sb_lens lens = lens0();
    sb_image bsrc = bad, bdst = bad, bdepth = bad, bcoc = bad;
    if (bsrc.data == (float *)1) bsrc.data = src_px;
    if (bdst.data == (float *)1) bdst.data = dst_px;
    if (bdepth.data == (float *)1) bdepth.data = depth_px;
    if (bcoc.data == (float *)1) bcoc.data = coc_px;
    snprintf(label, sizeof label, "%s/fixed-src", name);
    expect(label, sb_blur_fixed(NULL, bundle, 2.0, &bsrc, &dst, NULL), want);
    snprintf(label, sizeof label, "%s/fixed-dst", name);
    expect(label, sb_blur_fixed(NULL, bundle, 2.0, &src, &bdst, NULL), want);
    snprintf(label, sizeof label, "%s/depth-src", name);
    expect(label, sb_blur_depth(NULL, bundle, &lens, &bsrc, &depth, 0, &dst, NULL), want);
    snprintf(label, sizeof label, "%s/depth-depth", name);
    expect(label, sb_blur_depth(NULL, bundle, &lens, &src, &bdepth, 0, &dst, NULL), want);
    snprintf(label, sizeof label, "%s/depth-dst", name);
    expect(label, sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, &bdst, NULL), want);
    snprintf(label, sizeof label, "%s/coc-depth", name);
    expect(label, sb_coc_map(&lens, &bdepth, 0, &coc, NULL), want);
    snprintf(label, sizeof label, "%s/coc-dst", name);
    expect(label, sb_coc_map(&lens, &depth, 0, &bcoc, NULL), want);
}

/* A bad lens field value, tried with sb_blur_depth and sb_coc_map. */
static void bad_lens(const char *name, sb_lens lens, sb_status want) {
    char label[256];
    sb_image src = img(src_px, W, H, C), dst = img(dst_px, W, H, C), depth = img(depth_px, W, H, 1);
    sb_image coc = img(coc_px, W, H, 1);
    snprintf(label, sizeof label, "%s/blur", name);
    expect(label, sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, &dst, NULL), want);
    snprintf(label, sizeof label, "%s/coc", name);
    expect(label, sb_coc_map(&lens, &depth, 0, &coc, NULL), want);
}

static unsigned char *read_file(const char *path, size_t *size) {
    unsigned char *p;
    long n;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = (unsigned char *)malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* A bundle file that must be refused, from the file and from memory; *out must stay NULL. */
static void bad_bundle(const char *dir, const char *file, sb_status want) {
    char path[4096], label[256];
    sb_bundle *b = (sb_bundle *)&failures; /* any non-NULL value: must be reset to NULL */
    unsigned char *bytes;
    size_t size = 0;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(label, sizeof label, "bundle-file/%s", file);
    expect(label, sb_bundle_load(path, &b), want);
    if (b != NULL) {
        printf("FAIL %s: *out is not NULL after a failure\n", label);
        failures++;
    }
    if (want == SB_ERR_IO) return;
    bytes = read_file(path, &size);
    if (!bytes) {
        printf("FAIL %s: the test cannot read %s\n", label, path);
        failures++;
        return;
    }
    b = (sb_bundle *)&failures;
    snprintf(label, sizeof label, "bundle-memory/%s", file);
    expect(label, sb_bundle_load_memory(bytes, size, &b), want);
    if (b != NULL) {
        printf("FAIL %s: *out is not NULL after a failure\n", label);
        failures++;
    }
    free(bytes);
}

int main(int argc, char **argv) {
    char path[4096];
    const char *dir;
    sb_image src, dst, depth, coc, bad;
    sb_lens lens;
    sb_context *ctx = (sb_context *)&failures;
    sb_bundle *far = NULL;
    double radii[8];
    const ptrdiff_t row = W * C * 4;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    reset();
    snprintf(path, sizeof path, "%s/valid.json", dir);
    if (sb_bundle_load(path, &bundle) != SB_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, sb_last_error());
        return 1;
    }
    src = img(src_px, W, H, C);
    dst = img(dst_px, W, H, C);
    depth = img(depth_px, W, H, 1);
    coc = img(coc_px, W, H, 1);
    lens = lens0();

    /* NULL handles and pointers. */
    expect("null-bundle/fixed", sb_blur_fixed(NULL, NULL, 2.0, &src, &dst, NULL), SB_ERR_NULL_POINTER);
    expect("null-bundle/depth", sb_blur_depth(NULL, NULL, &lens, &src, &depth, 0, &dst, NULL), SB_ERR_NULL_POINTER);
    expect("null-image/fixed-src", sb_blur_fixed(NULL, bundle, 2.0, NULL, &dst, NULL), SB_ERR_NULL_POINTER);
    expect("null-image/fixed-dst", sb_blur_fixed(NULL, bundle, 2.0, &src, NULL, NULL), SB_ERR_NULL_POINTER);
    expect("null-image/depth-src", sb_blur_depth(NULL, bundle, &lens, NULL, &depth, 0, &dst, NULL),
           SB_ERR_NULL_POINTER);
    expect("null-image/depth-depth", sb_blur_depth(NULL, bundle, &lens, &src, NULL, 0, &dst, NULL),
           SB_ERR_NULL_POINTER);
    expect("null-image/depth-dst", sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, NULL, NULL),
           SB_ERR_NULL_POINTER);
    expect("null-image/coc-depth", sb_coc_map(&lens, NULL, 0, &coc, NULL), SB_ERR_NULL_POINTER);
    expect("null-image/coc-dst", sb_coc_map(&lens, &depth, 0, NULL, NULL), SB_ERR_NULL_POINTER);
    expect("null-lens/depth", sb_blur_depth(NULL, bundle, NULL, &src, &depth, 0, &dst, NULL), SB_ERR_NULL_POINTER);
    expect("null-lens/coc", sb_coc_map(NULL, &depth, 0, &coc, NULL), SB_ERR_NULL_POINTER);
    expect("null-lens/default", sb_lens_default(NULL), SB_ERR_NULL_POINTER);
    bad = img(NULL, W, H, C);
    bad_image("null-data", bad, SB_ERR_NULL_POINTER);
    expect("null-path", sb_bundle_load(NULL, &far), SB_ERR_NULL_POINTER);
    snprintf(path, sizeof path, "%s/valid.json", dir);
    expect("null-out/load", sb_bundle_load(path, NULL), SB_ERR_NULL_POINTER);
    expect("null-out/load-memory", sb_bundle_load_memory("{}", 2, NULL), SB_ERR_NULL_POINTER);
    expect("null-data/load-memory", sb_bundle_load_memory(NULL, 5, &far), SB_ERR_NULL_POINTER);
    expect("null-out/context", sb_context_create(1, NULL), SB_ERR_NULL_POINTER);
    expect("null-bundle/radii", sb_bundle_radii(NULL, radii, 8), SB_ERR_NULL_POINTER);
    expect("null-out/radii", sb_bundle_radii(bundle, NULL, 8), SB_ERR_NULL_POINTER);
    sb_bundle_free(NULL);
    sb_context_free(NULL);
    if (sb_bundle_name(NULL) != NULL || sb_bundle_layers(NULL) != 0 || sb_bundle_taps(NULL) != 0 ||
        sb_bundle_radius_count(NULL) != 0) {
        printf("FAIL null-bundle/queries\n");
        failures++;
    } else {
        printf("ok null-bundle/queries\n");
    }

    /* Sizes and channels. (float *)1 stands for "this role's own buffer". */
    bad = img((float *)1, 0, H, C);
    bad_image("width-0", bad, SB_ERR_IMAGE);
    bad = img((float *)1, W, 0, C);
    bad_image("height-0", bad, SB_ERR_IMAGE);
    bad = img((float *)1, -3, H, C);
    bad.row_stride_bytes = row;
    bad_image("width-negative", bad, SB_ERR_IMAGE);
    bad = img((float *)1, W, -1, C);
    bad_image("height-negative", bad, SB_ERR_IMAGE);
    bad = img((float *)1, W, INT32_MIN, C);
    bad_image("height-min", bad, SB_ERR_IMAGE);
    bad = img((float *)1, W, H, 0);
    bad.row_stride_bytes = row;
    bad_image("channels-0", bad, SB_ERR_IMAGE);
    bad = img((float *)1, W, H, 5);
    bad.row_stride_bytes = row;
    bad_image("channels-5", bad, SB_ERR_IMAGE);

    /* Strides. */
    bad = img((float *)1, W, H, 1);
    bad.row_stride_bytes = W * 4 - 4;
    bad_image("stride-smaller-than-row", bad, SB_ERR_IMAGE);
    bad.row_stride_bytes = -(W * 4 - 4);
    bad_image("stride-negative-smaller-than-row", bad, SB_ERR_IMAGE);
    bad.row_stride_bytes = W * 4 + 2;
    bad_image("stride-not-multiple-of-4", bad, SB_ERR_IMAGE);
    bad.row_stride_bytes = 0;
    bad_image("stride-0", bad, SB_ERR_IMAGE);
    bad.row_stride_bytes = PTRDIFF_MAX - 3;
    bad_image("stride-span-overflows-size_t", bad, SB_ERR_IMAGE);
    bad.row_stride_bytes = -(PTRDIFF_MAX - 3);
    bad_image("stride-negative-span-overflows-size_t", bad, SB_ERR_IMAGE);
    bad.row_stride_bytes = -((ptrdiff_t)1 << 60);
    bad_image("stride-negative-below-address-0", bad, SB_ERR_IMAGE);
    bad = img((float *)((char *)src_px + 2), W, H, 1);
    bad_image("data-misaligned", bad, SB_ERR_IMAGE);

    /* Overlap. */
    bad = img(src_px, W, H, C);
    expect("overlap/fixed-same-buffer", sb_blur_fixed(NULL, bundle, 2.0, &src, &bad, NULL), SB_ERR_OVERLAP);
    bad = img(src_px + W * C * 2, W, 3, C);
    {
        sb_image s3 = img(src_px, W, 3, C); /* rows 0..2 of the buffer; dst is rows 2..4 */
        expect("overlap/fixed-partial", sb_blur_fixed(NULL, bundle, 2.0, &s3, &bad, NULL), SB_ERR_OVERLAP);
    }
    bad = img(src_px, W, H, C);
    expect("overlap/depth-src", sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, &bad, NULL), SB_ERR_OVERLAP);
    {
        sb_image d4 = img(src_px, W, H, C); /* depth read from src's alpha, written over it */
        sb_image other = img(dst_px, W, H, C);
        expect("overlap/depth-depth", sb_blur_depth(NULL, bundle, &lens, &other, &d4, 3, &bad, NULL),
               SB_ERR_OVERLAP);
    }
    bad = img(depth_px, W, H, 1);
    expect("overlap/coc", sb_coc_map(&lens, &depth, 0, &bad, NULL), SB_ERR_OVERLAP);

    /* Sizes that do not match. */
    bad = img(depth_px, W - 1, H, 1);
    expect("depth-other-size/width", sb_blur_depth(NULL, bundle, &lens, &src, &bad, 0, &dst, NULL),
           SB_ERR_SIZE_MISMATCH);
    bad = img(depth_px, W, H - 1, 1);
    expect("depth-other-size/height", sb_blur_depth(NULL, bundle, &lens, &src, &bad, 0, &dst, NULL),
           SB_ERR_SIZE_MISMATCH);
    bad = img(dst_px, W, H - 1, C);
    expect("dst-other-size/fixed", sb_blur_fixed(NULL, bundle, 2.0, &src, &bad, NULL), SB_ERR_SIZE_MISMATCH);
    bad = img(dst_px, W, H, 3);
    expect("dst-other-channels/depth", sb_blur_depth(NULL, bundle, &lens, &src, &depth, 0, &bad, NULL),
           SB_ERR_SIZE_MISMATCH);
    bad = img(coc_px, W / 2, H / 2, 4);
    expect("coc-dst-channels", sb_coc_map(&lens, &depth, 0, &bad, NULL), SB_ERR_SIZE_MISMATCH);
    bad = img(coc_px, W, H - 1, 1);
    expect("coc-dst-size", sb_coc_map(&lens, &depth, 0, &bad, NULL), SB_ERR_SIZE_MISMATCH);
    expect("depth-channel/1-of-1", sb_blur_depth(NULL, bundle, &lens, &src, &depth, 1, &dst, NULL),
           SB_ERR_INVALID_ARGUMENT);
    expect("depth-channel/negative", sb_blur_depth(NULL, bundle, &lens, &src, &depth, -1, &dst, NULL),
           SB_ERR_INVALID_ARGUMENT);
    expect("depth-channel/coc", sb_coc_map(&lens, &depth, 4, &coc, NULL), SB_ERR_INVALID_ARGUMENT);

    /* Lens parameters. */
    {
        const double nan = strtod("nan", NULL), inf = strtod("inf", NULL);
        sb_lens l;
        l = lens0(); l.focus = nan; bad_lens("lens/focus-nan", l, SB_ERR_LENS);
        l = lens0(); l.focus = inf; bad_lens("lens/focus-inf", l, SB_ERR_LENS);
        l = lens0(); l.focus = 0.0; bad_lens("lens/focus-0", l, SB_ERR_LENS);
        l = lens0(); l.dof = nan; bad_lens("lens/dof-nan", l, SB_ERR_LENS);
        l = lens0(); l.dof = -inf; bad_lens("lens/dof-minus-inf", l, SB_ERR_LENS);
        l = lens0(); l.size = inf; bad_lens("lens/size-inf", l, SB_ERR_LENS);
        l = lens0(); l.size = -1.0; bad_lens("lens/size-negative", l, SB_ERR_LENS);
        l = lens0(); l.maximum = nan; bad_lens("lens/maximum-nan", l, SB_ERR_LENS);
        l = lens0(); l.maximum = 5000.0; bad_lens("lens/maximum-too-large", l, SB_ERR_LENS);
        l = lens0(); l.render_scale = inf; bad_lens("lens/render-scale-inf", l, SB_ERR_LENS);
        l = lens0(); l.render_scale = 0.0; bad_lens("lens/render-scale-0", l, SB_ERR_LENS);
        l = lens0(); l.mode = 3; bad_lens("lens/mode-unknown", l, SB_ERR_LENS);
        l = lens0(); l.mode = -1; bad_lens("lens/mode-negative", l, SB_ERR_LENS);
        l = lens0(); l.edges = 7; bad_lens("lens/edges-unknown", l, SB_ERR_LENS);
        l = lens0(); l.edges = -1; bad_lens("lens/edges-negative", l, SB_ERR_LENS);
        l = lens0(); l.edges = SB_EDGES_LAYERED; l.dof = nan; bad_lens("lens/layered-dof-nan", l, SB_ERR_LENS);
        l = lens0(); l.mode = SB_LENS_COC; l.focus = nan; bad_lens("lens/coc-focus-nan", l, SB_ERR_LENS);
        expect("radius/nan", sb_blur_fixed(NULL, bundle, nan, &src, &dst, NULL), SB_ERR_INVALID_ARGUMENT);
        expect("radius/inf", sb_blur_fixed(NULL, bundle, inf, &src, &dst, NULL), SB_ERR_INVALID_ARGUMENT);
        expect("radius/negative", sb_blur_fixed(NULL, bundle, -1.0, &src, &dst, NULL), SB_ERR_INVALID_ARGUMENT);
        expect("radius/too-large", sb_blur_fixed(NULL, bundle, 1e6, &src, &dst, NULL), SB_ERR_INVALID_ARGUMENT);
    }

    /* Renders too large for the engine's working frame. */
    snprintf(path, sizeof path, "%s/far.json", dir);
    if (sb_bundle_load(path, &far) != SB_OK) {
        printf("FAIL far-bundle: %s\n", sb_last_error());
        failures++;
    } else {
        sb_lens l = lens0();
        l.maximum = 200.0;
        l.size = 200.0;
        expect("too-large/fixed", sb_blur_fixed(NULL, far, 200.0, &src, &dst, NULL), SB_ERR_TOO_LARGE);
        expect("too-large/depth", sb_blur_depth(NULL, far, &l, &src, &depth, 0, &dst, NULL), SB_ERR_TOO_LARGE);
        sb_bundle_free(far);
        far = NULL;
    }

    /* Bundle files. */
    bad_bundle(dir, "missing.json", SB_ERR_IO);
    bad_bundle(dir, "empty.json", SB_ERR_BUNDLE_PARSE);
    bad_bundle(dir, "truncated.json", SB_ERR_BUNDLE_PARSE);
    bad_bundle(dir, "not-json.json", SB_ERR_BUNDLE_PARSE);
    bad_bundle(dir, "other-shape-array.json", SB_ERR_BUNDLE_INVALID);
    bad_bundle(dir, "other-shape-object.json", SB_ERR_BUNDLE_INVALID);
    bad_bundle(dir, "nan.json", SB_ERR_BUNDLE_PARSE);
    bad_bundle(dir, "nan-string.json", SB_ERR_BUNDLE_INVALID);
    bad_bundle(dir, "taps-1e9.json", SB_ERR_BUNDLE_INVALID);
    bad_bundle(dir, "unsorted-radii.json", SB_ERR_BUNDLE_INVALID);
    bad_bundle(dir, "version-99.json", SB_ERR_BUNDLE_VERSION);
    bad_bundle(dir, "directory.json", SB_ERR_IO);
    expect("bundle-memory/null-empty", sb_bundle_load_memory(NULL, 0, &far), SB_ERR_BUNDLE_PARSE);

    /* Other arguments. */
    expect("context/too-many-threads", sb_context_create(5000, &ctx), SB_ERR_INVALID_ARGUMENT);
    if (ctx != NULL) {
        printf("FAIL context/too-many-threads: *out is not NULL\n");
        failures++;
    }
    radii[0] = radii[1] = SENTINEL;
    expect("radii/buffer-too-small", sb_bundle_radii(bundle, radii, 2), SB_ERR_BUFFER_TOO_SMALL);
    if (radii[0] != SENTINEL || radii[1] != SENTINEL) {
        printf("FAIL radii/buffer-too-small: written\n");
        failures++;
    }

    /* And a good call still works, and clears the message. */
    src = img(src_px, W, H, C);
    dst = img(dst_px, W, H, C);
    if (sb_blur_fixed(NULL, bundle, 2.0, &src, &dst, NULL) != SB_OK || sb_last_error()[0] != '\0' ||
        untouched(dst_px, W * H * C)) {
        printf("FAIL good-call: %s\n", sb_last_error());
        failures++;
    } else {
        printf("ok good-call\n");
    }
    if (sb_bundle_radii(bundle, radii, 8) != SB_OK || sb_bundle_radius_count(bundle) != 3 || radii[0] != 2.0 ||
        radii[1] != 4.0 || radii[2] != 8.0 || sb_bundle_layers(bundle) != 2 || sb_bundle_taps(bundle) != 4 ||
        strcmp(sb_bundle_name(bundle), "test") != 0) {
        printf("FAIL queries\n");
        failures++;
    } else {
        printf("ok queries\n");
    }
    sb_bundle_free(bundle);
    printf("bad_inputs: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
