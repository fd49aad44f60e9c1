/* SAM 2's mask upscaling per click, compiled: part of segstudio._native.pixels (the module and its
 * method table are in pixels.c). models/sam_upscaling.py runs torch's ops where it is not built;
 * tests/models/test_sam_upscaling.py holds the two within the GELU's stated error. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* ---- SAM 2's mask upscaling per click (models/sam_upscaling.py): the passes between its matrix
 * products fused, each value read once while in cache. ---- */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math") /* lets the clamps of sam_erf become vector min / max */
#endif

#define SAM_LANES 8 /* partial sums per reduction: one 8-float vector (two 4-float ones on SSE2) */
#define SAM_MAX_CHANNELS 1024

#if defined(__GNUC__)
#define SAM_INLINE static inline __attribute__((always_inline))
#else
#define SAM_INLINE static inline
#endif

/* erf(x) to ~3.3e-7 (4.4e-7 without FMA): odd over even polynomial in x, x clamped to +-4 where
 * float's erf is +-1 (Eigen's and XLA's float erf). No exp and no branch: its loops vectorise. */
SAM_INLINE float sam_erf(float x)
{
    x = x < -4.0f ? -4.0f : x;
    x = x > 4.0f ? 4.0f : x;
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return x * p / q;
}

/* torch's exact GELU, x * Phi(x) = x / 2 * (1 + erf(x / sqrt 2)), to ~1.4e-6 (~2.5e-7 relative). */
SAM_INLINE float sam_gelu(float x) { return 0.5f * x * (1.0f + sam_erf(x * 0.70710678118654752f)); }

/* The sum of n floats in SAM_LANES partial sums (a vector's lanes), then the rest. */
SAM_INLINE float sam_sum(const float *restrict v, Py_ssize_t n)
{
    float lanes[SAM_LANES] = {0}, total = 0.0f;
    Py_ssize_t c = 0;
    int l;
    for (; c + SAM_LANES <= n; c += SAM_LANES)
        for (l = 0; l < SAM_LANES; l++)
            lanes[l] += v[c + l];
    for (; c < n; c++)
        total += v[c];
    for (l = 0; l < SAM_LANES; l++)
        total += lanes[l];
    return total;
}

/* The dot product of two n-float rows, in SAM_LANES partial sums. */
SAM_INLINE float sam_dot(const float *restrict a, const float *restrict b, Py_ssize_t n)
{
    float lanes[SAM_LANES] = {0}, total = 0.0f;
    Py_ssize_t c = 0;
    int l;
    for (; c + SAM_LANES <= n; c += SAM_LANES)
        for (l = 0; l < SAM_LANES; l++)
            lanes[l] += a[c + l] * b[c + l];
    for (; c < n; c++)
        total += a[c] * b[c];
    for (l = 0; l < SAM_LANES; l++)
        total += lanes[l];
    return total;
}

typedef struct {
    float *x;
    const float *image, *scale, *added, *weight, *bias;
    float eps;
    Py_ssize_t pixels, groups, channels, added_stride;
} SamNormGelu;

/* Per pixel p and group g of channels: v = x + image * scale[p] + added (its row p, or its one
 * row: added_stride 0), LayerNorm over the group's channels (weight, bias, eps), exact GELU,
 * written back into x. */
SAM_INLINE void sam_norm_gelu_body(const SamNormGelu *a, Py_ssize_t from, Py_ssize_t to)
{
    const Py_ssize_t channels = a->channels;
    float centred[SAM_MAX_CHANNELS];
    Py_ssize_t p, g, c;
    for (p = from; p < to; p++) {
        const float s = a->scale[p];
        for (g = 0; g < a->groups; g++) {
            float *restrict v = a->x + (p * a->groups + g) * channels;
            const float *restrict image = a->image + (p * a->groups + g) * channels;
            const float *restrict added = a->added + p * a->added_stride + g * channels;
            for (c = 0; c < channels; c++)
                v[c] += image[c] * s + added[c];
            const float mean = sam_sum(v, channels) / (float)channels;
            for (c = 0; c < channels; c++)
                centred[c] = (v[c] - mean) * (v[c] - mean);
            const float rstd = 1.0f / sqrtf(sam_sum(centred, channels) / (float)channels + a->eps);
            for (c = 0; c < channels; c++)
                v[c] = sam_gelu((v[c] - mean) * rstd * a->weight[c] + a->bias[c]);
        }
    }
}

