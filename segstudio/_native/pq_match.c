/* PQ's matching of one image, compiled: part of segstudio._native.pixels (the module and its
 * method table are in pixels.c). core/pq.py's pq_of_overlaps stays the reference and takes anything
 * but plain input; tests/core/test_pq_match.py holds the two equal. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- PQ matching of one image (core/pq.py's pq_of_overlaps + match_segments, panopticapi's rules) ---- */

/* A segments_info entry as the matching needs it. */
typedef struct {
    long long id, category, area; /* area: the ground truth's JSON area (its pixels where absent) */
    int64_t pixels;                /* its pixels in the image: the sum of its pairs */
    int crowd, matched, has_area;
} Segment;

/* A segment's id and its index in segments_info, for lookups by id. */
typedef struct {
    long long id;
    Py_ssize_t index;
} SegmentKey;

/* Per-category sums of one image, in the order categories are first touched. */
typedef struct {
    long long category;
    double iou;
    long long tp, fp, fn;
} CategorySums;

typedef struct {
    Segment *gt, *pred;
    Py_ssize_t n_gt, n_pred;
    SegmentKey *gt_order, *pred_order; /* (id, index) sorted by id, for lookups */
    CategorySums *sums;
    Py_ssize_t n_sums;
} Matching;

static void matching_free(Matching *m)
{
    free(m->gt);
    free(m->pred);
    free(m->gt_order);
    free(m->pred_order);
    free(m->sums);
}

/* The value of an exact int (not bool) field, or -1 with *plain = 0 when absent, of another type
 * or out of range (the caller then leaves the image to the Python path). */
static long long plain_int(PyObject *value, int *plain)
{
    long long result;
    int overflow = 0;
    if (value == NULL || !PyLong_CheckExact(value)) {
        *plain = 0;
        return -1;
    }
    result = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (result == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        *plain = 0;
        return -1;
    }
    return result;
}

static int compare_segment_ids(const void *x, const void *y)
{
    long long a = ((const SegmentKey *)x)->id, b = ((const SegmentKey *)y)->id;
    return (a > b) - (a < b);
}

/* The entries of a segments_info list read into *segments (sorted index in *order): 1, or 0 when
 * it is not plain (not a list of dicts with exact int ids in 1..2^24-1, categories, iscrowd and
 * area, or an id listed twice); -1 when out of memory. Only the ground truth's iscrowd and area are
 * read, as the matching reads them. */
static int read_segments(PyObject *list, int ground_truth, Segment **segments, SegmentKey **order, Py_ssize_t *count)
{
    Py_ssize_t n, i;
    int plain = 1;
    if (!PyList_CheckExact(list))
        return 0;
    n = PyList_GET_SIZE(list);
    *segments = malloc((size_t)(n ? n : 1) * sizeof(Segment));
    *order = malloc((size_t)(n ? n : 1) * sizeof(SegmentKey));
    if (*segments == NULL || *order == NULL)
        return -1;
    *count = n;
    for (i = 0; i < n && plain; i++) {
        PyObject *entry = PyList_GET_ITEM(list, i);
        Segment *s = *segments + i;
        if (!PyDict_CheckExact(entry))
            return 0;
        s->id = plain_int(PyDict_GetItemString(entry, "id"), &plain);
        s->category = plain_int(PyDict_GetItemString(entry, "category_id"), &plain);
        s->pixels = 0;
        s->matched = 0;
        s->crowd = 0;
        s->has_area = 0;
        s->area = 0;
        if (plain && (s->id < 1 || s->id >= 1 << 24))
            return 0; /* id 0 (void) or out of range: the Python path's error */
        if (ground_truth) {
            PyObject *crowd = PyDict_GetItemString(entry, "iscrowd"), *area = PyDict_GetItemString(entry, "area");
            if (crowd != NULL)
                s->crowd = (PyBool_Check(crowd) ? crowd == Py_True : plain_int(crowd, &plain) == 1);
            if (area != NULL) {
                s->area = plain_int(area, &plain);
                s->has_area = 1;
            }
        }
        (*order)[i].id = s->id;
        (*order)[i].index = i;
    }
    if (!plain)
        return 0;
    qsort(*order, (size_t)n, sizeof(SegmentKey), compare_segment_ids);
    for (i = 1; i < n; i++)
        if ((*order)[i].id == (*order)[i - 1].id)
            return 0; /* listed twice: the Python path's error */
    return 1;
}

