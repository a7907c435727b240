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

static PyMethodDef methods[] = {
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