typedef struct {
    const float *z, *added, *hyper;
    float *out;
    Py_ssize_t rows, first_pixel, height, width, masks, channels, added_stride;
} SamGeluLogits;

/* Rows (pixel, i, j) of (k, l, channels) values plus added (its row, or its one row: added_stride
 * 0): each value's GELU, each (k, l) group's dot with
 * each mask's hypernetwork row, the logit written at (4 py + 2 i + k, 4 px + 2 j + l) of its
 * mask's (4 height, 4 width) map, pixel = first_pixel + row / 4 = py * width + px. */
SAM_INLINE void sam_gelu_logits_body(const SamGeluLogits *a, Py_ssize_t from, Py_ssize_t to)
{
    const Py_ssize_t channels = a->channels, side = 4 * a->width, plane = 16 * a->height * a->width;
    float activated[4 * SAM_MAX_CHANNELS];
    Py_ssize_t r, c, m;
    int kl;
    for (r = from; r < to; r++) {
        const float *restrict z = a->z + r * 4 * channels;
        const float *restrict added = a->added + r * a->added_stride;
        for (c = 0; c < 4 * channels; c++)
            activated[c] = sam_gelu(z[c] + added[c]);
        const Py_ssize_t pixel = a->first_pixel + r / 4, i = (r / 2) % 2, j = r % 2;
        const Py_ssize_t y = 4 * (pixel / a->width) + 2 * i, x = 4 * (pixel % a->width) + 2 * j;
        for (m = 0; m < a->masks; m++) {
            float *out = a->out + m * plane;
            for (kl = 0; kl < 4; kl++)
                out[(y + kl / 2) * side + x + kl % 2] =
                    sam_dot(activated + kl * channels, a->hyper + m * channels, channels);
        }
    }
}

/* Each kernel over a range of its rows, as a thread runs it (args: its SamNormGelu or SamGeluLogits). */
typedef void (*SamRange)(const void *args, Py_ssize_t from, Py_ssize_t to);

static void sam_norm_gelu_portable(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_norm_gelu_body((const SamNormGelu *)a, from, to);
}
static void sam_gelu_logits_portable(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_gelu_logits_body((const SamGeluLogits *)a, from, to);
}

#if defined(__GNUC__) && defined(__x86_64__)
/* The same loops compiled for AVX2 and FMA (8 floats a step), chosen when the CPU has them. */
__attribute__((target("avx2,fma"))) static void sam_norm_gelu_avx2(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_norm_gelu_body((const SamNormGelu *)a, from, to);
}
__attribute__((target("avx2,fma"))) static void sam_gelu_logits_avx2(const void *a, Py_ssize_t from, Py_ssize_t to)
{
    sam_gelu_logits_body((const SamGeluLogits *)a, from, to);
}
/* Whether the CPU runs the AVX2 and FMA builds (also read by sam_softmax.c). */
int sam_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define sam_norm_gelu_avx2 sam_norm_gelu_portable
#define sam_gelu_logits_avx2 sam_gelu_logits_portable
int sam_has_avx2(void) { return 0; }
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#define SAM_MAX_THREADS 64

typedef struct {
    SamRange run;
    const void *args;
    Py_ssize_t from, to;
} SamPart;

#if !defined(_WIN32)
#include <pthread.h>

static void *sam_part_thread(void *part)
{
    const SamPart *p = (const SamPart *)part;
    p->run(p->args, p->from, p->to);
    return NULL;
}
#endif

/* run over rows 0-count in `threads` contiguous parts, the first on the calling thread, the
 * others on threads of their own (joined before returning); one part where threads cannot start.
 * Called with the GIL released. */
