/*
 * sparsebokeh.h: the C API of sparsebokeh, spatially-varying lens blur with sparse kernel
 * complexes.
 *
 * C99 and C++ (extern "C"). Link with -lsparsebokeh (pkg-config: sparsebokeh).
 *
 * Conventions
 * - Every function that can fail returns an sb_status; SB_OK (0) is success. After a failing
 *   call, sb_last_error() gives a human-readable message for the calling thread. No function
 *   aborts or unwinds into the caller, whatever the input: NULL pointers, impossible sizes and
 *   overlapping buffers are reported as statuses.
 * - Handles (sb_bundle, sb_context) are opaque; each is created by one function and released by
 *   its *_free function, which accepts NULL. A handle is immutable once created and may be used
 *   from several threads at once.
 * - Images are caller memory described by sb_image; the library never keeps a pointer to them
 *   after a call returns. Outputs are written only when the call returns SB_OK: on any error
 *   the destination is left untouched (the one exception is SB_ERR_INTERNAL, a bug, after
 *   which the destination's content is unspecified).
 * - Unless a function says otherwise, pointer arguments must be NULL or valid; a non-NULL
 *   pointer to freed memory or to a buffer smaller than described cannot be detected.
 * - Structs the caller fills (sb_lens, sb_options) start with `struct_size`: fill them with
 *   their *_default function (which sets it to sizeof) and change what you need, so that a
 *   later version can add fields at the end without breaking your build.
 *
 * Version 0.2.0 (this header) changed the ABI of 0.1.0: sb_lens gained its leading
 * struct_size, and sb_options, sb_options_default and sb_render (the one render request,
 * with output kinds and mix) were added. Rebuild callers of 0.1.0. sb_options has since grown
 * the lens-character fields (rotation to focus_from_point) at its end; a caller built before
 * them passes struct_size = offsetof(sb_options, rotation) and gets their defaults.
 */
#ifndef SPARSEBOKEH_H
#define SPARSEBOKEH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version --------------------------------------------------------------------------- */

/** The version of this header. sb_version() gives the library's. */
#define SB_VERSION_MAJOR 0
#define SB_VERSION_MINOR 2
#define SB_VERSION_PATCH 0
/** The header's version in the format of sb_version(). */
#define SB_VERSION ((SB_VERSION_MAJOR << 16) | (SB_VERSION_MINOR << 8) | SB_VERSION_PATCH)

/** The library's version as (major << 16) | (minor << 8) | patch. Never fails. */
uint32_t sb_version(void);

/** The library's version as static text, e.g. "0.1.0". Never NULL; do not free. */
const char *sb_version_string(void);

/* ---- Status codes and errors ------------------------------------------------------------- */

typedef enum sb_status {
    SB_OK = 0,
    /** A required pointer argument (or an sb_image's data) is NULL. */
    SB_ERR_NULL_POINTER = 1,
    /** An sb_image is invalid: width or height outside 1..65536, channels outside 1..4, a row
     *  stride that is not a multiple of 4, smaller than a row, or whose rows' span overflows the
     *  address space, or data not aligned to 4 bytes. */
    SB_ERR_IMAGE = 2,
    /** Images of one call do not match: sizes, channel counts, a CoC output with channels != 1. */
    SB_ERR_SIZE_MISMATCH = 3,
    /** The memory spanned by an output image overlaps the memory spanned by an input image. */
    SB_ERR_OVERLAP = 4,
    /** An sb_lens field is invalid (unknown mode, NaN/Inf or out-of-range parameter). */
    SB_ERR_LENS = 5,
    /** Another argument is out of range (blur radius, depth channel, thread count). */
    SB_ERR_INVALID_ARGUMENT = 6,
    /** A struct_size larger than this library knows (a caller built with a newer header). */
    SB_ERR_UNSUPPORTED = 7,
    /** The bundle file is missing or cannot be read. */
    SB_ERR_IO = 8,
    /** The bundle is empty or not JSON (JSON has no NaN/Infinity: a file holding them lands
     *  here). */
    SB_ERR_BUNDLE_PARSE = 9,
    /** The bundle is JSON but breaks a rule of the bundle format (another shape, wrong counts,
     *  unsorted radii, weights not summing to 1, ...); the message names the field. */
    SB_ERR_BUNDLE_INVALID = 10,
    /** The bundle's "version" field is missing, malformed or newer than this library reads. */
    SB_ERR_BUNDLE_VERSION = 11,
    /** An output array is smaller than the data to copy into it. Nothing was written. */
    SB_ERR_BUFFER_TOO_SMALL = 12,
    /** The request is too large: a bundle in memory over 32 MiB, or a render whose working
     *  frame (the frame padded by the kernel's reach at the largest radius of the call) would
     *  exceed the library's limits (a reach of 8192 px, 2^28 floats), or whose radius tables
     *  would hold more than 2^24 taps. */
    SB_ERR_TOO_LARGE = 13,
    /** This CPU lacks instructions the library was built for (x86-64-v3: AVX2 and FMA). */
    SB_ERR_CPU = 14,
    /** The render threads could not be started. */
    SB_ERR_THREADS = 15,
    /** An internal error (a bug in sparsebokeh, caught before it reached the caller). */
    SB_ERR_INTERNAL = 16
} sb_status;