/* The segment of id, or NULL. */
static Segment *find_segment(Segment *segments, const SegmentKey *order, Py_ssize_t n, long long id)
{
    Py_ssize_t low = 0, high = n;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        long long found = order[middle].id;
        if (found == id)
            return segments + order[middle].index;
        if (found < id)
            low = middle + 1;
        else
            high = middle;
    }
    return NULL;
}

/* The pixels of pair key (gt << 32 | pred) in the sorted keys, 0 when absent. */
static int64_t overlap_of(const uint64_t *keys, const int64_t *counts, Py_ssize_t n, uint64_t key)
{
    Py_ssize_t low = 0, high = n;
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if (keys[middle] == key)
            return counts[middle];
        if (keys[middle] < key)
            low = middle + 1;
        else
            high = middle;
    }
    return 0;
}

/* The image's sums of category (added when first touched); NULL when out of memory. */
static CategorySums *sums_of(Matching *m, long long category)
{
    Py_ssize_t i;
    CategorySums *grown;
    for (i = m->n_sums - 1; i >= 0; i--)
        if (m->sums[i].category == category)
            return m->sums + i;
    grown = realloc(m->sums, (size_t)(m->n_sums + 1) * sizeof(CategorySums));
    if (grown == NULL)
        return NULL;
    m->sums = grown;
    grown += m->n_sums++;
    grown->category = category;
    grown->iou = 0.0;
    grown->tp = grown->fp = grown->fn = 0;
    return grown;
}

/* The matching of one image on plain input: 1 done, 0 not plain (the Python path decides and
 * names any problem), -1 out of memory. */
static int match_image(Matching *m, const uint64_t *keys, const int64_t *counts, Py_ssize_t n, PyObject *categories)
{
    Py_ssize_t k, i;
    for (k = 0; k < n; k++) { /* each id's pixels: the sums of its pairs */
        long long gt_id = (long long)(keys[k] >> 32), pred_id = (long long)(keys[k] & 0xFFFFFFFFu);
        Segment *gt, *pred;
        if (gt_id >= 1 << 24 || pred_id >= 1 << 24)
            return 0; /* ids outside 24 bits: the Python path's error */
        gt = find_segment(m->gt, m->gt_order, m->n_gt, gt_id);
        if (gt != NULL)
            gt->pixels += counts[k];
        pred = find_segment(m->pred, m->pred_order, m->n_pred, pred_id);
        if (pred != NULL)
            pred->pixels += counts[k];
        else if (pred_id != 0)
            return 0; /* in the PNG, not in segments_info */
    }
    for (i = 0; i < m->n_pred; i++) {
        PyObject *category;
        int known;
        if (m->pred[i].pixels == 0)
            return 0; /* in segments_info, not in the PNG */
        category = PyLong_FromLongLong(m->pred[i].category);
        if (category == NULL)
            return -1;
        known = PySequence_Contains(categories, category);
        Py_DECREF(category);
        if (known != 1) {
            PyErr_Clear();
            return 0; /* an unknown category (or a container that fails) */
        }
    }
    for (i = 0; i < m->n_gt; i++) {
        Segment *s = m->gt + i;
        if (!s->has_area)
            s->area = s->pixels;
        else if (s->area != s->pixels)
            return 0; /* the Python path warns about it */
    }
    for (k = 0; k < n; k++) { /* true positives, in (gt, pred) order as the API's dict */
        Segment *gt = find_segment(m->gt, m->gt_order, m->n_gt, (long long)(keys[k] >> 32));
        Segment *pred = find_segment(m->pred, m->pred_order, m->n_pred, (long long)(keys[k] & 0xFFFFFFFFu));
        int64_t union_pixels;
        double iou;
        if (gt == NULL || pred == NULL || gt->crowd || gt->category != pred->category)
            continue;
        union_pixels = pred->pixels + gt->area - counts[k] - overlap_of(keys, counts, n, (uint64_t)pred->id);
        iou = (double)counts[k] / (double)union_pixels;
        if (iou > 0.5) {
            CategorySums *sums = sums_of(m, gt->category);
            if (sums == NULL)
                return -1;
            sums->tp++;
            sums->iou += iou;
            gt->matched = pred->matched = 1;
        }
    }
    for (i = 0; i < m->n_gt; i++) { /* false negatives; the last crowd segment of each category noted */
        Segment *s = m->gt + i;
        CategorySums *sums;
        if (s->matched || s->crowd)
            continue;
        sums = sums_of(m, s->category);
        if (sums == NULL)
            return -1;
        sums->fn++;
    }
    for (i = 0; i < m->n_pred; i++) { /* false positives, unless mostly on void and crowd */
        Segment *s = m->pred + i, *crowd = NULL;
        int64_t ignored;
        Py_ssize_t j;
        CategorySums *sums;
        if (s->matched)
            continue;
        for (j = m->n_gt - 1; j >= 0 && crowd == NULL; j--)
            if (!m->gt[j].matched && m->gt[j].crowd && m->gt[j].category == s->category)
                crowd = m->gt + j;
        ignored = overlap_of(keys, counts, n, (uint64_t)s->id);
        if (crowd != NULL)
            ignored += overlap_of(keys, counts, n, (uint64_t)crowd->id << 32 | (uint64_t)s->id);
        if ((double)ignored / (double)s->pixels > 0.5)
            continue;
        sums = sums_of(m, s->category);
        if (sums == NULL)
            return -1;
        sums->fp++;
    }
    return 1;
}