static void sam_in_parts(SamRange run, const void *args, Py_ssize_t count, Py_ssize_t threads)
{
    SamPart parts[SAM_MAX_THREADS];
    Py_ssize_t n = threads < 1 ? 1 : (threads > SAM_MAX_THREADS ? SAM_MAX_THREADS : threads), i;
    if (n > count)
        n = count > 0 ? count : 1;
    for (i = 0; i < n; i++) {
        parts[i].run = run;
        parts[i].args = args;
        parts[i].from = count * i / n;
        parts[i].to = count * (i + 1) / n;
    }
#if !defined(_WIN32)
    pthread_t handles[SAM_MAX_THREADS];
    int started[SAM_MAX_THREADS] = {0};
    for (i = 1; i < n; i++)
        started[i] = pthread_create(&handles[i], NULL, sam_part_thread, &parts[i]) == 0;
    run(args, parts[0].from, parts[0].to);
    for (i = 1; i < n; i++) {
        if (started[i])
            pthread_join(handles[i], NULL);
        else
            run(args, parts[i].from, parts[i].to);
    }
#else
    for (i = 0; i < n; i++)
        run(args, parts[i].from, parts[i].to);
#endif
}

/* The float32 count of a buffer, or -1 with ValueError naming it when its size is not n floats. */
static int sam_floats(const Py_buffer *buffer, Py_ssize_t n, const char *name)
{
    if (buffer->len == n * (Py_ssize_t)sizeof(float))
        return 1;
    PyErr_Format(PyExc_ValueError, "%s: %zd floats expected, got %zd bytes", name, n, buffer->len);
    return 0;
}

const char sam_norm_gelu_doc[] = PyDoc_STR(
             "sam_norm_gelu(x, image, scale, added, weight, bias, eps, threads=1, portable=False) -> None\n\n"
             "SAM 2's upscaling after its first transposed convolution, in place on ``x`` (float32, pixels\n"
             "rows of groups x channels, channels = len(weight)): per pixel p and group, x + image *\n"
             "scale[p] + added (its row p, or its one row for every pixel), then LayerNorm over the\n"
             "channels (weight, bias, eps), then the exact GELU to\n"
             "~1.4e-6. On ``threads`` threads (the pixels split), the GIL released; ``portable``: the\n"
             "build without AVX2 (for tests).");

PyObject *sam_norm_gelu(PyObject *self, PyObject *args)
{
    Py_buffer x, image, scale, added, weight, bias;
    float eps;
    Py_ssize_t threads = 1;
    int portable = 0, ok = 0;
    SamNormGelu a;
    (void)self;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*f|np", &x, &image, &scale, &added, &weight, &bias, &eps, &threads,
                          &portable))
        return NULL;
    a.channels = weight.len / (Py_ssize_t)sizeof(float);
    a.pixels = scale.len / (Py_ssize_t)sizeof(float);
    if (a.channels < 1 || a.channels > SAM_MAX_CHANNELS || a.pixels < 1
        || x.len % (a.pixels * a.channels * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_norm_gelu: %zd bytes are not rows of %zd pixels of 1-%d channels",
                     x.len, a.pixels, SAM_MAX_CHANNELS);
        goto done;
    }
    a.groups = x.len / (a.pixels * a.channels * (Py_ssize_t)sizeof(float));
    if (!sam_floats(&image, a.pixels * a.groups * a.channels, "sam_norm_gelu image")
        || !sam_floats(&scale, a.pixels, "sam_norm_gelu scale") || !sam_floats(&bias, a.channels, "sam_norm_gelu bias"))
        goto done;
    a.added_stride = added.len == x.len ? a.groups * a.channels : 0;
    if (!a.added_stride && !sam_floats(&added, a.groups * a.channels, "sam_norm_gelu added (one row or one per pixel)"))
        goto done;
    a.x = (float *)x.buf;
    a.image = (const float *)image.buf;
    a.scale = (const float *)scale.buf;
    a.added = (const float *)added.buf;
    a.weight = (const float *)weight.buf;
    a.bias = (const float *)bias.buf;
    a.eps = eps;
    Py_BEGIN_ALLOW_THREADS
    sam_in_parts(!portable && sam_has_avx2() ? sam_norm_gelu_avx2 : sam_norm_gelu_portable, &a, a.pixels, threads);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    PyBuffer_Release(&x);
    PyBuffer_Release(&image);
    PyBuffer_Release(&scale);
    PyBuffer_Release(&added);
    PyBuffer_Release(&weight);
    PyBuffer_Release(&bias);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

