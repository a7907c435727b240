/*
 * himitsu.engine._match: the per-seed work of the registered-secret detector in C.
 *
 * Three functions compute exactly what their numpy references in
 * himitsu.engine.detectors.registered_secret do (see that module for the method):
 *
 *   verify(ctx, around, neighbours, out)                      ~ verified()
 *   promising(ctx, keep, span, reach, run, drift, short, out)  ~ promising()
 *   runs(ctx, keep, focus, wanted, reach, run, gap, drift)     ~ the runs that passages() joins
 *
 * ctx is a tuple (query, tables, seeds):
 *
 *   query  = (key, rolling, signature, known): the checked text's 16-byte PRF key, the rolling hash of
 *            each of its k-grams (uint64) and the probe's lazily filled signature cache (uint8 values,
 *            and 1-byte flags saying which are computed). A signature value is the top 2 bits of
 *            SipHash-2-4(key, rolling); it is computed here, where needed, and stored in the cache.
 *   tables = one (sigs, sig_offsets, sig_lengths) per index segment: the packed signatures (uint8, four
 *            2-bit values a byte, first value lowest) and, per document row, the byte offset of its
 *            signature and its number of values (int64).
 *   seeds  = (docs, query_positions, doc_positions, segments, rows, lengths), int64, one entry per seed,
 *            sorted by document and then query position (as index.LookupResult.seeds are).
 *
 * Two more serve the index lookup (himitsu.engine.index): prefix_table(keys, shift, out) builds a segment's
 * table of bucket starts over its sorted uint32 keys, key_ranges(keys, table, shift, unique, lo, hi) finds
 * each probe key's range through it (np.searchsorted's results); and gather() joins the postings found with
 * the query positions.
 *
 * Document signatures are read in their packed form, in place; the text's values are packed the same way (32 to a
 * 64-bit word) as they are first needed, so that 32 k-grams are compared with one XOR. Every document
 * signature is checked to lie inside its segment's sigs before it is read, and every position is checked
 * against the document's and the text's number of k-grams, so malformed input raises ValueError instead
 * of reading out of range.
 *
 * CPython C API only (no numpy C API): the arrays come in through the buffer protocol.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_siphash24.h"

#define SIGNATURE_SHIFT 62 /* 64 - SIGNATURE_BITS */
#define MAX_POSITION ((int64_t)1 << 40)

typedef struct {
    uint64_t k0, k1;
    const uint64_t *rolling;
    uint8_t *sig;
    uint8_t *known;
    int64_t n;
    uint64_t *pack;    /* the values packed 32 to a word (2 bits each, first lowest), filled where needed */
    uint8_t *pack_ok;  /* which words of pack are filled */
} Query;

typedef struct {
    const uint8_t *sigs;
    int64_t sigs_len;
    const int64_t *offsets;
    const int64_t *lengths;
    int64_t rows;
} Table;

typedef struct {
    const int64_t *docs, *q, *d, *segments, *rows, *lengths;
    int64_t n;
} Seeds;

typedef struct {
    Py_buffer *views;
    Py_ssize_t count, cap;
    Query query;
    Table *tables;
    Py_ssize_t ntables;
    Seeds seeds;
} Ctx;

typedef struct {
    const uint8_t *base;
    int64_t kgrams;
    int64_t bytes; /* bytes of base that may be read: the signature's own */
} DocSig;

/* -- buffers ---------------------------------------------------------------------------------- */

enum kind { KIND_I64, KIND_U64, KIND_U32, KIND_U16, KIND_BYTE };

static int
format_ok(const Py_buffer *v, enum kind kind)
{
    const char *f = v->format == NULL ? "B" : v->format;
    if (*f == '@' || *f == '=' || *f == '|'
#if PY_LITTLE_ENDIAN
        || *f == '<'
#endif
    ) {
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0') {
        return 0;
    }
    switch (kind) {
    case KIND_I64:
        return v->itemsize == 8 && (f[0] == 'q' || f[0] == 'l');
    case KIND_U64:
        return v->itemsize == 8 && (f[0] == 'Q' || f[0] == 'L');
    case KIND_U32:
        return v->itemsize == 4 && f[0] == 'I';
    case KIND_U16:
        return v->itemsize == 2 && f[0] == 'H';
    default:
        return v->itemsize == 1 && (f[0] == 'B' || f[0] == 'b' || f[0] == '?' || f[0] == 'c');
    }
}

/* A C-contiguous array of the given kind (and of n items unless n < 0), held until ctx_release. */
static void *
get_array(Ctx *c, PyObject *obj, const char *name, enum kind kind, int writable, int64_t n, int64_t *len)
{
    Py_buffer *v;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);

    if (c->count >= c->cap) {
        PyErr_SetString(PyExc_SystemError, "_match: too many buffers");
        return NULL;
    }
    v = &c->views[c->count];
    if (PyObject_GetBuffer(obj, v, flags) < 0) {
        return NULL;
    }
    c->count++;
    if (!format_ok(v, kind)) {
        PyErr_Format(PyExc_TypeError, "%s: wrong item type (format '%s', %zd-byte items)", name,
                     v->format == NULL ? "B" : v->format, v->itemsize);
        return NULL;
    }
    if (n >= 0 && v->len / v->itemsize != n) {
        PyErr_Format(PyExc_ValueError, "%s: %zd items, expected %lld", name, v->len / v->itemsize, (long long)n);
        return NULL;
    }
    if (len != NULL) {
        *len = (int64_t)(v->len / v->itemsize);
    }
    return v->buf;
}

/* A segment's column of document rows or positions: 16-bit or 32-bit unsigned integers (the index stores a
   segment's column in 16 bits when all of its values fit). */
typedef struct {
    const uint16_t *u16;
    const uint32_t *u32;
} Column;

#define COLUMN_AT(col, i) ((col).u16 != NULL ? (int64_t)(col).u16[i] : (int64_t)(col).u32[i])

static int
get_column(Ctx *c, PyObject *obj, const char *name, int64_t n, int64_t *len, Column *out)
{
    PyObject *size_obj = PyObject_GetAttrString(obj, "itemsize");
    long itemsize;
    if (size_obj == NULL) {
        return -1;
    }
    itemsize = PyLong_AsLong(size_obj);
    Py_DECREF(size_obj);
    if (itemsize == -1 && PyErr_Occurred()) {
        return -1;
    }
    out->u16 = NULL;
    out->u32 = NULL;
    if (itemsize == 2) {
        out->u16 = get_array(c, obj, name, KIND_U16, 0, n, len);
        return out->u16 == NULL ? -1 : 0;
    }
    out->u32 = get_array(c, obj, name, KIND_U32, 0, n, len);
    return out->u32 == NULL ? -1 : 0;
}

static void
ctx_release(Ctx *c)
{
    Py_ssize_t i;
    for (i = 0; i < c->count; i++) {
        PyBuffer_Release(&c->views[i]);
    }
    PyMem_Free(c->views);
    PyMem_Free(c->tables);
    PyMem_Free(c->query.pack);
    PyMem_Free(c->query.pack_ok);
    c->views = NULL;
    c->tables = NULL;
    c->query.pack = NULL;
    c->query.pack_ok = NULL;
    c->count = 0;
}

static uint64_t
load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24) |
           ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static int