/* [(category, iou, tp, fp, fn), ...] of the image's sums. */
static PyObject *sums_result(const Matching *m)
{
    PyObject *result = PyList_New(m->n_sums);
    Py_ssize_t i;
    if (result == NULL)
        return NULL;
    for (i = 0; i < m->n_sums; i++) {
        const CategorySums *s = m->sums + i;
        PyObject *row = Py_BuildValue("(LdLLL)", s->category, s->iou, s->tp, s->fp, s->fn);
        if (row == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyList_SET_ITEM(result, i, row);
    }
    return result;
}

const char pq_match_doc[] = PyDoc_STR(
             "pq_match(keys, counts, gt_segments, pred_segments, categories) -> list | None\n\n"
             "PQ's matching of one image (core.pq.pq_of_overlaps) from its pair counts (pair_counts'\n"
             "answer: native uint64 keys gt << 32 | pred, increasing, and int64 counts) and both sides'\n"
             "segments_info lists: [(category, iou, tp, fp, fn), ...] per category touched. None where the\n"
             "input is not plain (fields not exact ints, ids out of range or listed twice, ids in one of\n"
             "PNG and JSON only, an unknown predicted category, a ground-truth area that is not its pixel\n"
             "count): the Python path then scores the image or names the problem.");

PyObject *pq_match(PyObject *self, PyObject *args)
{
    Py_buffer keys, counts;
    PyObject *gt_segments, *pred_segments, *categories, *result = NULL;
    Matching m = {NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
    Py_ssize_t n;
    int state;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*OOO", &keys, &counts, &gt_segments, &pred_segments, &categories))
        return NULL;
    if (keys.len % 8 || counts.len != keys.len) {
        PyErr_Format(PyExc_ValueError, "pq_match: as many 8-byte keys and counts expected, got %zd and %zd bytes",
                     keys.len, counts.len);
        goto done;
    }
    n = keys.len / 8;
    state = read_segments(gt_segments, 1, &m.gt, &m.gt_order, &m.n_gt);
    if (state == 1)
        state = read_segments(pred_segments, 0, &m.pred, &m.pred_order, &m.n_pred);
    if (state == 1)
        state = match_image(&m, (const uint64_t *)keys.buf, (const int64_t *)counts.buf, n, categories);
    if (state < 0)
        PyErr_NoMemory();
    else if (state == 0)
        result = Py_NewRef(Py_None);
    else
        result = sums_result(&m);
done:
    matching_free(&m);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&counts);
    return result;
}