const char sam_gelu_logits_doc[] = PyDoc_STR(
             "sam_gelu_logits(z, added, hyper, out, first_pixel, height, width, threads=1, portable=False) -> None\n\n"
             "SAM 2's last upscaling step and mask product: ``z`` (float32) holds rows (pixel, i, j) of\n"
             "(k, l, channels) values, to which ``added`` (one row per row, or one row for all) is added,\n"
             "``hyper`` (masks, channels) the hypernetwork rows; each value's\n"
             "exact GELU (to ~1.4e-6) dotted with each row gives the logit at (4 py + 2 i + k,\n"
             "4 px + 2 j + l) of that mask's map in ``out`` (masks, 4 height, 4 width), pixel =\n"
             "first_pixel + row / 4 = py * width + px. On ``threads`` threads (the rows split), the GIL\n"
             "released; ``portable``: the build without AVX2 (for tests).");

PyObject *sam_gelu_logits(PyObject *self, PyObject *args)
{
    Py_buffer z, added, hyper, out;
    Py_ssize_t threads = 1;
    int portable = 0, ok = 0;
    SamGeluLogits a;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nnn|np", &z, &added, &hyper, &out, &a.first_pixel, &a.height, &a.width,
                          &threads, &portable))
        return NULL;
    if (a.height < 1 || a.width < 1 || a.height > PY_SSIZE_T_MAX / 64 / a.width
        || out.len % (16 * a.height * a.width * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_gelu_logits: %zd output bytes are not maps of (4 x %zd, 4 x %zd) floats",
                     out.len, a.height, a.width);
        goto done;
    }
    a.masks = out.len / (16 * a.height * a.width * (Py_ssize_t)sizeof(float));
    a.channels = a.masks ? hyper.len / (a.masks * (Py_ssize_t)sizeof(float)) : 0;
    if (a.masks < 1 || a.channels < 1 || a.channels > SAM_MAX_CHANNELS
        || !sam_floats(&hyper, a.masks * a.channels, "sam_gelu_logits hyper")
        || z.len % (16 * a.channels * (Py_ssize_t)sizeof(float))) {
        PyErr_Format(PyExc_ValueError, "sam_gelu_logits: %zd and %zd bytes are not 4 x 4 x channels per pixel and "
                     "masks x channels (1-%d)", z.len, hyper.len, SAM_MAX_CHANNELS);
        goto done;
    }
    a.rows = z.len / (4 * a.channels * (Py_ssize_t)sizeof(float));
    a.added_stride = added.len == z.len ? 4 * a.channels : 0;
    if (!a.added_stride && !sam_floats(&added, 4 * a.channels, "sam_gelu_logits added (one row or one per row)"))
        goto done;
    if (a.first_pixel < 0 || a.first_pixel > a.height * a.width - a.rows / 4) {
        PyErr_Format(PyExc_ValueError, "sam_gelu_logits: pixels %zd to %zd are outside the %zd x %zd grid",
                     a.first_pixel, a.first_pixel + a.rows / 4, a.height, a.width);
        goto done;
    }
    a.z = (const float *)z.buf;
    a.added = (const float *)added.buf;
    a.hyper = (const float *)hyper.buf;
    a.out = (float *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    sam_in_parts(!portable && sam_has_avx2() ? sam_gelu_logits_avx2 : sam_gelu_logits_portable, &a, a.rows, threads);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    PyBuffer_Release(&z);
    PyBuffer_Release(&added);
    PyBuffer_Release(&hyper);
    PyBuffer_Release(&out);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}
