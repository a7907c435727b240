/*
 * himitsu.engine._text: the common path of himitsu.engine.normalize in one pass.
 *
 * normalize() looks every code point up in a packed table (the folded image of the pre-mapped character in
 * bits 0-20, its class in bits 21-22: 0 removed, 1 kept, 2 combining mark; bit 31: needs NFKC in context).
 * When no character needs NFKC in context, the result is: the folded images of the kept characters, and for
 * each the index of the character it came from. A mark is kept unless the last non-mark character before it
 * was removed. Code points beyond the table keep themselves, removed in plane 14 and kept elsewhere.
 *
 * fast_normalize(codepoints, table, out_codepoints, out_origin) -> m, or -1 when some character needs NFKC
 * in context (the caller then takes the general path). The arrays come in through the buffer protocol:
 * codepoints and table uint32, out_codepoints uint32 and out_origin int64 with room for every code point.
 *
 * group_hits(data, hits, owners, groups) -> [[char offsets] per group]: the prefilter's Hyperscan hits
 * (a list of (byte start, expression id) tuples over the UTF-8 bytes ``data``), sorted by start, turned into
 * offsets of characters (the bytes before the start that are not UTF-8 continuation bytes) and listed under
 * the group owning each expression (``owners[id]``, a bytes object of group numbers < ``groups``), each start
 * once per group. himitsu.engine.prefilter keeps the same in Python as the reference and fallback.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#define CP_MASK 0x1FFFFFu
#define KLASS_SHIFT 21
#define UNSAFE_BIT 0x80000000u
#define REMOVED 0u
#define MARK 2u

static PyObject *
fast_normalize(PyObject *self, PyObject *args)
{
    Py_buffer cps, table, out_cp, out_origin;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*w*w*", &cps, &table, &out_cp, &out_origin))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = cps.len / 4, size = table.len / 4;
    if (cps.len % 4 || table.len % 4 || out_cp.len < cps.len || out_origin.len < n * 8) {
        PyErr_SetString(PyExc_ValueError, "fast_normalize: arrays of the wrong size");
        goto done;
    }
    const uint32_t *in = (const uint32_t *)cps.buf, *packed = (const uint32_t *)table.buf;
    uint32_t *out = (uint32_t *)out_cp.buf;
    int64_t *origin = (int64_t *)out_origin.buf;
    Py_ssize_t m = 0;
    int base_seen = 0, base_kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = in[i], p;
        if ((Py_ssize_t)c < size)
            p = packed[c];
        else
            p = c | ((c >= 0xE0000u && c < 0xF0000u ? 0u : 1u) << KLASS_SHIFT);
        if (p & UNSAFE_BIT) {
            result = PyLong_FromLong(-1);
            goto done;
        }
        uint32_t klass = (p >> KLASS_SHIFT) & 3u;
        int keep;
        if (klass == MARK) {
            keep = !(base_seen && !base_kept);
        } else {
            keep = klass != REMOVED;
            base_seen = 1;
            base_kept = keep;
        }
        if (keep) {
            out[m] = p & CP_MASK;
            origin[m] = (int64_t)i;
            m++;
        }
    }
    result = PyLong_FromSsize_t(m);
done:
    PyBuffer_Release(&cps);
    PyBuffer_Release(&table);
    PyBuffer_Release(&out_cp);
    PyBuffer_Release(&out_origin);
    return result;
}

typedef struct {
    Py_ssize_t start;
    unsigned char group;
} hit_t;

static int
hit_cmp(const void *a, const void *b)
{
    Py_ssize_t x = ((const hit_t *)a)->start, y = ((const hit_t *)b)->start;
    return (x > y) - (x < y);
}

static PyObject *
group_hits(PyObject *self, PyObject *args)
{
    Py_buffer data, owners;
    PyObject *hits, *out = NULL;
    Py_ssize_t groups;
    hit_t *items = NULL;
    Py_ssize_t *last = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!y*n", &data, &PyList_Type, &hits, &owners, &groups))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(hits);
    if (groups < 1 || groups > 255) {
        PyErr_SetString(PyExc_ValueError, "groups must be 1..255");
        goto done;
    }
    items = PyMem_Malloc(sizeof(hit_t) * (size_t)(n ? n : 1));
    last = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)groups);
    if (items == NULL || last == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const unsigned char *owner = owners.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(hits, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) < 2) {
            PyErr_SetString(PyExc_TypeError, "hits must be (start, id) tuples");
            goto done;
        }
        Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
        Py_ssize_t ident = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 1));
        if (PyErr_Occurred())
            goto done;
        if (start < 0 || start > data.len || ident < 0 || ident >= owners.len || owner[ident] >= groups) {
            PyErr_SetString(PyExc_ValueError, "hit out of range");
            goto done;
        }
        items[i].start = start;
        items[i].group = owner[ident];
    }
    qsort(items, (size_t)n, sizeof(hit_t), hit_cmp);
    out = PyList_New(groups);
    if (out == NULL)
        goto done;
    for (Py_ssize_t g = 0; g < groups; g++) {
        PyObject *list = PyList_New(0);
        if (list == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, g, list);
        last[g] = -1;
    }
    const unsigned char *bytes = data.buf;
    Py_ssize_t pos = 0, chars = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        for (; pos < items[i].start; pos++)
            chars += (bytes[pos] & 0xC0) != 0x80;
        unsigned char g = items[i].group;
        if (last[g] == chars)
            continue; /* one start reported for several ends, or by several expressions of the group */
        last[g] = chars;
        PyObject *value = PyLong_FromSsize_t(chars);
        if (value == NULL || PyList_Append(PyList_GET_ITEM(out, g), value) < 0) {
            Py_XDECREF(value);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(value);
    }
done:
    PyMem_Free(items);
    PyMem_Free(last);
    PyBuffer_Release(&data);
    PyBuffer_Release(&owners);
    return out;
}

static PyMethodDef methods[] = {
    {"group_hits", group_hits, METH_VARARGS,
     "group_hits(data, hits, owners, groups) -> the sorted character offsets of the hits of each group"},
    {"fast_normalize", fast_normalize, METH_VARARGS,
     "fast_normalize(codepoints, table, out_codepoints, out_origin) -> kept count, or -1 (needs the general path)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_text", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__text(void)
{
    return PyModule_Create(&module);
}