/** A static English description of a status code (also for unknown values). Never NULL; do not
 *  free. */
const char *sb_status_string(int status);

/**
 * The message of the calling thread's most recent failed sb_status call, naming the argument or
 * bundle field at fault; "" if that call succeeded or nothing was called yet. Never NULL; do not
 * free. The text belongs to the library and stays valid until the next sb_status-returning call
 * on the same thread. Messages are UTF-8.
 */
const char *sb_last_error(void);

/* ---- Images ------------------------------------------------------------------------------- */

/**
 * An image in caller memory: interleaved 32-bit floats, `channels` per pixel (RGBA is
 * premultiplied for blurs), `width` pixels per row, `height` rows.
 *
 * Row y (0 = the top row of the picture) starts at byte address
 * `(char *)data + y * row_stride_bytes`. The stride may be larger than a row
 * (`width * channels * 4` bytes) and may be negative: then `data` points at row 0 and the rows go
 * to lower addresses. Kernel offsets point down the rows (y grows from row 0), so for a
 * bottom-up image such as OpenFX's (data = bottom row, rowBytes > 0) pass data = the top row's
 * address and row_stride_bytes = -rowBytes to keep asymmetric apertures upright.
 * row_stride_bytes must be a multiple of 4 and |row_stride_bytes| at least a row; `data` must be
 * 4-byte aligned. The buffer must span all rows. Sources are only read, never written.
 *
 * The library treats the whole byte range from the lowest to the highest row (gaps between rows
 * included) as the image's own for the duration of a call: only the rows' pixels are read or
 * written, but that range must not overlap an output of the same call (SB_ERR_OVERLAP) and no
 * other thread may write it during the call.
 */
typedef struct sb_image {
    float *data;
    ptrdiff_t row_stride_bytes;
    int32_t width;
    int32_t height;
    int32_t channels;
} sb_image;

/* ---- Lens: depth to blur radius ------------------------------------------------------------ */

/** How the depth channel maps to a blur radius (sb_lens.mode). */
enum {
    /** Thin lens on depth z: r = size * |z - focus| / z; 0 within |z - focus| <= dof / 2. */
    SB_LENS_DEPTH = 0,
    /** The channel holds 1/z (far = 0); focus and dof are in the channel's units. */
    SB_LENS_INVERSE_DEPTH = 1,
    /** The channel already holds the radius in pixels (sign ignored). */
    SB_LENS_COC = 2
};

/** How depth edges are treated (sb_lens.edges). */
enum {
    /** Every output pixel filters with its own radius: exact inside a surface, but halos and
     *  foreground blur cut off at the silhouette where depth jumps. */
    SB_EDGES_GATHER = 0,
    /** Occlusion-aware: near depth edges the frame is split into depth slices, blurred
     *  separately and composited front to back (hidden background filled in); gather elsewhere.
     *  Slower than gather near edges. */
    SB_EDGES_LAYERED = 1
};

/**
 * A lens. Fill it with sb_lens_default() and change what you need. Non-finite depth values (and
 * negative ones in the depth modes) count as infinitely far (radius `size`), or as radius 0 in
 * SB_LENS_COC mode; they are counted in sb_stats.bad_depth.
 */
