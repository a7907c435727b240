/*
 * himitsu.engine._siphash: SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012) of many 8-byte messages with one 128-bit key, for himitsu.engine.fingerprint.
 *
 * Each 64-bit word of the input is one message of exactly 8 bytes, namely the word's value written
 * as 8 little-endian bytes. With a message of 8 bytes, SipHash-2-4 is:
 *
 *   k0, k1  = the key's two halves, read as little-endian 64-bit integers
 *   v0..v3  = k0 ^ "somepseu", k1 ^ "dorandom", k0 ^ "lygenera", k1 ^ "tedbytes"
 *   m       = the message as a little-endian 64-bit integer (the one full block)
 *   v3 ^= m; 2 SipRounds; v0 ^= m
 *   b       = 8 << 56 (the message length in the top byte, no remaining bytes)
 *   v3 ^= b; 2 SipRounds; v0 ^= b
 *   v2 ^= 0xff; 4 SipRounds
 *   result  = v0 ^ v1 ^ v2 ^ v3
 *
 * which is what the numpy reference himitsu.engine.fingerprint.siphash24 computes.
 *
 * CPython C API only (no numpy C API): the arrays come in through the buffer protocol.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "_siphash24.h"

/* The key bytes as a little-endian integer, whatever the machine's byte order. */
static uint64_t
load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24) |
           ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static inline uint64_t
bswap64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_bswap64(x);
#else
    x = ((x & 0x00000000FFFFFFFFULL) << 32) | ((x & 0xFFFFFFFF00000000ULL) >> 32);
    x = ((x & 0x0000FFFF0000FFFFULL) << 16) | ((x & 0xFFFF0000FFFF0000ULL) >> 16);
    x = ((x & 0x00FF00FF00FF00FFULL) << 8) | ((x & 0xFF00FF00FF00FF00ULL) >> 8);
    return x;
#endif
}

/* Byte order of the 64-bit words held by a buffer. */
enum word_order { ORDER_NATIVE, ORDER_LITTLE, ORDER_BIG };

/*
 * Classify a buffer's struct format: 64-bit unsigned words ('Q' with any byte-order prefix, or
 * 'L' with native sizes, where it is 8 bytes), or raw bytes ('B', 'b', 'c', or no format), which
 * are the message bytes themselves, so each 8 of them form a little-endian word.
 * Returns 0, or -1 with TypeError set.
 */
static int
word_order_of(const Py_buffer *view, const char *name, enum word_order *order)
{
    const char *f = view->format == NULL ? "B" : view->format;
    const char *code = f;
    char prefix = '@';

    if (*code == '@' || *code == '=' || *code == '<' || *code == '>' || *code == '!') {
        prefix = *code++;
    }
    if (code[0] != '\0' && code[1] == '\0') {
        if (view->itemsize == 1 && (code[0] == 'B' || code[0] == 'b' || code[0] == 'c')) {
            *order = ORDER_LITTLE;
            return 0;
        }
        if (view->itemsize == 8 && (code[0] == 'Q' || (code[0] == 'L' && prefix == '@'))) {
            switch (prefix) {
            case '<':
                *order = ORDER_LITTLE;
                break;
            case '>':
            case '!':
                *order = ORDER_BIG;
                break;
            default:
                *order = ORDER_NATIVE;
            }
            return 0;
        }
    }
    PyErr_Format(PyExc_TypeError,
                 "%s must be a buffer of uint64 (format 'Q', or 'L' of 8 bytes) or of raw bytes, "
                 "not format '%s' with %zd-byte items",
                 name, f, view->itemsize);
    return -1;
}

/* Whether words stored in this order must be byte-swapped to be read as native integers. */
static int
needs_swap(enum word_order order)
{
#if PY_LITTLE_ENDIAN
    return order == ORDER_BIG;
#else
    return order == ORDER_LITTLE;
#endif
}

static void
hash_all(uint64_t k0, uint64_t k1, const unsigned char *src, unsigned char *dst, Py_ssize_t n,
         int swap_in, int swap_out)
{
    Py_ssize_t i;
    uint64_t m, h;

    if (!swap_in && !swap_out) {
        /* The common case, kept free of branches so that the compiler can pipeline it. */
        for (i = 0; i < n; i++) {
            memcpy(&m, src + 8 * i, 8);
            h = siphash24_u64(k0, k1, m);
            memcpy(dst + 8 * i, &h, 8);
        }
        return;
    }
    for (i = 0; i < n; i++) {
        memcpy(&m, src + 8 * i, 8);
        if (swap_in) {
            m = bswap64(m);
        }
        h = siphash24_u64(k0, k1, m);
        if (swap_out) {
            h = bswap64(h);
        }
        memcpy(dst + 8 * i, &h, 8);
    }
}

