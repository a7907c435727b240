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

/*
 * A buffer argument checked for item size and length: 0, or -1 with an exception set.
 */
static int
get_array(PyObject *obj, Py_buffer *view, const char *name, Py_ssize_t itemsize, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);

    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    if (view->itemsize != itemsize || view->len % itemsize != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous buffer of %zd-byte items", name, itemsize);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

/* bits of the keyed hash kept per k-gram as its signature value (fingerprint.SIGNATURE_BITS) */
#define SIGNATURE_BITS 2

/* T[c]: the table for the BMP, SipHash-2-4 under the character key beyond it. */
static inline uint64_t
char_value(const uint64_t *table, uint64_t c0, uint64_t c1, uint32_t c)
{
    return c < 0x10000u ? table[c] : siphash24_u64(c0, c1, (uint64_t)c);
}

struct probe_args {
    const uint64_t *table;
    const uint32_t *cps;
    Py_ssize_t n, k;
    uint64_t base, top, c0, c1, o0, o1, limit;
    uint64_t *rolling;
    int64_t *picked;
    uint64_t *hashes;
    unsigned char *signature, *known;
    Py_ssize_t capacity; /* items of picked and of hashes */
};

/* The rolling hash of every k-gram: r_0 by Horner's rule, then r_{i+1} = r_i * B + T[c_{i+k}] - T[c_i] * B^k
 * (mod 2**64); reads cps[0 .. n) only. */
static void
rolling_all(const struct probe_args *a, int astral)
{
    const uint64_t *table = a->table;
    const uint32_t *cps = a->cps;
    const uint64_t base = a->base, basek = a->top * a->base, c0 = a->c0, c1 = a->c1;
    const Py_ssize_t k = a->k, kgrams = a->n - a->k + 1;
    uint64_t *rolling = a->rolling;
    uint64_t r = 0;
    Py_ssize_t i;

    for (i = 0; i < k; i++) {
        r = r * base + char_value(table, c0, c1, cps[i]);
    }
    rolling[0] = r;
    if (astral) {
        for (i = 1; i < kgrams; i++) {
            r = r * base + (char_value(table, c0, c1, cps[i + k - 1]) - char_value(table, c0, c1, cps[i - 1]) * basek);
            rolling[i] = r;
        }
    } else {
        for (i = 1; i < kgrams; i++) {
            r = r * base + (table[cps[i + k - 1]] - table[cps[i - 1]] * basek);
            rolling[i] = r;
        }
    }
}

/* Rolling hashes, then the k-grams whose top 32 bits lie below limit (without branching on them), then
 * their keyed hash (independent hashes, which the processor overlaps). */
static Py_ssize_t
probe_all(const struct probe_args *a, int astral)
{
    const Py_ssize_t kgrams = a->n - a->k + 1;
    const uint64_t *rolling = a->rolling;
    const uint64_t limit = a->limit, o0 = a->o0, o1 = a->o1;
    int64_t *picked = a->picked;
    uint64_t *hashes = a->hashes;
    unsigned char *signature = a->signature, *known = a->known;
    Py_ssize_t i, count = 0;

    rolling_all(a, astral);
    for (i = 0; i < kgrams; i++) {
        int take = (rolling[i] >> 32) < limit;
        if (count < a->capacity) {
            picked[count] = (int64_t)i;
        }
        known[i] = (unsigned char)take;
        signature[i] = 0;
        count += take;
    }
    if (count > a->capacity) {
        return count; /* the caller retries with room for count */
    }
    for (i = 0; i < count; i++) {
        uint64_t h = siphash24_u64(o0, o1, rolling[picked[i]]);
        hashes[i] = h;
        signature[picked[i]] = (unsigned char)(h >> (64 - SIGNATURE_BITS));
    }
    return count;
}

PyDoc_STRVAR(probe_into_doc,
"probe_into(table, cps, k, base, char_key, out_key, limit, rolling, picked, hashes, signature, known, /)\n"
"--\n"
"\n"
"The probe of a normalised text in one pass. table: 65536 uint64 character values (the BMP);\n"
"cps: uint32 code points; a code point beyond the BMP gets SipHash-2-4 under char_key. Writes the\n"
"rolling hash r_i = sum_j T[c_{i+j}] * base**(k-1-j) mod 2**64 of every k-gram into rolling\n"
"(len(cps) - k + 1 uint64), and for each k-gram with (r_i >> 32) < limit, in order, its index into\n"
"picked (int64) and SipHash-2-4 of r_i under out_key into hashes (of equal length, any).\n"
"signature and known (one byte per k-gram): the hash's top SIGNATURE_BITS bits and 1 for a picked\n"
"k-gram, 0 and 0 otherwise. Returns how many were picked; when that exceeds the length of picked,\n"
"picked, hashes, signature and known are incomplete (call again with room for them).\n"
"The GIL is released while hashing.");

static PyObject *
probe_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer tab = {0}, cps = {0}, ck = {0}, ok = {0}, roll = {0}, pick = {0}, hsh = {0}, sig = {0}, kno = {0};
    struct probe_args a;
    Py_ssize_t count = 0, kgrams, i;
    int astral = 0;
    unsigned long long base, limit;
    PyObject *result = NULL;

    (void)module;
    if (nargs != 12) {
        PyErr_Format(PyExc_TypeError, "probe_into() takes exactly 12 arguments, %zd given", nargs);
        return NULL;
    }
    a.k = PyLong_AsSsize_t(args[2]);
    if (a.k == -1 && PyErr_Occurred()) {
        return NULL;
    }
    base = PyLong_AsUnsignedLongLong(args[3]);
    if (base == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    limit = PyLong_AsUnsignedLongLong(args[6]);
    if (limit == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    if (a.k < 1) {
        PyErr_SetString(PyExc_ValueError, "k must be positive");
        return NULL;
    }
    if (get_array(args[0], &tab, "table", 8, 0) < 0 || get_array(args[1], &cps, "cps", 4, 0) < 0 ||
        get_array(args[4], &ck, "char_key", 1, 0) < 0 || get_array(args[5], &ok, "out_key", 1, 0) < 0 ||
        get_array(args[7], &roll, "rolling", 8, 1) < 0 || get_array(args[8], &pick, "picked", 8, 1) < 0 ||
        get_array(args[9], &hsh, "hashes", 8, 1) < 0 || get_array(args[10], &sig, "signature", 1, 1) < 0 ||
        get_array(args[11], &kno, "known", 1, 1) < 0) {
        goto done;
    }
    if (ck.len != 16 || ok.len != 16) {
        PyErr_SetString(PyExc_ValueError, "SipHash-2-4 needs 16-byte keys");
        goto done;
    }
    if (tab.len != 8 * 0x10000) {
        PyErr_SetString(PyExc_ValueError, "table must hold 65536 uint64");
        goto done;
    }
    a.n = cps.len / 4;
    kgrams = a.n >= a.k ? a.n - a.k + 1 : 0;
    if (roll.len / 8 != kgrams || pick.len != hsh.len || sig.len != kgrams || kno.len != kgrams) {
        PyErr_Format(PyExc_ValueError,
                     "rolling, signature and known must hold %zd items, and picked as many as hashes", kgrams);
        goto done;
    }
    a.table = (const uint64_t *)tab.buf;
    a.cps = (const uint32_t *)cps.buf;
    for (i = 0; i < a.n; i++) {
        if (a.cps[i] > 0x10FFFFu) {
            PyErr_SetString(PyExc_ValueError, "cps holds a value beyond U+10FFFF");
            goto done;
        }
        astral |= a.cps[i] >= 0x10000u;
    }
    a.base = (uint64_t)base;
    a.limit = (uint64_t)limit;
    a.top = 1;
    for (i = 1; i < a.k; i++) {
        a.top *= a.base;
    }
    a.c0 = load_le64((const unsigned char *)ck.buf);
    a.c1 = load_le64((const unsigned char *)ck.buf + 8);
    a.o0 = load_le64((const unsigned char *)ok.buf);
    a.o1 = load_le64((const unsigned char *)ok.buf + 8);
    a.rolling = (uint64_t *)roll.buf;
    a.picked = (int64_t *)pick.buf;
    a.hashes = (uint64_t *)hsh.buf;
    a.capacity = pick.len / 8;
    a.signature = (unsigned char *)sig.buf;
    a.known = (unsigned char *)kno.buf;
    if (kgrams > 0) {
        Py_BEGIN_ALLOW_THREADS
        count = probe_all(&a, astral);
        Py_END_ALLOW_THREADS
    }
    result = PyLong_FromSsize_t(count);

done:
    if (tab.obj != NULL) PyBuffer_Release(&tab);
    if (cps.obj != NULL) PyBuffer_Release(&cps);
    if (ck.obj != NULL) PyBuffer_Release(&ck);
    if (ok.obj != NULL) PyBuffer_Release(&ok);
    if (roll.obj != NULL) PyBuffer_Release(&roll);
    if (pick.obj != NULL) PyBuffer_Release(&pick);
    if (hsh.obj != NULL) PyBuffer_Release(&hsh);
    if (sig.obj != NULL) PyBuffer_Release(&sig);
    if (kno.obj != NULL) PyBuffer_Release(&kno);
    return result;
}

static PyMethodDef siphash_methods[] = {
    {"siphash24_into", (PyCFunction)(void (*)(void))siphash24_into, METH_FASTCALL, siphash24_into_doc},
    {"probe_into", (PyCFunction)(void (*)(void))probe_into, METH_FASTCALL, probe_into_doc},
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