typedef struct sb_lens {
    /** sizeof(sb_lens), set by sb_lens_default; another value is refused (SB_ERR_INVALID_ARGUMENT
     *  when smaller, SB_ERR_UNSUPPORTED when larger). */
    uint32_t struct_size;
    /** SB_LENS_DEPTH, SB_LENS_INVERSE_DEPTH or SB_LENS_COC. */
    int32_t mode;
    /** SB_EDGES_GATHER or SB_EDGES_LAYERED; sb_coc_map checks but ignores it. */
    int32_t edges;
    /** The depth in focus (depth mode: z > 0; inverse-depth mode: the channel's value, > 0). */
    double focus;
    /** Width of the in-focus band around focus, in the same units; finite, >= 0. */
    double dof;
    /** Blur radius at infinite depth, in pixels at full resolution; finite, >= 0. */
    double size;
    /** Largest blur radius, in pixels at full resolution; finite, 0..1024. */
    double maximum;
    /** Render scale, finite and > 0 (below 1 for proxies, above 1 when a host scales up): radii are
        multiplied by it (and stop at 1024 px). */
    double render_scale;
} sb_lens;

/**
 * Fills *lens with the defaults: struct_size = sizeof(sb_lens), SB_LENS_DEPTH,
 * SB_EDGES_LAYERED, focus 1, dof 0, size 10, maximum 32, render_scale 1.
 * Returns SB_OK, or SB_ERR_NULL_POINTER if lens is NULL.
 */
sb_status sb_lens_default(sb_lens *lens);

/* ---- The render request --------------------------------------------------------------------- */

/** What sb_render writes (sb_options.output). */
enum {
    /** The blurred image, blended with the source by sb_options.mix. */
    SB_OUTPUT_RESULT = 0,
    /** The source tinted red in front of the in-focus band, green inside it, blue behind it. */
    SB_OUTPUT_FOCAL_PLANE_SETUP = 1,
    /** The blur radius in full-resolution pixels in every colour channel (alpha 1). */
    SB_OUTPUT_COC_MAP = 2,
    /** The CoC map divided by the largest radius allowed (the maximum with depth, the radius
        without): 0 in focus, 1 at the maximum. */
    SB_OUTPUT_COC_MAP_NORMALISED = 3,
    /** The depth slices of the layered blur: each pixel coloured by its slice of signed CoC
        (0, +-1, +-4, +-16 ... px; warm in front of focus, green in focus, cool behind), shaded
        by the source's luminance; pixels on a depth edge white. */
    SB_OUTPUT_DEPTH_SLICES = 4
};

/**
 * Everything sb_render can be asked for one frame. Fill it with sb_options_default() and change
 * what you need. The lens fields mean what they mean in sb_lens.
 */
typedef struct sb_options {
    /** sizeof(sb_options), set by sb_options_default (checked as sb_lens.struct_size). */
    uint32_t struct_size;
    /** SB_LENS_DEPTH, SB_LENS_INVERSE_DEPTH or SB_LENS_COC. */
    int32_t mode;
    /** SB_EDGES_GATHER or SB_EDGES_LAYERED. */
    int32_t edges;
    /** SB_OUTPUT_RESULT, SB_OUTPUT_FOCAL_PLANE_SETUP, SB_OUTPUT_COC_MAP or SB_OUTPUT_COC_MAP_NORMALISED. */
    int32_t output;
    double focus;
    double dof;
    double size;
    double maximum;
    double render_scale;
    /** Blend between the source (0) and the result (1), in 0..1; SB_OUTPUT_RESULT only. */
    double mix;
    /** The blur radius (pixels at full resolution, 0..1024) when no depth image is given. */
    double radius;
    /** The channel of the depth image that holds depth (0-based). */
    int32_t depth_channel;
    /** Non-zero: use 1 - value of the depth channel (normalised passes where white is near). */
    int32_t invert_depth;
    /* Fields added in 0.3 (lens character). */
    /** Rotation of the bokeh in degrees, counter-clockwise on screen. Default 0. */
    double rotation;
    /** Aspect ratio of the bokeh, width / height, in 0.25..4 (its height stays 2 x radius;
        anamorphic ovals). Default 1. */
    double aspect;
    /** The image's pixel aspect ratio (pixel width / height, 0.1..10): tap x offsets are divided
        by it so the bokeh is round on screen. Default 1. */
    double pixel_aspect;
    /** Highlights: luminance (linear light, Rec. 709) above which pixels are boosted before the
        blur, 0..1e6. Default 0.8. */
    double bloom_threshold;
    /** Highlights: a pixel of luminance Y > bloom_threshold t is scaled by (Y + gain (Y - t)) / Y
        before the blur; 0..1000, 0 = off (the default). */
    double bloom_gain;
    /** Encoding gamma of display-referred input (0.1..10): colour is raised to gamma before the
        blur and to 1/gamma after, so it is blurred in linear light. Default 1 (off). */
    double gamma;
    /** Focus from a point: the point, in pixels of the frame (x right, y down from its top-left
        corner), used when focus_from_point is non-zero. Default 0, 0. */
    double focus_x;
    double focus_y;
    /** Non-zero: the focal plane (focus) becomes the median depth of the 5 x 5 pixels around
        (focus_x, focus_y) (clipped to the frame; non-finite values skipped). Default 0. */
    int32_t focus_from_point;
} sb_options;