tuple_of(PyObject *obj, Py_ssize_t n, const char *name)
{
    if (!PyTuple_Check(obj) || (n >= 0 && PyTuple_GET_SIZE(obj) != n)) {
        PyErr_Format(PyExc_TypeError, "%s must be a tuple of %zd items", name, n);
        return 0;
    }
    return 1;
}

/* Parse ctx = (query, tables, seeds) into c; 0, or -1 with an exception set (call ctx_release anyway). */
static int
ctx_parse(Ctx *c, PyObject *ctx)
{
    PyObject *query, *tables, *seeds;
    const unsigned char *key;
    int64_t key_len, n, i, prev_doc = 0, prev_q = 0;
    Py_ssize_t g;

    memset(c, 0, sizeof(*c));
    if (!tuple_of(ctx, 3, "ctx")) {
        return -1;
    }
    query = PyTuple_GET_ITEM(ctx, 0);
    tables = PyTuple_GET_ITEM(ctx, 1);
    seeds = PyTuple_GET_ITEM(ctx, 2);
    if (!tuple_of(query, 4, "query") || !tuple_of(tables, -1, "tables") || !tuple_of(seeds, 6, "seeds")) {
        return -1;
    }
    c->ntables = PyTuple_GET_SIZE(tables);
    c->cap = 16 + 3 * c->ntables;
    c->views = PyMem_Calloc((size_t)c->cap, sizeof(Py_buffer));
    c->tables = PyMem_Calloc((size_t)c->ntables + 1, sizeof(Table));
    if (c->views == NULL || c->tables == NULL) {
        PyErr_NoMemory();
        return -1;
    }

    key = get_array(c, PyTuple_GET_ITEM(query, 0), "key", KIND_BYTE, 0, 16, &key_len);
    if (key == NULL) {
        return -1;
    }
    c->query.k0 = load_le64(key);
    c->query.k1 = load_le64(key + 8);
    c->query.rolling = get_array(c, PyTuple_GET_ITEM(query, 1), "rolling", KIND_U64, 0, -1, &c->query.n);
    if (c->query.rolling == NULL) {
        return -1;
    }
    c->query.sig = get_array(c, PyTuple_GET_ITEM(query, 2), "signature", KIND_BYTE, 1, c->query.n, NULL);
    if (c->query.sig == NULL) {
        return -1;
    }
    c->query.known = get_array(c, PyTuple_GET_ITEM(query, 3), "known", KIND_BYTE, 1, c->query.n, NULL);
    if (c->query.known == NULL) {
        return -1;
    }
    c->query.pack = PyMem_Calloc((size_t)(c->query.n / 32 + 2), sizeof(uint64_t));
    c->query.pack_ok = PyMem_Calloc((size_t)(c->query.n / 32 + 2), 1);
    if (c->query.pack == NULL || c->query.pack_ok == NULL) {
        PyErr_NoMemory();
        return -1;
    }

    for (g = 0; g < c->ntables; g++) {
        PyObject *t = PyTuple_GET_ITEM(tables, g);
        Table *tab = &c->tables[g];
        int64_t rows2;
        if (!tuple_of(t, 3, "tables[i]")) {
            return -1;
        }
        tab->sigs = get_array(c, PyTuple_GET_ITEM(t, 0), "sigs", KIND_BYTE, 0, -1, &tab->sigs_len);
        if (tab->sigs == NULL) {
            return -1;
        }
        tab->offsets = get_array(c, PyTuple_GET_ITEM(t, 1), "sig_offsets", KIND_I64, 0, -1, &tab->rows);
        if (tab->offsets == NULL) {
            return -1;
        }
        tab->lengths = get_array(c, PyTuple_GET_ITEM(t, 2), "sig_lengths", KIND_I64, 0, tab->rows, &rows2);
        if (tab->lengths == NULL) {
            return -1;
        }
    }

    c->seeds.docs = get_array(c, PyTuple_GET_ITEM(seeds, 0), "docs", KIND_I64, 0, -1, &n);
    if (c->seeds.docs == NULL) {
        return -1;
    }
    c->seeds.n = n;
#define SEED_ARRAY(field, i, name)                                                            \
    c->seeds.field = get_array(c, PyTuple_GET_ITEM(seeds, i), name, KIND_I64, 0, n, NULL);    \
    if (c->seeds.field == NULL) {                                                             \
        return -1;                                                                            \
    }
    SEED_ARRAY(q, 1, "query_positions")
    SEED_ARRAY(d, 2, "doc_positions")
    SEED_ARRAY(segments, 3, "segments")
    SEED_ARRAY(rows, 4, "rows")
    SEED_ARRAY(lengths, 5, "lengths")
#undef SEED_ARRAY
    /* positions in range (so that no sum below overflows), seeds sorted by document, then query position */
    for (i = 0; i < n; i++) {
        int64_t doc = c->seeds.docs[i], q = c->seeds.q[i], d = c->seeds.d[i];
        if (q < 0 || q >= MAX_POSITION || d < 0 || d >= MAX_POSITION) {
            PyErr_Format(PyExc_ValueError, "seed %lld: position out of range", (long long)i);
            return -1;
        }
        if (i > 0 && (doc < prev_doc || (doc == prev_doc && q < prev_q))) {
            PyErr_SetString(PyExc_ValueError, "seeds must be sorted by document, then query position");
            return -1;
        }
        prev_doc = doc;
        prev_q = q;
    }
    return 0;
}

/* -- signatures ------------------------------------------------------------------------------- */

static inline int
query_value(Query *qs, int64_t i)
{
    if (!qs->known[i]) {
        qs->sig[i] = (uint8_t)(siphash24_u64(qs->k0, qs->k1, qs->rolling[i]) >> SIGNATURE_SHIFT);
        qs->known[i] = 1;
    }
    return qs->sig[i];
}

/*
 * Compute every signature value of the text not yet known, in one pass: independent hashes pipeline, so
 * this costs a fraction of computing them one by one where compared; worth it when the comparisons
 * will touch most of the text anyway (a short prompt with many seeds).
 */
static void
query_fill(Query *qs)
{
    int64_t i;
    for (i = 0; i < qs->n; i++) {
        if (!qs->known[i]) {
            qs->sig[i] = (uint8_t)(siphash24_u64(qs->k0, qs->k1, qs->rolling[i]) >> SIGNATURE_SHIFT);
            qs->known[i] = 1;
        }
    }
}

/* The packed signature of seed i's document, checked to lie inside its segment. */
static int
doc_signature(const Ctx *c, int64_t i, DocSig *out)
{
    int64_t g = c->seeds.segments[i], r = c->seeds.rows[i], off, len;
    const Table *t;

    if (g < 0 || g >= (int64_t)c->ntables) {
        goto bad;
    }
    t = &c->tables[g];
    if (r < 0 || r >= t->rows) {
        goto bad;
    }
    off = t->offsets[r];
    len = t->lengths[r];
    if (off < 0 || len < 0 || off > t->sigs_len || len / 4 + (len % 4 != 0) > t->sigs_len - off) {
        goto bad;
    }
    out->base = t->sigs + off;
    out->kgrams = len;
    out->bytes = len / 4 + (len % 4 != 0);
    return 0;
bad:
    PyErr_Format(PyExc_ValueError, "seed %lld: its document's signature is not inside its segment", (long long)i);
    return -1;
}

static inline int
doc_value(const DocSig *ds, int64_t p)
{
    return (ds->base[p >> 2] >> ((p & 3) * 2)) & 3;
}

