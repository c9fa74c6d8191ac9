/* Prints the layout of every struct of sparsebokeh.h (size, then each field's offset) and every
 * enum value, one "name value" line each, for tests/capi.rs to compare with the Rust side. Built
 * as C99 and as C++11 (the same file). */
#include "sparsebokeh.h"

#include <stddef.h>
#include <stdio.h>

#define SIZE(t) printf("sizeof(%s) %lu\n", #t, (unsigned long)sizeof(t))
#define FIELD(t, f) printf("%s.%s %lu\n", #t, #f, (unsigned long)offsetof(t, f))
#define VALUE(v) printf("%s %ld\n", #v, (long)(v))

int main(void) {
    SIZE(sb_image);
    FIELD(sb_image, data);
    FIELD(sb_image, row_stride_bytes);
    FIELD(sb_image, width);
    FIELD(sb_image, height);
    FIELD(sb_image, channels);

    SIZE(sb_lens);
    FIELD(sb_lens, struct_size);
    FIELD(sb_lens, mode);
    FIELD(sb_lens, edges);
    FIELD(sb_lens, focus);
    FIELD(sb_lens, dof);
    FIELD(sb_lens, size);
    FIELD(sb_lens, maximum);
    FIELD(sb_lens, render_scale);

    SIZE(sb_options);
    FIELD(sb_options, struct_size);
    FIELD(sb_options, mode);
    FIELD(sb_options, edges);
    FIELD(sb_options, output);
    FIELD(sb_options, focus);
    FIELD(sb_options, dof);
    FIELD(sb_options, size);
    FIELD(sb_options, maximum);
    FIELD(sb_options, render_scale);
    FIELD(sb_options, mix);
    FIELD(sb_options, radius);
    FIELD(sb_options, depth_channel);
    FIELD(sb_options, invert_depth);
    FIELD(sb_options, rotation);
    FIELD(sb_options, aspect);
    FIELD(sb_options, pixel_aspect);
    FIELD(sb_options, bloom_threshold);
    FIELD(sb_options, bloom_gain);
    FIELD(sb_options, gamma);
    FIELD(sb_options, focus_x);
    FIELD(sb_options, focus_y);
    FIELD(sb_options, focus_from_point);

    SIZE(sb_stats);
    FIELD(sb_stats, nonfinite_samples);
    FIELD(sb_stats, bad_depth);
    FIELD(sb_stats, max_radius);
    FIELD(sb_stats, tables);

    SIZE(sb_status);
    VALUE(SB_OK);
    VALUE(SB_ERR_NULL_POINTER);
    VALUE(SB_ERR_IMAGE);
    VALUE(SB_ERR_SIZE_MISMATCH);
    VALUE(SB_ERR_OVERLAP);
    VALUE(SB_ERR_LENS);
    VALUE(SB_ERR_INVALID_ARGUMENT);
    VALUE(SB_ERR_UNSUPPORTED);
    VALUE(SB_ERR_IO);
    VALUE(SB_ERR_BUNDLE_PARSE);
    VALUE(SB_ERR_BUNDLE_INVALID);
    VALUE(SB_ERR_BUNDLE_VERSION);
    VALUE(SB_ERR_BUFFER_TOO_SMALL);
    VALUE(SB_ERR_TOO_LARGE);
    VALUE(SB_ERR_CPU);
    VALUE(SB_ERR_THREADS);
    VALUE(SB_ERR_INTERNAL);
    VALUE(SB_LENS_DEPTH);
    VALUE(SB_LENS_INVERSE_DEPTH);
    VALUE(SB_LENS_COC);
    VALUE(SB_EDGES_GATHER);
    VALUE(SB_EDGES_LAYERED);
    VALUE(SB_OUTPUT_RESULT);
    VALUE(SB_OUTPUT_FOCAL_PLANE_SETUP);
    VALUE(SB_OUTPUT_COC_MAP);
    VALUE(SB_OUTPUT_COC_MAP_NORMALISED);
    VALUE(SB_OUTPUT_DEPTH_SLICES);
    return 0;
}
