/* The per-pixel loops of reading and scoring label PNGs, compiled (segstudio._native.pixels).
 *
 * unfilter: PNG row filters (None, Sub, Up, Average, Paeth) undone on the image data that
 *   libdeflate inflated, straight into the caller's array: libpng would need the data stored
 *   again as a zlib stream and would recompute its CRC-32 and Adler-32 (io/png_restore.py).
 * unfilter_rgb_ids: the same for 8-bit RGB rows, each pixel written as the uint32 segment id
 *   R + 256 G + 65536 B of COCO panoptic PNGs (no RGB image in between).
 * pair_run_starts: where a run of equal (a, b) values starts along two 4-byte maps, in one pass
 *   (core/runs.py does it in five numpy passes over every pixel).
 * pair_counts: the pixels of every distinct (a, b) pair of two uint32 maps, sorted: the overlaps
 *   of PQ's matching (core/pq.py), counted per run in a small hash table instead of sorted.
 * pair_counts_rgb: pair_counts of two COCO panoptic PNGs' id maps straight from their inflated
 *   rows (eval panoptic's pair): unfiltered and counted a row at a time, no map in between; rows
 *   that repeat the one above are not done again.
 * plain_rgb_png: the chunks of a plain 8-bit RGB PNG walked and CRC-checked (eval's pairs).
 *
 * The module has three more sources with one job each, their functions listed in the method table
 * below: pq_match.c (PQ's matching of one image from its pair counts, core/pq.py's twin),
 * sam_kernels.c (SAM 2's mask upscaling per click, models/sam_upscaling.py) and sam_softmax.c (a
 * SAM click's attention softmaxes, models/sam_softmax.py).
 *
 * Plain C on the buffer protocol, no numpy C API; the GIL is released in the loops. Optional:
 * without this module the numpy/libpng paths give the same results (tests hold them equal).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Paeth's predictor without branches (a: left, b: above, c: upper left), ties as the PNG
 * specification breaks them: a, then b, then c. */
static inline int paeth(int a, int b, int c)
{
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    int not_a = pb <= pc ? b : c;
    return pa <= pb && pa <= pc ? a : not_a;
}

/* Sub, Average and Paeth rows of a fixed number of bytes per pixel: the left pixel is kept in
 * registers (a store and reload per byte would chain the store-forwarding latency) and the
 * channels, independent chains, are unrolled. The first pixel has no left neighbour. */
#define LEFT_ROWS(BPP)                                                                               \
    static void sub_row_##BPP(uint8_t *out, const uint8_t *in, Py_ssize_t stride)                    \
    {                                                                                                \
        uint8_t left[BPP];                                                                           \
        Py_ssize_t x;                                                                                \
        int k;                                                                                       \
        for (k = 0; k < BPP; k++)                                                                    \
            out[k] = left[k] = in[k];                                                                \
        for (x = BPP; x < stride; x += BPP)                                                          \
            for (k = 0; k < BPP; k++)                                                                \
                out[x + k] = left[k] = (uint8_t)(in[x + k] + left[k]);                               \
    }                                                                                                \
    static void average_row_##BPP(uint8_t *out, const uint8_t *in, const uint8_t *up, Py_ssize_t stride) \
    {                                                                                                \
        uint8_t left[BPP];                                                                           \
        Py_ssize_t x;                                                                                \
        int k;                                                                                       \
        for (k = 0; k < BPP; k++)                                                                    \
            out[k] = left[k] = (uint8_t)(in[k] + (up[k] >> 1));                                      \
        for (x = BPP; x < stride; x += BPP)                                                          \
            for (k = 0; k < BPP; k++)                                                                \
                out[x + k] = left[k] = (uint8_t)(in[x + k] + ((left[k] + up[x + k]) >> 1));          \
    }                                                                                                \
    static void paeth_row_##BPP(uint8_t *out, const uint8_t *in, const uint8_t *up, Py_ssize_t stride) \
    {                                                                                                \
        int left[BPP], corner[BPP];                                                                  \
        Py_ssize_t x;                                                                                \
        int k;                                                                                       \
        for (k = 0; k < BPP; k++) {                                                                  \
            corner[k] = up[k];                                                                       \
            out[k] = (uint8_t)(left[k] = (in[k] + up[k]) & 0xFF);                                    \
        }                                                                                            \
        for (x = BPP; x < stride; x += BPP) {                                                        \
            if (memcmp(up + x, up + x - BPP, BPP) == 0) { /* above == upper left: the left pixel */  \
                for (k = 0; k < BPP; k++)                                                            \
                    out[x + k] = (uint8_t)(left[k] = (in[x + k] + left[k]) & 0xFF);                  \
                continue; /* corner[k] stays: it equals the byte above */                           \
            }                                                                                        \
            for (k = 0; k < BPP; k++) {                                                              \
                int above = up[x + k];                                                               \
                left[k] = (in[x + k] + paeth(left[k], above, corner[k])) & 0xFF;                      \
                corner[k] = above;                                                                   \
                out[x + k] = (uint8_t)left[k];                                                       \
            }                                                                                        \
        }                                                                                            \
    }