/* Whether k-gram p of the text agrees with k-gram p - delta of the document (false outside either). */
static inline int
agrees(Query *qs, const DocSig *ds, int64_t p, int64_t delta)
{
    int64_t dp = p - delta;
    return p >= 0 && p < qs->n && dp >= 0 && dp < ds->kgrams && query_value(qs, p) == doc_value(ds, dp);
}

/* -- agreement, 32 columns at a time ------------------------------------------------------------ */

/* whether the 32 flags from known on are all set (each flag 0 or 1) */
static inline int
all_known(const uint8_t *known)
{
    return (load_le64(known) & load_le64(known + 8) & load_le64(known + 16) & load_le64(known + 24)) ==
           0x0101010101010101ULL;
}

/* Word w of the text's packed values (values w * 32 .. w * 32 + 31; those past the text are 0). */
static inline uint64_t
query_word(Query *qs, int64_t w)
{
    if (!qs->pack_ok[w]) {
        uint64_t word = 0;
        int64_t i, first = w * 32, last = first + 32 < qs->n ? first + 32 : qs->n;
        if (last - first == 32 && all_known(qs->known + first)) {
            /* eight values (one a byte) at a time: each pair of bytes into a nibble, each pair of nibbles into
               a byte, each pair of bytes into 16 bits */
            for (i = 0; i < 4; i++) {
                uint64_t x = load_le64(qs->sig + first + 8 * i) & 0x0303030303030303ULL; /* values are 2 bits */
                x = (x | (x >> 6)) & 0x000F000F000F000FULL;
                x = (x | (x >> 12)) & 0x000000FF000000FFULL;
                x = (x | (x >> 24)) & 0xFFFFULL;
                word |= x << (16 * i);
            }
        } else {
            for (i = first; i < last; i++) {
                word |= (uint64_t)query_value(qs, i) << (2 * (i - first));
            }
        }
        qs->pack[w] = word;
        qs->pack_ok[w] = 1;
    }
    return qs->pack[w];
}

/* The text's values p .. p + 31 (0 <= p < n), packed. */
static inline uint64_t
query_bits(Query *qs, int64_t p)
{
    int64_t w = p >> 5, shift = (p & 31) * 2;
    uint64_t lo = query_word(qs, w);
    return shift ? (lo >> shift) | (query_word(qs, w + 1) << (64 - shift)) : lo;
}

/* The document's values p .. p + 31 (0 <= p < kgrams), packed; values past its signature read as 0. */
static inline uint64_t
doc_bits(const DocSig *ds, int64_t p)
{
    int64_t at = p >> 2, shift = (p & 3) * 2, avail = ds->bytes - at;
    uint64_t lo;
    unsigned char extra;
    if (avail >= 9) {
        lo = load_le64(ds->base + at);
        extra = ds->base[at + 8];
    } else {
        unsigned char buf[9] = {0};
        memcpy(buf, ds->base + at, (size_t)avail);
        lo = load_le64(buf);
        extra = buf[8];
    }
    return shift ? (lo >> shift) | ((uint64_t)extra << (64 - shift)) : lo;
}

/* the bits that hold one column each in a mask of 32 columns (the low bit of each 2-bit value) */
#define COLUMNS 0x5555555555555555ULL

/* the column mask of the XOR of two packed words: bit 2j set where their values j are equal */
static inline uint64_t
equal_columns(uint64_t x)
{
    return ~(x | (x >> 1)) & COLUMNS;
}

/*
 * Bit 2j = whether k-gram p + j of the text agrees with k-gram p + j - delta of the document, for j < 32
 * and p + j < limit (agrees(), 32 columns at once: 0 where either k-gram does not exist). Column j is bit 2j,
 * where the XOR of the two packed values leaves it: gathering the columns into 32 bits would cost more than
 * shifting by twice as much.
 */
static inline uint64_t
agree32(Query *qs, const DocSig *ds, int64_t p, int64_t delta, int64_t limit)
{
    int64_t lo = p, hi = p + 32, first = delta > 0 ? delta : 0;
    int64_t end = qs->n < ds->kgrams + delta ? qs->n : ds->kgrams + delta;
    uint64_t x, m;
    lo = lo > first ? lo : first;
    hi = hi < end ? hi : end;
    hi = hi < limit ? hi : limit;
    if (lo >= hi) {
        return 0;
    }
    x = query_bits(qs, lo) ^ doc_bits(ds, lo - delta);
    m = equal_columns(x);
    if (hi - lo < 32) {
        m &= ((uint64_t)1 << (2 * (hi - lo))) - 1;
    }
    return m << (2 * (lo - p));
}

/* the column of the lowest and of the highest set bit of a non-zero column mask */
static inline int64_t
low_column(uint64_t m)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(m) / 2;
#else
    int64_t j = 0;
    while (!(m & ((uint64_t)1 << (2 * j)))) {
        j++;
    }
    return j;
#endif
}

static inline int64_t
high_column(uint64_t m)
{
#if defined(__GNUC__) || defined(__clang__)
    return (63 - __builtin_clzll(m)) / 2;
#else
    int64_t j = 31;
    while (!(m & ((uint64_t)1 << (2 * j)))) {
        j--;
    }
    return j;
#endif
}

static inline int
popcount64(uint64_t m)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_popcountll(m);
#else
    int n = 0;
    for (; m; m &= m - 1) {
        n++;
    }
    return n;
#endif
}

/* -- verify ----------------------------------------------------------------------------------- */

PyDoc_STRVAR(verify_doc,
"verify(ctx, around, neighbours, out, /)\n--\n\n"
"out[i] = whether at least neighbours of the 2 * around k-grams around seed i (around on each side)\n"
"agree with its document's signature (registered_secret.verified).");

static PyObject *
verify(PyObject *module, PyObject *args)
{
    PyObject *ctx_obj, *out_obj, *result = NULL;
    long long around, neighbours;
    uint8_t *out;
    int64_t i, a;
    Ctx c;

    (void)module;
    if (!PyArg_ParseTuple(args, "OLLO:verify", &ctx_obj, &around, &neighbours, &out_obj)) {
        return NULL;
    }
    if (ctx_parse(&c, ctx_obj) < 0) {
        goto done;
    }
    if (around < 0 || around > 1024) {
        PyErr_SetString(PyExc_ValueError, "around out of range");
        goto done;
    }
    out = get_array(&c, out_obj, "out", KIND_BYTE, 1, c.seeds.n, NULL);
    if (out == NULL) {
        goto done;
    }
    if (2 * around * c.seeds.n >= c.query.n) {
        query_fill(&c.query);
    }
    for (i = 0; i < c.seeds.n; i++) {
        DocSig ds;
        int64_t q = c.seeds.q[i], delta = q - c.seeds.d[i];
        long long count = 0;
        if (doc_signature(&c, i, &ds) < 0) {
            goto done;
        }
        if (around <= 15) {
            /* columns q - around .. q + around in one mask, the seed's own left out */
            uint64_t m = agree32(&c.query, &ds, q - around, delta, q + around + 1) & ~((uint64_t)1 << (2 * around));
            count = popcount64(m);
        } else {
            for (a = -around; a <= around; a++) {
                if (a != 0 && agrees(&c.query, &ds, q + a, delta)) {
                    count++;
                }
            }
        }
        out[i] = count >= neighbours;
    }
    result = Py_NewRef(Py_None);
done:
    ctx_release(&c);
    return result;
}

/* -- promising -------------------------------------------------------------------------------- */