/**
 * Fills *options with the defaults, those of every sparsebokeh front end: struct_size =
 * sizeof(sb_options), SB_LENS_DEPTH, SB_EDGES_LAYERED, SB_OUTPUT_RESULT, focus 1, dof 0, size 10,
 * maximum 32, render_scale 1, mix 1, radius 8, depth_channel 0, invert_depth 0, rotation 0,
 * aspect 1, pixel_aspect 1, bloom_threshold 0.8, bloom_gain 0, gamma 1, focus_x 0, focus_y 0,
 * focus_from_point 0.
 * Returns SB_OK, or SB_ERR_NULL_POINTER if options is NULL.
 */
sb_status sb_options_default(sb_options *options);

/** What a call saw (optional output of the render functions). */
typedef struct sb_stats {
    /** Source samples that were NaN or +-Inf (rendered as 0). */
    uint64_t nonfinite_samples;
    /** Depth values that were non-finite or negative (see sb_lens). */
    uint64_t bad_depth;
    /** Largest blur radius used, in pixels at the render's resolution. */
    float max_radius;
    /** Radius tables built for the frame. */
    uint32_t tables;
} sb_stats;

/* ---- Contexts: threads ------------------------------------------------------------------- */

/** A render context: the thread pool renders run on. Opaque. */
typedef struct sb_context sb_context;

/**
 * Creates a render context with `threads` render threads; 0 = one per core (a pool shared with
 * the process). At most 1024. Renders give the same pixels whatever the thread count.
 * On success *out holds the new context (free it with sb_context_free). On failure *out is set
 * to NULL (if out is not NULL) and the status is SB_ERR_NULL_POINTER (out is NULL), SB_ERR_CPU,
 * SB_ERR_INVALID_ARGUMENT (threads > 1024) or SB_ERR_THREADS.
 */
sb_status sb_context_create(uint32_t threads, sb_context **out);

/** Frees a context. NULL is a no-op. The context must not be in use by another thread. */
void sb_context_free(sb_context *ctx);

/** The number of threads a context renders with; for NULL, that of the default (all cores). */
uint32_t sb_context_threads(const sb_context *ctx);

/* ---- Bundles: fitted kernels ------------------------------------------------------------- */

/** A validated kernel bundle (one aperture shape, a basis of complexes by radius). Opaque. */
typedef struct sb_bundle sb_bundle;

/**
 * Reads and validates the bundle file at `path` (a NUL-terminated path; on POSIX any bytes,
 * elsewhere UTF-8). On success *out holds the new bundle (free it with sb_bundle_free). On
 * failure *out is set to NULL (if out is not NULL) and the status is SB_ERR_NULL_POINTER,
 * SB_ERR_CPU, SB_ERR_IO (missing or unreadable file, not a regular file: a named pipe or
 * device is refused without blocking, or larger than 32 MiB),
 * SB_ERR_BUNDLE_PARSE, SB_ERR_BUNDLE_INVALID or SB_ERR_BUNDLE_VERSION.
 */
sb_status sb_bundle_load(const char *path, sb_bundle **out);

/**
 * Parses and validates a bundle from `size` bytes at `data` (UTF-8 JSON, no terminator needed;
 * the bytes are not kept). `data` may be NULL only when size is 0 (an empty bundle:
 * SB_ERR_BUNDLE_PARSE). Statuses as sb_bundle_load, with SB_ERR_TOO_LARGE over 32 MiB instead
 * of SB_ERR_IO.
 */
sb_status sb_bundle_load_memory(const void *data, size_t size, sb_bundle **out);