LEFT_ROWS(1)
LEFT_ROWS(2)
LEFT_ROWS(3)
LEFT_ROWS(4)
LEFT_ROWS(6)
LEFT_ROWS(8)

#define BY_BPP(ROW, ...)                     \
    switch (bpp) {                           \
    case 1: ROW##_1(__VA_ARGS__); return 0;  \
    case 2: ROW##_2(__VA_ARGS__); return 0;  \
    case 3: ROW##_3(__VA_ARGS__); return 0;  \
    case 4: ROW##_4(__VA_ARGS__); return 0;  \
    case 6: ROW##_6(__VA_ARGS__); return 0;  \
    case 8: ROW##_8(__VA_ARGS__); return 0;  \
    default: return -1;                      \
    }

/* Row y of the image: filtered bytes `in` (stride), the row above `up` (NULL for the first);
 * stride is a whole number of pixels of bpp (1, 2, 3, 4, 6 or 8) bytes. -1 for an unknown
 * filter type. */
static int unfilter_row(uint8_t *restrict out, const uint8_t *restrict in, const uint8_t *restrict up, int kind,
                        Py_ssize_t stride, Py_ssize_t bpp)
{
    Py_ssize_t x;
    if (up == NULL) { /* the first row: the row above is zeros */
        if (kind == 3) {
            for (x = 0; x < bpp; x++)
                out[x] = in[x];
            for (; x < stride; x++)
                out[x] = (uint8_t)(in[x] + (out[x - bpp] >> 1));
            return 0;
        }
        if (kind == 2)
            kind = 0; /* Up is None */
        else if (kind == 4)
            kind = 1; /* Paeth is Sub */
    }
    switch (kind) {
    case 0:
        memcpy(out, in, (size_t)stride);
        return 0;
    case 1:
        BY_BPP(sub_row, out, in, stride)
    case 2:
        for (x = 0; x < stride; x++)
            out[x] = (uint8_t)(in[x] + up[x]);
        return 0;
    case 3:
        BY_BPP(average_row, out, in, up, stride)
    case 4:
        BY_BPP(paeth_row, out, in, up, stride)
    default:
        return -1;
    }
}

/* 1, or 0 with ValueError naming the row (bad_row >= 0) whose filter type is unknown. */
static int row_accepted(Py_ssize_t bad_row, int bad_kind)
{
    if (bad_row < 0)
        return 1;
    PyErr_Format(PyExc_ValueError, "row %zd has unknown filter type %d", bad_row, bad_kind);
    return 0;
}