/* the widest window promising() accepts: reach k-grams on each side of a seed */
#define MAX_REACH 4096

/*
 * Whether the k-grams p0 .. p0 + width - 1 of the text, on alignment delta, hold `run` agreeing ones in a
 * row outside skip_lo .. skip_hi (window columns: a maximal run of agreeing k-grams, or an empty range).
 * The window's agreement is read 32 columns at a time (agree32): a run inside a chunk is found by shifting
 * and ANDing its mask, one crossing chunks by counting the agreeing columns at the top of the chunks before
 * (carry) and at the bottom of this one. window[j] holds the text's packed values of chunk j (columns 32j ..
 * 32j + 31) where the whole chunk lies in the text.
 */
static int
other_run(Query *qs, const uint64_t *window, const DocSig *ds, int64_t p0, int64_t width, int64_t delta, int64_t run,
          int64_t skip_lo, int64_t skip_hi)
{
    int64_t c, carry = 0, first = delta > 0 ? delta : 0;
    int64_t end = qs->n < ds->kgrams + delta ? qs->n : ds->kgrams + delta;

    end = end < p0 + width ? end : p0 + width;
    for (c = 0; c < width; c += 32) {
        int64_t p = p0 + c;
        uint64_t m, gaps, y;
        if (p >= first && p + 32 <= end) { /* the whole chunk lies in the text, the document and the window */
            m = equal_columns(window[c / 32] ^ doc_bits(ds, p - delta));
        } else {
            m = agree32(qs, ds, p, delta, p0 + width);
        }
        if (skip_lo <= skip_hi && skip_hi >= c && skip_lo < c + 32) {
            int64_t a = skip_lo > c ? skip_lo - c : 0, b = skip_hi < c + 31 ? skip_hi - c : 31;
            m &= b - a == 31 ? 0 : ~((((uint64_t)1 << (2 * (b - a + 1))) - 1) << (2 * a));
        }
        if (m == COLUMNS) { /* every column agrees */
            carry += 32;
            if (carry >= run) {
                return 1;
            }
            continue;
        }
        gaps = ~m & COLUMNS;
        if (carry + low_column(gaps) >= run) {
            return 1;
        }
        if (run == 8) { /* the detector's RUN: bit 2j stays set where columns j .. j + 7 agree */
            y = m & (m >> 2);
            y &= y >> 4;
            y &= y >> 8;
        } else if (run <= 32) {
            int64_t len = 1;
            y = m;
            while (len < run && y) {
                int64_t shift = len < run - len ? len : run - len;
                y &= y >> (2 * shift);
                len += shift;
            }
        } else {
            y = 0; /* a run longer than a chunk crosses one: counted by carry */
        }
        if (y) {
            return 1;
        }
        carry = m >> 62 ? 31 - high_column(gaps) : 0; /* the agreeing columns at the chunk's top */
    }
    return 0;
}

/*
 * Whether seed i has a partner run (registered_secret.promising, one window row): on its alignment, the
 * run through the seed covers span k-grams, or another run of `run` agreeing k-grams lies in the window
 * of reach k-grams on each side; failing that, such a run on an alignment shifted by up to drift. The
 * window's columns 0 .. 2 * reach are the text's k-grams q - reach .. q + reach. (A run of `run` agreeing
 * columns overlapping the seed's run is part of it, since that run is maximal in the window: the
 * reference's "full window not overlapping the seed's run" is "another run of at least `run` columns".)
 */
static int
has_partner(Ctx *c, int64_t i, const DocSig *ds, int64_t span, int64_t reach, int64_t run, int64_t drift)
{
    static const int64_t shifts[5] = {0, -1, 1, -2, 2};
    int64_t q = c->seeds.q[i], delta = q - c->seeds.d[i], q0 = q - reach, width = 2 * reach + 1;
    int64_t left = 0, right = 0, s, j;
    uint64_t window[(2 * MAX_REACH + 1) / 32 + 1];

    /* the seed's own run: agreeing columns from the centre outwards (at most reach + 1 each way), measured
       until it is known to cover span columns */
    while (left <= reach && left < span && agrees(&c->query, ds, q - left, delta)) {
        left++;
    }
    if (left >= span) {
        return 1; /* the centre agrees, so right >= 1 */
    }
    while (right <= reach && left + right - 1 < span && agrees(&c->query, ds, q + right, delta)) {
        right++;
    }
    if (left + right - 1 >= span) {
        return 1;
    }
    /* the text's values of the window, read once for the alignments below */
    for (j = 0; j * 32 < width; j++) {
        window[j] = q0 + 32 * j >= 0 && q0 + 32 * j + 32 <= c->query.n ? query_bits(&c->query, q0 + 32 * j) : 0;
    }
    /* columns reach - left + 1 .. reach + right - 1 (empty if the seed's k-gram disagrees) */
    if (other_run(&c->query, window, ds, q0, width, delta, run, reach - left + 1, reach + right - 1)) {
        return 1;
    }
    for (s = 1; s < 2 * drift + 1; s++) {
        if (other_run(&c->query, window, ds, q0, width, delta - shifts[s], run, 1, 0)) {
            return 1;
        }
    }
    return 0;
}

PyDoc_STRVAR(promising_doc,
"promising(ctx, keep, span, reach, run, drift, short, out, /)\n--\n\n"
"out[i] = whether verified seed i (keep[i]) can belong to a reportable passage\n"
"(registered_secret.promising): one seed per document, alignment and stretch of span query\n"
"positions stands for the others; documents of fewer than short normalised characters always are.");