/** Frees a bundle. NULL is a no-op. The bundle must not be in use by another thread. */
void sb_bundle_free(sb_bundle *bundle);

/** The bundle's name (UTF-8, NUL-terminated), owned by the bundle and valid until it is freed;
 *  NULL if bundle is NULL. */
const char *sb_bundle_name(const sb_bundle *bundle);

/** Layers per complex (L); 0 if bundle is NULL. */
size_t sb_bundle_layers(const sb_bundle *bundle);

/** Taps per layer (N); 0 if bundle is NULL. */
size_t sb_bundle_taps(const sb_bundle *bundle);

/** Number of basis entries (fitted radii); 0 if bundle is NULL. */
size_t sb_bundle_radius_count(const sb_bundle *bundle);

/**
 * Copies the basis radii (pixels, strictly increasing) into out[0 .. sb_bundle_radius_count()).
 * Returns SB_OK, SB_ERR_NULL_POINTER (bundle or out NULL) or SB_ERR_BUFFER_TOO_SMALL (capacity
 * smaller than the count; nothing written).
 */
sb_status sb_bundle_radii(const sb_bundle *bundle, double *out, size_t capacity);

/* ---- Rendering ---------------------------------------------------------------------------- */

/*
 * The render functions share these rules:
 * - ctx may be NULL: the default context (all cores).
 * - src and dst have the same width, height and channels (1..4). dst must not overlap src (or
 *   depth) in memory: the byte ranges their rows span must be disjoint (SB_ERR_OVERLAP).
 *   Inputs may share memory with each other (e.g. depth = src, with depth_channel 3).
 * - Outside the frame, sampling clamps to the edge. Non-finite source samples are treated as 0.
 * - stats may be NULL; when not, it is written on success only.
 * - Statuses: SB_OK, SB_ERR_NULL_POINTER, SB_ERR_IMAGE, SB_ERR_SIZE_MISMATCH, SB_ERR_OVERLAP,
 *   SB_ERR_TOO_LARGE, SB_ERR_CPU, SB_ERR_INTERNAL, and those listed per function. On any error
 *   dst is untouched.
 */

/**
 * Blurs src into dst with the bundle's kernel at one radius (pixels, finite, 0..1024; 0.5 or
 * less copies src). Also SB_ERR_INVALID_ARGUMENT for a bad radius.
 */
sb_status sb_blur_fixed(const sb_context *ctx, const sb_bundle *bundle, double radius, const sb_image *src,
                        const sb_image *dst, sb_stats *stats);

/**
 * Blurs src into dst, each pixel with the radius its depth value gives through the lens (the
 * channel `depth_channel`, 0-based, of the image `depth`, which has src's width and height and
 * any channel count), with depth edges treated as lens->edges says. Also SB_ERR_LENS and
 * SB_ERR_INVALID_ARGUMENT (depth_channel out of range).
 */
sb_status sb_blur_depth(const sb_context *ctx, const sb_bundle *bundle, const sb_lens *lens, const sb_image *src,
                        const sb_image *depth, int depth_channel, const sb_image *dst, sb_stats *stats);

/**
 * The circle-of-confusion map: writes each pixel's blur radius (pixels at the render's
 * resolution: render_scale applied, clamped to maximum) into dst, a 1-channel image of depth's
 * width and height. The radii are those sb_blur_depth would use. Statuses as sb_blur_depth.
 */
sb_status sb_coc_map(const sb_lens *lens, const sb_image *depth, int depth_channel, const sb_image *dst,
                     sb_stats *stats);

/**
 * Renders src into dst as options ask: each pixel's radius from `depth` (channel
 * options->depth_channel) through the lens when depth is not NULL, else options->radius for the
 * whole frame; then the output kind and the mix. bundle may be NULL when nothing is blurred (a
 * focal-plane setup, a CoC map, a mix of 0, radii of 0.5 px or less); otherwise NULL is
 * SB_ERR_NULL_POINTER. Also SB_ERR_LENS, SB_ERR_INVALID_ARGUMENT (output kind, mix, radius,
 * depth_channel, struct_size too small) and SB_ERR_UNSUPPORTED (struct_size too large).
 */
sb_status sb_render(const sb_context *ctx, const sb_bundle *bundle, const sb_options *options, const sb_image *src,
                    const sb_image *depth, const sb_image *dst, sb_stats *stats);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SPARSEBOKEH_H */