/* Both buffers released; None if ok, else NULL (the error is set). */
static PyObject *release_both(Py_buffer *in, Py_buffer *out, int ok)
{
    PyBuffer_Release(in);
    PyBuffer_Release(out);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(unfilter_doc,
             "unfilter(data, out, height, stride, bpp) -> None\n\n"
             "Undo the PNG row filters of ``data`` (height rows of a filter byte and ``stride`` bytes)\n"
             "into ``out`` (a writable C-contiguous buffer of height * stride bytes); ``bpp``: bytes per\n"
             "complete pixel (at least 1). ValueError naming the row if a filter type is not 0-4.");

static PyObject *unfilter(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    Py_ssize_t height, stride, bpp, y, bad_row = -1;
    int bad_kind = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*nnn", &in, &out, &height, &stride, &bpp))
        return NULL;
    if (height < 0 || stride < 1 || bpp < 1 || bpp > 8 || bpp == 5 || bpp == 7 || stride % bpp) {
        PyErr_SetString(PyExc_ValueError, "unfilter: height >= 0, bpp 1, 2, 3, 4, 6 or 8 and stride a multiple of bpp expected");
        goto fail;
    }
    if (height > PY_SSIZE_T_MAX / (stride + 1) || in.len != height * (stride + 1) || out.len != height * stride) {
        PyErr_Format(PyExc_ValueError, "unfilter: %zd rows of %zd bytes need %zd filtered and %zd output bytes, got %zd and %zd",
                     height, stride, height * (stride + 1), height * stride, in.len, out.len);
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *src = (const uint8_t *)in.buf;
    uint8_t *dst = (uint8_t *)out.buf;
    for (y = 0; y < height; y++) {
        const uint8_t *row = src + y * (stride + 1);
        uint8_t *target = dst + y * stride;
        if (unfilter_row(target, row + 1, y ? target - stride : NULL, row[0], stride, bpp)) {
            bad_row = y;
            bad_kind = row[0];
            break;
        }
    }
    Py_END_ALLOW_THREADS
    return release_both(&in, &out, row_accepted(bad_row, bad_kind));
fail:
    return release_both(&in, &out, 0);
}

/* R + 256 G + 65536 B of each pixel of an RGB row; rgb[3 * width] must be readable. */
static void pack_rgb(uint32_t *restrict ids, const uint8_t *restrict rgb, Py_ssize_t width)
{
    Py_ssize_t x;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (x = 0; x + 4 <= width; x += 4) { /* four pixels from three 4-byte words */
        uint32_t w0, w1, w2;
        memcpy(&w0, rgb + 3 * x, 4);
        memcpy(&w1, rgb + 3 * x + 4, 4);
        memcpy(&w2, rgb + 3 * x + 8, 4);
        ids[x] = w0 & 0xFFFFFFu;
        ids[x + 1] = (w0 >> 24 | w1 << 8) & 0xFFFFFFu;
        ids[x + 2] = (w1 >> 16 | w2 << 16) & 0xFFFFFFu;
        ids[x + 3] = w2 >> 8;
    }
    for (; x < width; x++) { /* one 4-byte load per pixel, its fourth byte masked off */
        uint32_t word;
        memcpy(&word, rgb + 3 * x, 4);
        ids[x] = word & 0xFFFFFFu;
    }
#else
    for (x = 0; x < width; x++)
        ids[x] = (uint32_t)rgb[3 * x] | (uint32_t)rgb[3 * x + 1] << 8 | (uint32_t)rgb[3 * x + 2] << 16;
#endif
}

PyDoc_STRVAR(unfilter_rgb_ids_doc,
             "unfilter_rgb_ids(data, out, height, width) -> None\n\n"
             "Undo the PNG row filters of 8-bit RGB ``data`` (height rows of a filter byte and 3 * width\n"
             "bytes) into ``out`` (a writable C-contiguous buffer of height * width uint32), each pixel\n"
             "as R + 256 G + 65536 B. ValueError naming the row if a filter type is not 0-4.");

static PyObject *unfilter_rgb_ids(PyObject *self, PyObject *args)
{
    Py_buffer in, out;
    Py_ssize_t height, width, stride, y, bad_row = -1;
    int bad_kind = 0;
    uint8_t *rows = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*nn", &in, &out, &height, &width))
        return NULL;
    if (height < 0 || width < 1 || width > PY_SSIZE_T_MAX / 8) {
        PyErr_SetString(PyExc_ValueError, "unfilter_rgb_ids: height >= 0 and width >= 1 expected");
        goto fail;
    }
    stride = 3 * width;
    if (height > PY_SSIZE_T_MAX / (stride + 1) || in.len != height * (stride + 1) || out.len != height * width * 4) {
        PyErr_Format(PyExc_ValueError, "unfilter_rgb_ids: %zd rows of %zd pixels need %zd filtered and %zd output bytes, got %zd and %zd",
                     height, width, height * (stride + 1), height * width * 4, in.len, out.len);
        goto fail;
    }
    rows = malloc((size_t)(2 * stride + 1)); /* + 1: the last pixel is read as 4 bytes */
    if (rows == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    rows[2 * stride] = 0;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *src = (const uint8_t *)in.buf;
    uint32_t *ids = (uint32_t *)out.buf;
    uint8_t *current = rows, *above = rows + stride, *swap;
    for (y = 0; y < height; y++) {
        const uint8_t *row = src + y * (stride + 1);
        if (unfilter_row(current, row + 1, y ? above : NULL, row[0], stride, 3)) {
            bad_row = y;
            bad_kind = row[0];
            break;
        }
        pack_rgb(ids + y * width, current, width);
        swap = above;
        above = current;
        current = swap;
    }
    Py_END_ALLOW_THREADS
    free(rows);
    return release_both(&in, &out, row_accepted(bad_row, bad_kind));
fail:
    return release_both(&in, &out, 0);
}

/* The two buffers of 4-byte values (a, b) of a call and their length in values; -1 with the
 * error set and nothing held when they are not two buffers of one size. */
static Py_ssize_t two_maps(PyObject *args, Py_buffer *a, Py_buffer *b, const char *name)
{
    if (!PyArg_ParseTuple(args, "y*y*", a, b))
        return -1;
    if (a->len == b->len && a->len % 4 == 0)
        return a->len / 4;
    PyErr_Format(PyExc_ValueError, "%s: two buffers of as many 4-byte values expected, got %zd and %zd bytes", name,
                 a->len, b->len);
    PyBuffer_Release(a);
    PyBuffer_Release(b);
    return -1;
}

#define RUN_BLOCK 16

/* The first index from i on (i >= 1) where (p, q) differs from the pixel before, else size: blocks
 * of RUN_BLOCK pixels equal to the last one are skipped at once (vectorised compares). */
static inline Py_ssize_t next_change(const uint32_t *p, const uint32_t *q, Py_ssize_t i, Py_ssize_t size)
{
    for (; i + RUN_BLOCK <= size; i += RUN_BLOCK) {
        uint32_t change = 0, last_p = p[i - 1], last_q = q[i - 1];
        for (int k = 0; k < RUN_BLOCK; k++)
            change |= (p[i + k] ^ last_p) | (q[i + k] ^ last_q);
        if (change)
            break;
    }
    for (; i < size; i++)
        if (p[i] != p[i - 1] || q[i] != q[i - 1])
            return i;
    return size;
}

PyDoc_STRVAR(pair_run_starts_doc,
             "pair_run_starts(a, b) -> bytes\n\n"
             "Flat indices (native int64, increasing, 0 first) where a run of equal (a[i], b[i]) starts,\n"
             "``a`` and ``b`` being buffers of as many 4-byte values, compared bitwise (empty: no runs).");

static PyObject *pair_run_starts(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    PyObject *result = NULL;
    int64_t *starts = NULL;
    Py_ssize_t size, count = 0, capacity, i;
    int failed = 0;
    (void)self;
    size = two_maps(args, &a, &b, "pair_run_starts");
    if (size < 0)
        return NULL;
    capacity = size < 4096 ? size : 4096;
    if (size) {
        starts = malloc((size_t)capacity * sizeof(int64_t));
        if (starts == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    const uint32_t *p = (const uint32_t *)a.buf, *q = (const uint32_t *)b.buf;
    if (size) {
        starts[count++] = 0;
        for (i = next_change(p, q, 1, size); i < size; i = next_change(p, q, i + 1, size)) {
            if (count == capacity) {
                Py_ssize_t grown = capacity * 2 < size ? capacity * 2 : size;
                int64_t *more = realloc(starts, (size_t)grown * sizeof(int64_t));
                if (more == NULL) {
                    failed = 1;
                    break;
                }
                starts = more;
                capacity = grown;
            }
            starts[count++] = i;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed)
        PyErr_NoMemory();
    else
        result = PyBytes_FromStringAndSize((const char *)starts, count * (Py_ssize_t)sizeof(int64_t));
done:
    free(starts);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* Pixel counts of (a, b) pairs: an open-addressing table keyed by (a << 32 | b), grown at half full. */
typedef struct {
    uint64_t *keys;
    int64_t *counts;
    unsigned char *used;
    size_t capacity, size;
} PairTable;

static int table_init(PairTable *table, size_t capacity)
{
    table->keys = malloc(capacity * sizeof(uint64_t));
    table->counts = malloc(capacity * sizeof(int64_t));
    table->used = calloc(capacity, 1);
    table->capacity = capacity;
    table->size = 0;
    return table->keys && table->counts && table->used ? 0 : -1;
}

static void table_free(PairTable *table)
{
    free(table->keys);
    free(table->counts);
    free(table->used);
}

static inline size_t slot_of(uint64_t key, size_t capacity)
{
    key *= 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: the high bits are well mixed */
    return (size_t)(key >> 32) & (capacity - 1);
}

static int table_add(PairTable *table, uint64_t key, int64_t count)
{
    size_t slot = slot_of(key, table->capacity);
    while (table->used[slot]) {
        if (table->keys[slot] == key) {
            table->counts[slot] += count;
            return 0;
        }
        slot = (slot + 1) & (table->capacity - 1);
    }
    if (2 * (table->size + 1) > table->capacity) { /* grow, then insert into the new table */
        PairTable grown;
        if (table_init(&grown, 2 * table->capacity)) {
            table_free(&grown);
            return -1;
        }
        for (size_t i = 0; i < table->capacity; i++)
            if (table->used[i])
                table_add(&grown, table->keys[i], table->counts[i]);
        table_free(table);
        *table = grown;
        return table_add(table, key, count);
    }
    table->used[slot] = 1;
    table->keys[slot] = key;
    table->counts[slot] = count;
    table->size++;
    return 0;
}

static int compare_keys(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

#define FLAG_CHUNK 512

/* The runs of equal (a[i], b[i]) along n values added to the table, the run going on at the start
 * (*key, *length; length 0: none) continued and the one going on at the end left in them, so
 * rows can be fed one after another. Changes are flagged first, one byte per value in a loop the
 * compiler vectorises, then found 8 flags at a time: a run costs a few steps, not a branch per
 * value. -1 when out of memory. */
static int count_pair_runs(PairTable *table, const uint32_t *a, const uint32_t *b, Py_ssize_t n, uint64_t *key,
                           int64_t *length)
{
    uint8_t changed[FLAG_CHUNK + 8];
    Py_ssize_t base, count, i, end;
    for (base = 0; base < n; base += FLAG_CHUNK) {
        const uint32_t *p = a + base, *q = b + base;
        count = n - base < FLAG_CHUNK ? n - base : FLAG_CHUNK;
        changed[0] = *length == 0 || ((uint64_t)p[0] << 32 | q[0]) != *key;
        for (i = 1; i < count; i++)
            changed[i] = (uint8_t)((p[i] != p[i - 1]) | (q[i] != q[i - 1]));
        memset(changed + count, 1, 8); /* a change just past the chunk ends every search below */
        for (i = 0; i < count; i = end) {
            uint64_t word;
            for (end = i + 1;; end += 8) {
                memcpy(&word, changed + end, 8);
                if (word)
                    break;
            }
            while (!changed[end])
                end++;
            if (changed[i]) { /* a new run: the one before is complete */
                if (*length && table_add(table, *key, *length))
                    return -1;
                *key = (uint64_t)p[i] << 32 | q[i];
                *length = 0;
            }
            *length += end - i;
        }
    }
    return 0;
}

/* Every key of the table in increasing order, malloc'ed (NULL when out of memory); runs without
 * the GIL. */
static uint64_t *sorted_keys(const PairTable *table)
{
    uint64_t *sorted = malloc((table->size ? table->size : 1) * sizeof(uint64_t));
    size_t n = 0;
    if (sorted == NULL)
        return NULL;
    for (size_t slot = 0; slot < table->capacity; slot++)
        if (table->used[slot])
            sorted[n++] = table->keys[slot];
    qsort(sorted, n, sizeof(uint64_t), compare_keys);
    return sorted;
}

/* (keys, counts) of pair_counts' answer: the sorted keys and each one's count, as bytes. */
static PyObject *counts_result(const PairTable *table, const uint64_t *sorted)
{
    PyObject *keys, *counts, *result = NULL;
    keys = PyBytes_FromStringAndSize((const char *)sorted, (Py_ssize_t)(table->size * sizeof(uint64_t)));
    counts = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(table->size * sizeof(int64_t)));
    if (keys != NULL && counts != NULL) {
        int64_t *out = (int64_t *)PyBytes_AS_STRING(counts);
        for (size_t n = 0; n < table->size; n++) { /* each sorted key's count, looked up again */
            size_t slot = slot_of(sorted[n], table->capacity);
            while (table->keys[slot] != sorted[n] || !table->used[slot])
                slot = (slot + 1) & (table->capacity - 1);
            out[n] = table->counts[slot];
        }
        result = PyTuple_Pack(2, keys, counts);
    }
    Py_XDECREF(keys);
    Py_XDECREF(counts);
    return result;
}

PyDoc_STRVAR(pair_counts_doc,
             "pair_counts(a, b) -> (keys, counts)\n\n"
             "Every distinct pair of ``a[i]`` and ``b[i]`` (buffers of as many uint32) and its pixel count:\n"
             "``keys`` holds native uint64 ``a << 32 | b`` in increasing order, ``counts`` native int64.\n"
             "What ``np.unique`` of the packed pairs gives, in one pass over runs of equal pairs.");

static PyObject *pair_counts(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    PyObject *result = NULL;
    PairTable table = {NULL, NULL, NULL, 0, 0};
    uint64_t *sorted = NULL;
    Py_ssize_t size;
    int failed = 0;
    (void)self;
    size = two_maps(args, &a, &b, "pair_counts");
    if (size < 0)
        return NULL;
    if (table_init(&table, 1024)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    uint64_t run_key = 0;
    int64_t run_length = 0;
    failed = count_pair_runs(&table, (const uint32_t *)a.buf, (const uint32_t *)b.buf, size, &run_key, &run_length);
    if (!failed && run_length)
        failed = table_add(&table, run_key, run_length) != 0;
    if (!failed) {
        sorted = sorted_keys(&table);
        failed = sorted == NULL;
    }
    Py_END_ALLOW_THREADS
    if (failed)
        PyErr_NoMemory();
    else
        result = counts_result(&table, sorted);
done:
    free(sorted);
    table_free(&table);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* A run of equal (a, b) pairs within a row. */
typedef struct {
    uint64_t key;
    int64_t length;
} PairRun;

/* The index of the first non-zero byte of 8 bytes read from memory into a non-zero word. */
static inline Py_ssize_t first_set_byte(uint64_t word)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_ctzll(word) >> 3;
#else
    unsigned char bytes[8];
    Py_ssize_t k = 0;
    memcpy(bytes, &word, 8);
    while (!bytes[k])
        k++;
    return k;
#endif
}

/* The runs of equal (a, b) pixels along one row of two 8-bit RGB rows of width >= 1 pixels into
 * runs (room for width), keys as pair_counts' (R + 256 G + 65536 B of each); their count. No ids
 * are packed: each byte is compared with the same channel's byte a pixel before, in both rows at
 * once (a loop the compiler vectorises), into changed (room for 3 * width + 32 bytes), and the
 * changes are found 32 bytes at a time; only a run's first pixel is read as its key. */
static Py_ssize_t row_pair_runs(const uint8_t *restrict a, const uint8_t *restrict b, Py_ssize_t width,
                                uint8_t *restrict changed, PairRun *restrict runs)
{
    Py_ssize_t stride = 3 * width, j, start = 0, found = 0;
    changed[0] = changed[1] = changed[2] = 1;
    for (j = 3; j < stride; j++)
        changed[j] = (uint8_t)((a[j] != a[j - 3]) | (b[j] != b[j - 3]));
    memset(changed + stride, 1, 32); /* a change just past the row ends the last search */
    for (;;) {
        const uint8_t *p = a + 3 * start, *q = b + 3 * start;
        uint64_t w0, w1, w2, w3;
        runs[found].key = ((uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16) << 32 |
                          ((uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16);
        for (j = 3 * start + 3;; j += 32) { /* the next pixel with a changed byte: 32 flags at a time, */
            memcpy(&w0, changed + j, 8);
            memcpy(&w1, changed + j + 8, 8);
            memcpy(&w2, changed + j + 16, 8);
            memcpy(&w3, changed + j + 24, 8);
            if (w0 | w1 | w2 | w3)
                break;
        }
        for (;; j += 8) { /* then 8 */
            memcpy(&w0, changed + j, 8);
            if (w0)
                break;
        }
        j += first_set_byte(w0);
        if (j >= stride) {
            runs[found++].length = width - start;
            return found;
        }
        runs[found++].length = j / 3 - start;
        start = j / 3;
    }
}

/* An Up row (not the first) undone into out; whether its n filtered bytes were all 0, i.e. the
 * row repeats the one above (one pass, a loop the compiler vectorises; label maps repeat many rows). */
static int up_row_repeats(uint8_t *restrict out, const uint8_t *restrict in, const uint8_t *restrict up, Py_ssize_t n)
{
    uint8_t any = 0;
    Py_ssize_t x;
    for (x = 0; x < n; x++) {
        any |= in[x];
        out[x] = (uint8_t)(in[x] + up[x]);
    }
    return any == 0;
}

PyDoc_STRVAR(pair_counts_rgb_doc,
             "pair_counts_rgb(a, b, height, width) -> (keys, counts)\n\n"
             "``pair_counts`` of the panoptic id maps of two 8-bit RGB PNGs, from their inflated image\n"
             "data ``a`` and ``b`` (height rows of a filter byte and 3 * width bytes each) without the\n"
             "maps: both are unfiltered row by row and each row's runs of equal pairs counted at once\n"
             "(ids R + 256 G + 65536 B). ValueError naming the data (a or b) and the row if a filter type\n"
             "is not 0-4.");

/* A row of a map that repeats the one above (an Up row of zeros) is neither unfiltered nor packed
 * again, and where both maps repeat their rows the pair row's runs are the last row's: they are
 * added to the table once, times the rows that repeat them. */
static PyObject *pair_counts_rgb(PyObject *self, PyObject *args)
{
    Py_buffer a, b;
    Py_ssize_t height, width, stride, y, bad_row = -1, n_runs = 0, k;
    int bad_kind = 0, failed = 0;
    const char *bad_data = "a";
    uint8_t *rows = NULL;
    uint64_t *sorted = NULL;
    PairRun *runs = NULL;
    PairTable table = {NULL, NULL, NULL, 0, 0};
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*nn", &a, &b, &height, &width))
        return NULL;
    if (height < 1 || width < 1 || width > PY_SSIZE_T_MAX / 16) {
        PyErr_SetString(PyExc_ValueError, "pair_counts_rgb: height >= 1 and width >= 1 expected");
        goto done;
    }
    stride = 3 * width;
    if (height > PY_SSIZE_T_MAX / (stride + 1) || a.len != height * (stride + 1) || b.len != a.len) {
        PyErr_Format(PyExc_ValueError, "pair_counts_rgb: %zd rows of %zd pixels need %zd filtered bytes each, got %zd and %zd",
                     height, width, height * (stride + 1), a.len, b.len);
        goto done;
    }
    /* two row buffers per map, then the change flags of a row */
    rows = malloc((size_t)(5 * stride + 32));
    runs = malloc((size_t)width * sizeof(PairRun));
    if (rows == NULL || runs == NULL || table_init(&table, 1024)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *src_a = (const uint8_t *)a.buf, *src_b = (const uint8_t *)b.buf;
    uint8_t *current_a = rows, *above_a = rows + stride, *current_b = rows + 2 * stride,
            *above_b = current_b + stride, *changed = rows + 4 * stride, *swap;
    int64_t repeat = 0; /* the rows whose pair runs are runs[0 .. n_runs) */
    for (y = 0; y < height && !failed; y++) {
        const uint8_t *row_a = src_a + y * (stride + 1), *row_b = src_b + y * (stride + 1);
        int same_a = 0, same_b = 0;
        if (y && row_a[0] == 2)
            same_a = up_row_repeats(current_a, row_a + 1, above_a, stride);
        else if (unfilter_row(current_a, row_a + 1, y ? above_a : NULL, row_a[0], stride, 3)) {
            bad_row = y;
            bad_kind = row_a[0];
            break;
        }
        if (y && row_b[0] == 2)
            same_b = up_row_repeats(current_b, row_b + 1, above_b, stride);
        else if (unfilter_row(current_b, row_b + 1, y ? above_b : NULL, row_b[0], stride, 3)) {
            bad_data = "b";
            bad_row = y;
            bad_kind = row_b[0];
            break;
        }
        if (!same_a) { /* the row just made is the one above the next */
            swap = above_a;
            above_a = current_a;
            current_a = swap;
        }
        if (!same_b) {
            swap = above_b;
            above_b = current_b;
            current_b = swap;
        }
        if (same_a && same_b) {
            repeat++;
            continue;
        }
        for (k = 0; k < n_runs && !failed; k++)
            failed = table_add(&table, runs[k].key, runs[k].length * repeat) != 0;
        n_runs = row_pair_runs(above_a, above_b, width, changed, runs); /* the rows just made */
        repeat = 1;
    }
    for (k = 0; k < n_runs && !failed && bad_row < 0; k++)
        failed = table_add(&table, runs[k].key, runs[k].length * repeat) != 0;
    if (bad_row < 0 && !failed) {
        sorted = sorted_keys(&table);
        failed = sorted == NULL;
    }
    Py_END_ALLOW_THREADS
    if (bad_row >= 0)
        PyErr_Format(PyExc_ValueError, "%s: row %zd has unknown filter type %d", bad_data, bad_row, bad_kind);
    else if (failed)
        PyErr_NoMemory();
    else
        result = counts_result(&table, sorted);
done:
    free(rows);
    free(runs);
    free(sorted);
    table_free(&table);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

/* ---- The chunks of a plain 8-bit RGB PNG (io/png.py's png_chunks + _plain_layout, for eval's pairs) ---- */

static uint32_t crc_table[8][256];

/* CRC-32's tables (slicing by 8), made once at import. */
static void crc_tables_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xFF];
}

/* The CRC-32 of the PNG specification (zlib's crc32) of n bytes. */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t low = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_table[7][low & 0xFF] ^ crc_table[6][(low >> 8) & 0xFF] ^ crc_table[5][(low >> 16) & 0xFF] ^
            crc_table[4][low >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    }
    while (n--)
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static uint32_t big_endian_32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Chunks that leave the samples as stored (io/png_unfilter.py's PLAIN_CHUNKS). */
static int plain_chunk(const uint8_t *kind)
{
    static const char *const plain[] = {"IHDR", "IDAT", "IEND", "tEXt", "zTXt", "iTXt", "tIME", "pHYs"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (memcmp(kind, plain[i], 4) == 0)
            return 1;
    return 0;
}

/* Where the IDAT bodies of PNG bytes lie, when the file is a plain 8-bit RGB PNG with every chunk
 * whole and its CRC right: the IHDR first and once (13 bytes: non-zero size, 8-bit RGB,
 * compression, filter and interlace 0), only plain chunks, one run of IDATs, IEND. The IDATs'
 * (offset, length) go to idat (room for n_max); their count, or 0 for anything else. */
static Py_ssize_t plain_rgb_chunks(const uint8_t *data, size_t size, uint32_t *width, uint32_t *height,
                                   size_t (*idat)[2], Py_ssize_t n_max)
{
    static const uint8_t signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    size_t offset = 8;
    Py_ssize_t n_idat = 0, chunk = 0;
    int idat_run_over = 0;
    if (size < 8 || memcmp(data, signature, 8) != 0)
        return 0;
    for (;; chunk++) {
        const uint8_t *kind, *body;
        uint32_t length;
        if (size - offset < 12)
            return 0;
        length = big_endian_32(data + offset);
        kind = data + offset + 4;
        body = kind + 4;
        if (length > size - offset - 12 || crc32_of(kind, (size_t)length + 4) != big_endian_32(body + length))
            return 0;
        if (!plain_chunk(kind) || (chunk == 0) != (memcmp(kind, "IHDR", 4) == 0))
            return 0;
        if (chunk == 0) {
            if (length != 13 || body[8] != 8 || body[9] != 2 || body[10] || body[11] || body[12])
                return 0;
            *width = big_endian_32(body);
            *height = big_endian_32(body + 4);
            if (*width == 0 || *height == 0)
                return 0;
        }
        if (memcmp(kind, "IDAT", 4) == 0) {
            if (idat_run_over || n_idat == n_max)
                return 0;
            idat[n_idat][0] = (size_t)(body - data);
            idat[n_idat++][1] = length;
        } else if (n_idat) {
            idat_run_over = 1;
        }
        offset += (size_t)length + 12;
        if (memcmp(kind, "IEND", 4) == 0)
            return n_idat;
    }
}

#define IDAT_MAX 4096

PyDoc_STRVAR(plain_rgb_png_doc,
             "plain_rgb_png(data) -> (height, width, idat) | None\n\n"
             "The size and joined IDAT bodies of PNG bytes that are a plain 8-bit RGB PNG: every chunk\n"
             "whole with its CRC right up to IEND, the IHDR first and once (13 bytes, a non-zero size,\n"
             "8-bit RGB, not interlaced, compression and filter method 0), only chunks that leave the\n"
             "samples as stored, one run of IDATs. None for anything else (io/png.py then reads the file\n"
             "and names any problem). The GIL is released while the chunks are walked.");

static PyObject *plain_rgb_png(PyObject *self, PyObject *args)
{
    Py_buffer data;
    size_t(*idat)[2];
    Py_ssize_t n_idat, k;
    uint32_t width = 0, height = 0;
    size_t total = 0;
    PyObject *joined, *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    idat = malloc(IDAT_MAX * sizeof *idat);
    if (idat == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    n_idat = plain_rgb_chunks((const uint8_t *)data.buf, (size_t)data.len, &width, &height, idat, IDAT_MAX);
    Py_END_ALLOW_THREADS
    if (n_idat == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    for (k = 0; k < n_idat; k++)
        total += idat[k][1];
    joined = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (joined == NULL)
        goto done;
    total = 0;
    for (k = 0; k < n_idat; k++) {
        memcpy(PyBytes_AS_STRING(joined) + total, (const char *)data.buf + idat[k][0], idat[k][1]);
        total += idat[k][1];
    }
    result = Py_BuildValue("(kkN)", (unsigned long)height, (unsigned long)width, joined);
done:
    free(idat);
    PyBuffer_Release(&data);
    return result;
}

/* The module's other sources: one extension, one method table (setup.py lists the files). */
PyObject *pq_match(PyObject *self, PyObject *args);
extern const char pq_match_doc[];
PyObject *sam_norm_gelu(PyObject *self, PyObject *args);
extern const char sam_norm_gelu_doc[];
PyObject *sam_gelu_logits(PyObject *self, PyObject *args);
extern const char sam_gelu_logits_doc[];
PyObject *sam_softmax_rows(PyObject *self, PyObject *args);
extern const char sam_softmax_rows_doc[];
PyObject *sam_softmax_columns(PyObject *self, PyObject *args);
extern const char sam_softmax_columns_doc[];

static PyMethodDef methods[] = {
    {"unfilter", unfilter, METH_VARARGS, unfilter_doc},
    {"unfilter_rgb_ids", unfilter_rgb_ids, METH_VARARGS, unfilter_rgb_ids_doc},
    {"pair_counts", pair_counts, METH_VARARGS, pair_counts_doc},
    {"pair_counts_rgb", pair_counts_rgb, METH_VARARGS, pair_counts_rgb_doc},
    {"pair_run_starts", pair_run_starts, METH_VARARGS, pair_run_starts_doc},
    {"pq_match", pq_match, METH_VARARGS, pq_match_doc},
    {"plain_rgb_png", plain_rgb_png, METH_VARARGS, plain_rgb_png_doc},
    {"sam_norm_gelu", sam_norm_gelu, METH_VARARGS, sam_norm_gelu_doc},
    {"sam_gelu_logits", sam_gelu_logits, METH_VARARGS, sam_gelu_logits_doc},
    {"sam_softmax_rows", sam_softmax_rows, METH_VARARGS, sam_softmax_rows_doc},
    {"sam_softmax_columns", sam_softmax_columns, METH_VARARGS, sam_softmax_columns_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "pixels", "Compiled PNG unfiltering and run finding (optional; see segstudio._native).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_pixels(void)
{
    crc_tables_init();
    return PyModule_Create(&module);
}