static PyObject *
promising(PyObject *module, PyObject *args)
{
    PyObject *ctx_obj, *keep_obj, *out_obj, *result = NULL;
    long long span, reach, run, drift, short_len;
    const uint8_t *keep;
    uint8_t *out, *decided = NULL;
    int64_t *rep = NULL, i, j;
    Ctx c;

    (void)module;
    if (!PyArg_ParseTuple(args, "OOLLLLLO:promising", &ctx_obj, &keep_obj, &span, &reach, &run, &drift,
                          &short_len, &out_obj)) {
        return NULL;
    }
    if (ctx_parse(&c, ctx_obj) < 0) {
        goto done;
    }
    if (span < 1 || reach < 0 || reach > MAX_REACH || run < 1 || drift < 0 || drift > 2) {
        PyErr_SetString(PyExc_ValueError, "span, reach, run or drift out of range");
        goto done;
    }
    keep = get_array(&c, keep_obj, "keep", KIND_BYTE, 0, c.seeds.n, NULL);
    out = get_array(&c, out_obj, "out", KIND_BYTE, 1, c.seeds.n, NULL);
    if (keep == NULL || out == NULL) {
        goto done;
    }
    rep = PyMem_Malloc(sizeof(int64_t) * (size_t)(c.seeds.n + 1));
    decided = PyMem_Malloc((size_t)c.seeds.n + 1);
    if (rep == NULL || decided == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < c.seeds.n; i++) {
        int64_t doc = c.seeds.docs[i], q = c.seeds.q[i], stretch = q / span, align = q - c.seeds.d[i];
        out[i] = 0;
        if (!keep[i]) {
            continue;
        }
        /* the bucket (document, alignment, stretch) is represented by its first verified seed; seeds of
           one document and stretch are contiguous, since seeds are sorted by document and query position */
        rep[i] = i;
        for (j = i - 1; j >= 0 && c.seeds.docs[j] == doc && c.seeds.q[j] / span == stretch; j--) {
            if (keep[j] && c.seeds.q[j] - c.seeds.d[j] == align) {
                rep[i] = rep[j];
                break;
            }
        }
        if (rep[i] == i) {
            DocSig ds;
            if (c.seeds.lengths[i] < short_len) {
                decided[i] = 1;
            } else {
                if (doc_signature(&c, i, &ds) < 0) {
                    goto done;
                }
                decided[i] = (uint8_t)has_partner(&c, i, &ds, span, reach, run, drift);
            }
        }
        out[i] = decided[rep[i]];
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(rep);
    PyMem_Free(decided);
    ctx_release(&c);
    return result;
}

/* -- runs ------------------------------------------------------------------------------------- */

typedef struct {
    int64_t *data; /* pairs (start, end) */
    Py_ssize_t count, cap;
} Spans;

static int
spans_push(Spans *s, int64_t start, int64_t end)
{
    if (s->count == s->cap) {
        Py_ssize_t cap = s->cap ? 2 * s->cap : 64;
        int64_t *data = PyMem_Realloc(s->data, sizeof(int64_t) * 2 * (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->data = data;
        s->cap = cap;
    }
    s->data[2 * s->count] = start;
    s->data[2 * s->count + 1] = end;
    s->count++;
    return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sort and deduplicate v[0 .. n); returns the new length. */
static int64_t
unique_i64(int64_t *v, int64_t n)
{
    int64_t i, m = 0;
    qsort(v, (size_t)n, sizeof(int64_t), cmp_i64);
    for (i = 0; i < n; i++) {
        if (m == 0 || v[i] != v[m - 1]) {
            v[m++] = v[i];
        }
    }
    return m;
}

/*
 * The runs of one alignment (registered_secret.passages, one row): measure [lo, hi) around the seeds of
 * the alignment (the whole overlap of text and document if a run touches the window's edge), keep the
 * runs of at least `run` agreeing k-grams, group those less than gap apart, and append to `list` the runs
 * of the groups that hold one of the seeds (query positions sq[0 .. ns), ascending).
 */
static int
alignment_runs(Ctx *c, const DocSig *ds, int64_t doc, int64_t delta, const int64_t *sq, int64_t ns, int64_t reach,
               int64_t run, int64_t gap, Spans *spans, PyObject *list)
{
    int64_t floor_ = delta > 0 ? delta : 0;
    int64_t ceiling = c->query.n < ds->kgrams + delta ? c->query.n : ds->kgrams + delta;
    int64_t lo = sq[0] - reach > floor_ ? sq[0] - reach : floor_;
    int64_t hi = sq[ns - 1] + reach + 1 < ceiling ? sq[ns - 1] + reach + 1 : ceiling;
    int64_t p, start = -1, g, next_seed = 0;

    if (hi > lo && ((lo > floor_ && agrees(&c->query, ds, lo, delta)) ||
                    (hi < ceiling && agrees(&c->query, ds, hi - 1, delta)))) {
        lo = floor_;
        hi = ceiling;
    }
    spans->count = 0;
    /* the maximal runs of agreeing k-grams in lo .. hi - 1, 32 columns at a time: in each chunk, the next
       agreeing column (a run starts) and then the next disagreeing one (it ends); columns from hi on read
       as disagreeing, which ends a run at hi */
    for (p = lo; p < hi; p += 32) {
        uint64_t m = agree32(&c->query, ds, p, delta, hi), gaps = ~m & COLUMNS;
        int64_t j = 0, len = hi - p < 32 ? hi - p : 32;
        while (j < len) {
            uint64_t rest = (start < 0 ? m : gaps) >> (2 * j);
            if (!rest) {
                break; /* no run starts (or the run goes on) in the rest of this chunk */
            }
            j += low_column(rest);
            if (start < 0) {
                start = p + j;
            } else {
                if (p + j - start >= run && spans_push(spans, start, p + j) < 0) {
                    return -1;
                }
                start = -1;
            }
        }
    }
    if (start >= 0 && hi - start >= run && spans_push(spans, start, hi) < 0) {
        return -1;
    }
    for (g = 0; g < spans->count;) {
        int64_t e = g + 1, g_start = spans->data[2 * g], g_end, held = 0, r;
        while (e < spans->count && spans->data[2 * e] - spans->data[2 * e - 1] <= gap) {
            e++;
        }
        g_end = spans->data[2 * e - 1];
        while (next_seed < ns && sq[next_seed] < g_start) {
            next_seed++;
        }
        held = next_seed < ns && sq[next_seed] < g_end;
        for (r = g; held && r < e; r++) {
            PyObject *item = Py_BuildValue("(LLLL)", (long long)doc, (long long)delta, (long long)spans->data[2 * r],
                                           (long long)spans->data[2 * r + 1]);
            if (item == NULL || PyList_Append(list, item) < 0) {
                Py_XDECREF(item);
                return -1;
            }
            Py_DECREF(item);
        }
        g = e;
    }
    return 0;
}

PyDoc_STRVAR(runs_doc,
"runs(ctx, keep, focus, wanted, reach, run, gap, drift, /)\n--\n\n"
"For each document of wanted (sorted, unique), the runs that registered_secret.passages joins into\n"
"passages, measured on the alignments of its verified seeds (keep) that lie within drift of an\n"
"alignment of its promising seeds (focus): a list of (doc, alignment, start, end) tuples, by document,\n"
"alignment and start.");

static PyObject *
runs(PyObject *module, PyObject *args)
{
    PyObject *ctx_obj, *keep_obj, *focus_obj, *wanted_obj, *list = NULL, *result = NULL;
    long long reach, run, gap, drift;
    const uint8_t *keep, *focus;
    const int64_t *wanted;
    int64_t n_wanted, w, *kq = NULL, *ka = NULL, *aligned = NULL, *chosen = NULL, *sq = NULL;
    Spans spans = {NULL, 0, 0};
    Ctx c;

    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOLLLL:runs", &ctx_obj, &keep_obj, &focus_obj, &wanted_obj, &reach, &run, &gap,
                          &drift)) {
        return NULL;
    }
    if (ctx_parse(&c, ctx_obj) < 0) {
        goto done;
    }
    if (reach < 0 || reach > MAX_POSITION || run < 1 || gap < 0 || gap > MAX_POSITION || drift < 0 ||
        drift > MAX_POSITION) {
        PyErr_SetString(PyExc_ValueError, "reach, run, gap or drift out of range");
        goto done;
    }
    keep = get_array(&c, keep_obj, "keep", KIND_BYTE, 0, c.seeds.n, NULL);
    focus = get_array(&c, focus_obj, "focus", KIND_BYTE, 0, c.seeds.n, NULL);
    wanted = get_array(&c, wanted_obj, "wanted", KIND_I64, 0, -1, &n_wanted);
    if (keep == NULL || focus == NULL || wanted == NULL) {
        goto done;
    }
    list = PyList_New(0);
    kq = PyMem_Malloc(sizeof(int64_t) * (size_t)(c.seeds.n + 1));
    ka = PyMem_Malloc(sizeof(int64_t) * (size_t)(c.seeds.n + 1));
    aligned = PyMem_Malloc(sizeof(int64_t) * (size_t)(c.seeds.n + 1));
    chosen = PyMem_Malloc(sizeof(int64_t) * (size_t)(c.seeds.n + 1));
    sq = PyMem_Malloc(sizeof(int64_t) * (size_t)(c.seeds.n + 1));
    if (list == NULL || kq == NULL || ka == NULL || aligned == NULL || chosen == NULL || sq == NULL) {
        if (list != NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    for (w = 0; w < n_wanted; w++) {
        int64_t doc = wanted[w], a = 0, b, hi_ = c.seeds.n, i, m = 0, n_aligned, n_focus = 0, n_chosen = 0, x, y;
        DocSig ds;
        /* the document's seeds: [a, b) */
        while (a < hi_) {
            int64_t mid = a + (hi_ - a) / 2;
            if (c.seeds.docs[mid] < doc) {
                a = mid + 1;
            } else {
                hi_ = mid;
            }
        }
        for (b = a; b < c.seeds.n && c.seeds.docs[b] == doc; b++) {
        }
        if (a == b) {
            continue;
        }
        if (doc_signature(&c, a, &ds) < 0) {
            goto done;
        }
        for (i = a; i < b; i++) {
            if (keep[i]) {
                kq[m] = c.seeds.q[i];
                ka[m] = c.seeds.q[i] - c.seeds.d[i];
                aligned[m] = ka[m];
                if (focus[i]) {
                    chosen[n_focus++] = ka[m];
                }
                m++;
            }
        }
        if (m == 0 || n_focus == 0) {
            continue;
        }
        n_aligned = unique_i64(aligned, m);
        n_focus = unique_i64(chosen, n_focus);
        /* the alignments within drift of a promising one, ascending, written over aligned (each is
           written at or before the place it is read from) */
        for (x = 0, y = 0; x < n_aligned; x++) {
            while (y + 1 < n_focus && chosen[y + 1] <= aligned[x]) {
                y++;
            }
            if ((aligned[x] - chosen[y] <= drift && chosen[y] - aligned[x] <= drift) ||
                (y + 1 < n_focus && chosen[y + 1] - aligned[x] <= drift)) {
                aligned[n_chosen++] = aligned[x];
            }
        }
        for (x = 0; x < n_chosen; x++) {
            int64_t delta = aligned[x], ns = 0;
            for (i = 0; i < m; i++) {
                if (ka[i] == delta) {
                    sq[ns++] = kq[i];
                }
            }
            if (ns && alignment_runs(&c, &ds, doc, delta, sq, ns, reach, run, gap, &spans, list) < 0) {
                goto done;
            }
        }
    }
    result = Py_NewRef(list);
done:
    Py_XDECREF(list);
    PyMem_Free(kq);
    PyMem_Free(ka);
    PyMem_Free(aligned);
    PyMem_Free(chosen);
    PyMem_Free(sq);
    PyMem_Free(spans.data);
    ctx_release(&c);
    return result;
}

/* -- gather: postings and seeds of a lookup --------------------------------------------------- */

typedef struct {
    int64_t *v;
    int64_t count, cap;
} Vec;

static int
vec_push(Vec *v, int64_t x)
{
    if (v->count == v->cap) {
        int64_t cap = v->cap ? 2 * v->cap : 256;
        int64_t *data = PyMem_Realloc(v->v, sizeof(int64_t) * (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        v->v = data;
        v->cap = cap;
    }
    v->v[v->count++] = x;
    return 0;
}

/* seeds are sorted by (document, query position, emission order): the latter makes the sort stable */
typedef struct {
    int64_t doc, q, at;
} SeedKey;

static int
cmp_seed(const void *a, const void *b)
{
    const SeedKey *x = a, *y = b;
    if (x->doc != y->doc) {
        return (x->doc > y->doc) - (x->doc < y->doc);
    }
    if (x->q != y->q) {
        return (x->q > y->q) - (x->q < y->q);
    }
    return (x->at > y->at) - (x->at < y->at);
}

/*
 * idx[0 .. n) = 0 .. n - 1 stably sorted by key[idx] (signed), by bytes (least significant first), skipping
 * the bytes all keys share; tmp has room for n items.
 */
static void
radix_order(const int64_t *key, int64_t n, int64_t *idx, int64_t *tmp)
{
    int64_t i, count[256];
    int shift;

    for (i = 0; i < n; i++) {
        idx[i] = i;
    }
    for (shift = 0; shift < 64; shift += 8) {
        int64_t sum = 0;
        int same = 0, d;
        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++) {
            count[(((uint64_t)key[idx[i]] ^ ((uint64_t)1 << 63)) >> shift) & 0xFF]++;
        }
        for (d = 0; d < 256; d++) {
            same |= count[d] == n;
            i = count[d];
            count[d] = sum;
            sum += i;
        }
        if (same) {
            continue;
        }
        for (i = 0; i < n; i++) {
            tmp[count[(((uint64_t)key[idx[i]] ^ ((uint64_t)1 << 63)) >> shift) & 0xFF]++] = idx[i];
        }
        memcpy(idx, tmp, sizeof(int64_t) * (size_t)n);
    }
}

/* Sort keys[0 .. n) by cmp_seed: insertion sort for the small groups usual here, else qsort. */
static void
sort_seeds(SeedKey *keys, int64_t n)
{
    int64_t i, j;
    if (n > 32) {
        qsort(keys, (size_t)n, sizeof(SeedKey), cmp_seed);
        return;
    }
    for (i = 1; i < n; i++) {
        SeedKey x = keys[i];
        for (j = i; j > 0 && cmp_seed(&keys[j - 1], &x) > 0; j--) {
            keys[j] = keys[j - 1];
        }
        keys[j] = x;
    }
}

/* rows (of `count` int64 each) of a new bytearray; NULL with an exception set */
static PyObject *
new_rows(int64_t rows, int64_t count, int64_t **data)
{
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(sizeof(int64_t) * (size_t)(rows * count)));
    if (out != NULL) {
        *data = (int64_t *)PyByteArray_AS_STRING(out);
    }
    return out;
}

PyDoc_STRVAR(gather_doc,
"gather(segments, wanted, inverse, positions, size, /)\n--\n\n"
"The live postings of the unique hashes wanted and the seeds they make with the query\n"
"(index._gather and index._seeds): segments holds per segment (docs, positions, doc_ids, counts,\n"
"lengths, live, lo, hi), the last two the range of each unique hash in its sorted hashes; inverse maps\n"
"each query fingerprint to its unique hash (< size), positions are the query's. Returns (postings, P,\n"
"seeds, S): bytearrays of 7 rows of P and 6 rows of S int64 (hash index, doc id, doc position, count,\n"
"length, segment, row; and doc id, query position, doc position, segment, row, length).");

static PyObject *
gather(PyObject *module, PyObject *args)
{
    PyObject *segs, *wanted_obj, *inverse_obj, *positions_obj, *result = NULL, *pbuf = NULL, *sbuf = NULL;
    long long size;
    const int64_t *wanted, *inverse, *qpos;
    int64_t n_wanted, n_query, g, i, j, p, n_post, n_seeds = 0, *pout, *sout, *per_hash = NULL, *first = NULL;
    int64_t *by_hash = NULL;
    Vec cols[7] = {{0}};
    SeedKey *keys = NULL;
    int64_t *order = NULL, *tmp = NULL;
    Py_ssize_t n_segs;
    Ctx c;

    (void)module;
    if (!PyArg_ParseTuple(args, "OOOOL:gather", &segs, &wanted_obj, &inverse_obj, &positions_obj, &size)) {
        return NULL;
    }
    memset(&c, 0, sizeof(c));
    if (!tuple_of(segs, -1, "segments")) {
        return NULL;
    }
    n_segs = PyTuple_GET_SIZE(segs);
    c.cap = 3 + 8 * n_segs;
    c.views = PyMem_Calloc((size_t)c.cap, sizeof(Py_buffer));
    if (c.views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must not be negative");
        goto done;
    }
    wanted = get_array(&c, wanted_obj, "wanted", KIND_I64, 0, -1, &n_wanted);
    inverse = wanted == NULL ? NULL : get_array(&c, inverse_obj, "inverse", KIND_I64, 0, -1, &n_query);
    qpos = inverse == NULL ? NULL : get_array(&c, positions_obj, "positions", KIND_I64, 0, n_query, NULL);
    if (qpos == NULL) {
        goto done;
    }
    for (i = 0; i < n_wanted; i++) {
        if (wanted[i] < 0 || wanted[i] >= size) {
            PyErr_SetString(PyExc_ValueError, "wanted: index out of range");
            goto done;
        }
    }
    for (g = 0; g < n_segs; g++) {
        PyObject *t = PyTuple_GET_ITEM(segs, g);
        Column docs, positions;
        const int64_t *doc_ids, *counts, *lengths, *lo, *hi;
        const uint8_t *live;
        int64_t n, m, start;
        if (!tuple_of(t, 8, "segments[i]")) {
            goto done;
        }
        if (get_column(&c, PyTuple_GET_ITEM(t, 0), "docs", -1, &n, &docs) < 0 ||
            get_column(&c, PyTuple_GET_ITEM(t, 1), "positions", n, NULL, &positions) < 0) {
            goto done;
        }
        doc_ids = get_array(&c, PyTuple_GET_ITEM(t, 2), "doc_ids", KIND_I64, 0, -1, &m);
        counts = doc_ids == NULL ? NULL : get_array(&c, PyTuple_GET_ITEM(t, 3), "counts", KIND_I64, 0, m, NULL);
        lengths = counts == NULL ? NULL : get_array(&c, PyTuple_GET_ITEM(t, 4), "lengths", KIND_I64, 0, m, NULL);
        live = lengths == NULL ? NULL : get_array(&c, PyTuple_GET_ITEM(t, 5), "live", KIND_BYTE, 0, m, NULL);
        lo = live == NULL ? NULL : get_array(&c, PyTuple_GET_ITEM(t, 6), "lo", KIND_I64, 0, size, NULL);
        hi = lo == NULL ? NULL : get_array(&c, PyTuple_GET_ITEM(t, 7), "hi", KIND_I64, 0, size, NULL);
        if (hi == NULL) {
            goto done;
        }
        /* in passes, as numpy does: the postings' rows (one sequential read), then the live ones' columns
           (independent reads of the document table, which the processor overlaps) */
        start = cols[0].count;
        for (i = 0; i < n_wanted; i++) {
            int64_t w = wanted[i], a = lo[w], b = hi[w];
            if (a < 0 || b > n || a > b) {
                PyErr_SetString(PyExc_ValueError, "posting range out of range");
                goto done;
            }
            for (p = a; p < b; p++) {
                int64_t row = COLUMN_AT(docs, p);
                if (row >= m) {
                    PyErr_SetString(PyExc_ValueError, "posting of a document row out of range");
                    goto done;
                }
                if (vec_push(&cols[0], w) < 0 || vec_push(&cols[2], p) < 0 || vec_push(&cols[6], row) < 0) {
                    goto done;
                }
            }
        }
        for (p = j = start; p < cols[0].count; p++) {
            if (live[cols[6].v[p]]) {
                cols[0].v[j] = cols[0].v[p];
                cols[2].v[j] = COLUMN_AT(positions, cols[2].v[p]);
                cols[6].v[j] = cols[6].v[p];
                j++;
            }
        }
        cols[0].count = cols[2].count = cols[6].count = j;
        for (p = start; p < j; p++) {
            int64_t row = cols[6].v[p];
            if (vec_push(&cols[1], doc_ids[row]) < 0 || vec_push(&cols[3], counts[row]) < 0 ||
                vec_push(&cols[4], lengths[row]) < 0 || vec_push(&cols[5], g) < 0) {
                goto done;
            }
        }
    }
    n_post = cols[0].count;
    pbuf = new_rows(7, n_post, &pout);
    if (pbuf == NULL) {
        goto done;
    }
    for (j = 0; j < 7; j++) {
        if (n_post) {
            memcpy(pout + j * n_post, cols[j].v, sizeof(int64_t) * (size_t)n_post);
        }
    }

    /* the query positions of each unique hash, in query order (a counting sort: stable) */
    per_hash = PyMem_Calloc((size_t)size + 1, sizeof(int64_t));
    first = PyMem_Calloc((size_t)size + 1, sizeof(int64_t));
    by_hash = PyMem_Malloc(sizeof(int64_t) * (size_t)(n_query + 1));
    if (per_hash == NULL || first == NULL || by_hash == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (j = 0; j < n_query; j++) {
        if (inverse[j] < 0 || inverse[j] >= size) {
            PyErr_SetString(PyExc_ValueError, "inverse: index out of range");
            goto done;
        }
        per_hash[inverse[j]]++;
    }
    for (i = 1; i <= size; i++) {
        first[i] = first[i - 1] + per_hash[i - 1];
    }
    for (i = 0; i < size; i++) {
        per_hash[i] = first[i]; /* reused as the fill pointer */
    }
    for (j = 0; j < n_query; j++) {
        by_hash[per_hash[inverse[j]]++] = j;
    }
    for (p = 0; p < n_post; p++) {
        n_seeds += first[cols[0].v[p] + 1] - first[cols[0].v[p]];
    }
    keys = PyMem_Malloc(sizeof(SeedKey) * (size_t)(n_seeds + 1));
    order = PyMem_Malloc(sizeof(int64_t) * (size_t)(n_post + 1));
    tmp = PyMem_Malloc(sizeof(int64_t) * (size_t)(n_post + 1));
    if (keys == NULL || order == NULL || tmp == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* postings by document (a stable sort: then in posting order); each document's seeds sorted by (query
       position, posting): the order of the reference's stable lexsort of the emitted seeds, since the seeds
       of one posting are emitted in query order and the positions of one hash are distinct. */
    radix_order(cols[1].v, n_post, order, tmp);
    {
        int64_t at = 0, a = 0, b;
        while (a < n_post) {
            int64_t group = at, doc = cols[1].v[order[a]];
            for (b = a; b < n_post && cols[1].v[order[b]] == doc; b++) {
                int64_t w = cols[0].v[order[b]];
                for (j = first[w]; j < first[w + 1]; j++) {
                    keys[at].doc = doc;
                    keys[at].q = qpos[by_hash[j]];
                    keys[at].at = order[b];
                    at++;
                }
            }
            sort_seeds(keys + group, at - group);
            a = b;
        }
    }
    sbuf = new_rows(6, n_seeds, &sout);
    if (sbuf == NULL) {
        goto done;
    }
    for (i = 0; i < n_seeds; i++) {
        int64_t q = keys[i].at;
        sout[i] = keys[i].doc;
        sout[n_seeds + i] = keys[i].q;
        sout[2 * n_seeds + i] = cols[2].v[q];
        sout[3 * n_seeds + i] = cols[5].v[q];
        sout[4 * n_seeds + i] = cols[6].v[q];
        sout[5 * n_seeds + i] = cols[4].v[q];
    }
    result = Py_BuildValue("(OLOL)", pbuf, (long long)n_post, sbuf, (long long)n_seeds);
done:
    Py_XDECREF(pbuf);
    Py_XDECREF(sbuf);
    for (j = 0; j < 7; j++) {
        PyMem_Free(cols[j].v);
    }
    PyMem_Free(per_hash);
    PyMem_Free(first);
    PyMem_Free(by_hash);
    PyMem_Free(keys);
    PyMem_Free(order);
    PyMem_Free(tmp);
    ctx_release(&c);
    return result;
}

/* -- key ranges: where each probe key lies in a segment's sorted keys ------------------------------ */

/* A buffer-holding context for the functions that take no ctx tuple; 0, or -1 with an exception set. */
static int
views_init(Ctx *c, Py_ssize_t cap)
{
    memset(c, 0, sizeof(*c));
    c->cap = cap;
    c->views = PyMem_Calloc((size_t)cap, sizeof(Py_buffer));
    if (c->views == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(prefix_table_doc,
"prefix_table(keys, shift, out, /)\n--\n\n"
"out[b] = the index of the first key whose top bits (key >> shift) are at least b, for b in\n"
"0 .. len(out) - 1 = 2 ** (32 - shift): keys (uint32) sorted, out uint32 (len(keys) < 2 ** 32).\n"
"One sequential pass; the table is monotone whatever the keys hold.");

static PyObject *
prefix_table(PyObject *module, PyObject *args)
{
    PyObject *keys_obj, *out_obj, *result = NULL;
    long long shift;
    const uint32_t *keys;
    uint32_t *out;
    int64_t n, m, i, b = 0;
    Ctx c;

    (void)module;
    if (!PyArg_ParseTuple(args, "OLO:prefix_table", &keys_obj, &shift, &out_obj)) {
        return NULL;
    }
    if (views_init(&c, 2) < 0) {
        return NULL;
    }
    if (shift < 8 || shift > 32) {
        PyErr_SetString(PyExc_ValueError, "shift out of range");
        goto done;
    }
    keys = get_array(&c, keys_obj, "keys", KIND_U32, 0, -1, &n);
    out = keys == NULL ? NULL : get_array(&c, out_obj, "out", KIND_U32, 1, ((int64_t)1 << (32 - shift)) + 1, &m);
    if (out == NULL) {
        goto done;
    }
    if (n > (int64_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many keys for a uint32 table");
        goto done;
    }
    for (i = 0; i < n; i++) {
        int64_t top = (int64_t)((uint64_t)keys[i] >> shift);
        while (b <= top && b < m) {
            out[b++] = (uint32_t)i;
        }
    }
    while (b < m) {
        out[b++] = (uint32_t)n;
    }
    result = Py_NewRef(Py_None);
done:
    ctx_release(&c);
    return result;
}

/* the first index in [lo, hi) whose key is >= x (after == 0) or > x (after != 0); keys[lo .. hi) sorted */
static inline int64_t
bound_u32(const uint32_t *keys, int64_t lo, int64_t hi, uint32_t x, int after)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] < x || (after && keys[mid] == x)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

#define KEY_AHEAD 8
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch((p), 0, 0)
#else
#define PREFETCH(p) ((void)(p))
#endif

PyDoc_STRVAR(key_ranges_doc,
"key_ranges(keys, table, shift, unique, lo, hi, /)\n--\n\n"
"[lo[i], hi[i]) = the range of unique[i] in the sorted uint32 keys (lo == hi if absent), as\n"
"np.searchsorted(keys, unique) and its side='right' give it, found through table (prefix_table's, uint32)\n"
"and a binary search inside one bucket. lo and hi are int64 arrays of len(unique).");

static PyObject *
key_ranges(PyObject *module, PyObject *args)
{
    PyObject *keys_obj, *table_obj, *unique_obj, *lo_obj, *hi_obj, *result = NULL;
    long long shift;
    const uint32_t *keys, *table, *unique;
    int64_t *lo, *hi, n, m, u, i;
    Ctx c;

    (void)module;
    if (!PyArg_ParseTuple(args, "OOLOOO:key_ranges", &keys_obj, &table_obj, &shift, &unique_obj, &lo_obj,
                          &hi_obj)) {
        return NULL;
    }
    if (views_init(&c, 5) < 0) {
        return NULL;
    }
    if (shift < 8 || shift > 32) {
        PyErr_SetString(PyExc_ValueError, "shift out of range");
        goto done;
    }
    keys = get_array(&c, keys_obj, "keys", KIND_U32, 0, -1, &n);
    table = keys == NULL ? NULL : get_array(&c, table_obj, "table", KIND_U32, 0, ((int64_t)1 << (32 - shift)) + 1, &m);
    unique = table == NULL ? NULL : get_array(&c, unique_obj, "unique", KIND_U32, 0, -1, &u);
    lo = unique == NULL ? NULL : get_array(&c, lo_obj, "lo", KIND_I64, 1, u, NULL);
    hi = lo == NULL ? NULL : get_array(&c, hi_obj, "hi", KIND_I64, 1, u, NULL);
    if (hi == NULL) {
        goto done;
    }
    /* three stages KEY_AHEAD keys apart, so that the cache misses of many keys overlap: prefetch key i's
       table entry; read key i - KEY_AHEAD's bucket (into lo, hi) and prefetch its keys; search the bucket of
       key i - 2 * KEY_AHEAD */
    for (i = 0; i < u + 2 * KEY_AHEAD; i++) {
        int64_t j = i - KEY_AHEAD, k = i - 2 * KEY_AHEAD;
        if (i < u) {
            PREFETCH(&table[(uint64_t)unique[i] >> shift]);
        }
        if (j >= 0 && j < u) {
            int64_t top = (int64_t)((uint64_t)unique[j] >> shift), a = table[top], b = table[top + 1];
            if (a > b || b > n) {
                PyErr_SetString(PyExc_ValueError, "table: bucket out of range");
                goto done;
            }
            lo[j] = a;
            hi[j] = b;
            if (a < b) {
                PREFETCH(&keys[a]);
                PREFETCH(&keys[b - 1]);
            }
        }
        if (k >= 0 && k < u) {
            uint32_t x = unique[k];
            int64_t a = lo[k], b = hi[k];
            a = bound_u32(keys, a, b, x, 0);
            lo[k] = a;
            hi[k] = a < b && keys[a] == x ? bound_u32(keys, a + 1, b, x, 1) : a;
        }
    }
    result = Py_NewRef(Py_None);
done:
    ctx_release(&c);
    return result;
}

static PyMethodDef match_methods[] = {
    {"prefix_table", prefix_table, METH_VARARGS, prefix_table_doc},
    {"key_ranges", key_ranges, METH_VARARGS, key_ranges_doc},
    {"gather", gather, METH_VARARGS, gather_doc},
    {"verify", verify, METH_VARARGS, verify_doc},
    {"promising", promising, METH_VARARGS, promising_doc},
    {"runs", runs, METH_VARARGS, runs_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot match_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef match_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "himitsu.engine._match",
    .m_doc = "Seed verification and run measuring of the registered-secret detector (see himitsu.engine._fast).",
    .m_size = 0,
    .m_methods = match_methods,
    .m_slots = match_slots,
};

PyMODINIT_FUNC
PyInit__match(void)
{
    return PyModuleDef_Init(&match_module);
}