PyDoc_STRVAR(siphash24_into_doc,
"siphash24_into(key, data, out, /)\n"
"--\n"
"\n"
"Write SipHash-2-4 of each 64-bit word of data, taken as 8 little-endian message bytes, with\n"
"the 16-byte key, into out.\n"
"\n"
"data is a C-contiguous buffer of uint64 (format 'Q', or 'L' of 8 bytes), or of raw bytes whose\n"
"length is a multiple of 8 (each 8 bytes are one message). out is a writable C-contiguous buffer\n"
"of the same kind and byte length; raw-byte output gets each hash as 8 little-endian bytes.\n"
"out may be data itself (hashing in place) but must not otherwise overlap it.\n"
"The GIL is released while hashing.");

static PyObject *
siphash24_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer key = {0}, data = {0}, out = {0};
    enum word_order in_order, out_order;
    const unsigned char *kp, *src;
    unsigned char *dst;
    uint64_t k0, k1;
    Py_ssize_t n;
    int swap_in, swap_out;
    PyObject *result = NULL;

    (void)module;
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "siphash24_into() takes exactly 3 arguments (key, data, out), %zd given",
                     nargs);
        return NULL;
    }
    /* key: any contiguous bytes-like object, as with "y*". */
    if (PyObject_GetBuffer(args[0], &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        goto done;
    }
    if (PyObject_GetBuffer(args[2], &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        goto done;
    }
    if (key.len != 16) {
        PyErr_Format(PyExc_ValueError, "SipHash-2-4 needs a 16-byte key, got %zd bytes", key.len);
        goto done;
    }
    if (word_order_of(&data, "data", &in_order) < 0 || word_order_of(&out, "out", &out_order) < 0) {
        goto done;
    }
    if (data.len % 8 != 0) {
        PyErr_Format(PyExc_ValueError,
                     "data must hold whole 8-byte messages, but its length (%zd bytes) is not a multiple of 8",
                     data.len);
        goto done;
    }
    if (out.len != data.len) {
        PyErr_Format(PyExc_ValueError,
                     "out must have the length of data: data has %zd uint64 (%zd bytes), out has %zd bytes",
                     data.len / 8, data.len, out.len);
        goto done;
    }
    src = (const unsigned char *)data.buf;
    dst = (unsigned char *)out.buf;
    n = data.len / 8;
    if (n > 0 && src != dst && src < dst + out.len && dst < src + data.len) {
        PyErr_SetString(PyExc_ValueError, "out overlaps data (only out being data itself is allowed)");
        goto done;
    }

    kp = (const unsigned char *)key.buf;
    k0 = load_le64(kp);
    k1 = load_le64(kp + 8);
    swap_in = needs_swap(in_order);
    swap_out = needs_swap(out_order);

    if (n > 0) {
        Py_BEGIN_ALLOW_THREADS
        hash_all(k0, k1, src, dst, n, swap_in, swap_out);
        Py_END_ALLOW_THREADS
    }
    result = Py_NewRef(Py_None);

done:
    if (out.obj != NULL) {
        PyBuffer_Release(&out);
    }
    if (data.obj != NULL) {
        PyBuffer_Release(&data);
    }
    if (key.obj != NULL) {
        PyBuffer_Release(&key);
    }
    return result;
}

static PyMethodDef siphash_methods[] = {
    {"siphash24_into", (PyCFunction)(void (*)(void))siphash24_into, METH_FASTCALL, siphash24_into_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot siphash_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef siphash_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "himitsu.engine._siphash",
    .m_doc = "SipHash-2-4 of arrays of 8-byte messages (see himitsu.engine._fast).",
    .m_size = 0,
    .m_methods = siphash_methods,
    .m_slots = siphash_slots,
};

PyMODINIT_FUNC
PyInit__siphash(void)
{
    return PyModuleDef_Init(&siphash_module);
}
