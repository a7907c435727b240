/*
 * himitsu.engine._xlsx: the text of one XLSX worksheet in one pass over its XML, without building a tree.
 *
 * sheet_text(data, strings) -> (rows, headers, footers) or None. It computes what the lxml reader
 * himitsu.engine.extract.office._sheet_text_lxml computes (which stays the reference and the fallback):
 * rows is one line per <row> holding at least one non-empty cell value, the values joined by tabs (cells
 * outside any row join the pending line); headers and footers are the raw texts of the oddHeader/evenHeader/
 * firstHeader and oddFooter/evenFooter/firstFooter elements in the order they end (the caller applies the
 * header/footer code rules). Elements count by namespace URI (spreadsheetml main), whatever their prefix;
 * "the text" of an element is, as in lxml, the character data (entities, character references and CDATA
 * decoded, line ends normalised) before its first child node (element, comment or processing instruction).
 *
 * It returns None whenever it cannot be sure to give exactly the lxml result: input lxml would reject (not
 * well-formed, not UTF-8 or with characters XML does not allow, an undeclared namespace prefix, ...), a DOCTYPE,
 * an XML declaration naming another encoding or version, names outside ASCII, a namespace name that is not
 * a plain absolute URI (libxml2 refuses some), an xml: attribute other than xml:space and xml:lang (libxml2
 * checks xml:id), the same local attribute name twice in a tag, documents deeper than 100
 * elements or with very long names, text nodes or attribute values (lxml's non-huge limits are far above
 * those), a <c> or <row> inside a <c> (lxml releases rows as it goes, which would change an enclosing cell),
 * a shared-string index that is not ASCII, or a strings list holding something else than str.
 * Every read is bounds-checked against the buffer; the input is never modified.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <ctype.h>
#include <string.h>

#define S_URI "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define XML_URI "http://www.w3.org/XML/1998/namespace"
#define XMLNS_URI "http://www.w3.org/2000/xmlns/"

#define MAX_DEPTH 100
#define MAX_ATTRS 64
#define MAX_BINDINGS 512
#define MAX_NAME 1000
#define MAX_TEXT 5000000 /* bytes of one text node, attribute value, comment or PI (lxml's limit: 10M) */

/* result codes of the internal functions */
#define OK 0
#define REJECT 1  /* return None */
#define FAIL (-1) /* a Python exception is set */

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} sbuf;

static int
sb_grow(sbuf *b, Py_ssize_t extra)
{
    if (extra < 0 || b->len > PY_SSIZE_T_MAX - extra) {
        PyErr_NoMemory();
        return FAIL;
    }
    Py_ssize_t need = b->len + extra;
    if (need <= b->cap)
        return OK;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *nb = PyMem_Realloc(b->buf, (size_t)cap);
    if (nb == NULL) {
        PyErr_NoMemory();
        return FAIL;
    }
    b->buf = nb;
    b->cap = cap;
    return OK;
}

static inline int
sb_put(sbuf *b, const char *p, Py_ssize_t n)
{
    if (n <= 0)
        return OK;
    if (b->cap - b->len < n && sb_grow(b, n) != OK)
        return FAIL;
    memcpy(b->buf + b->len, p, (size_t)n);
    b->len += n;
    return OK;
}

static inline int
sb_putc(sbuf *b, char c)
{
    if (b->len >= b->cap && sb_grow(b, 1) != OK)
        return FAIL;
    b->buf[b->len++] = c;
    return OK;
}

static int
sb_put_cp(sbuf *b, Py_UCS4 cp)
{
    char u[4];
    int n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sb_put(b, u, n);
}

/* UTF-8 of a str; REJECT if it holds a surrogate (cannot come from lxml, but keep the output valid) */
static int
sb_put_str(sbuf *b, PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n == 0)
        return OK;
    if (PyUnicode_IS_ASCII(s))
        return sb_put(b, (const char *)PyUnicode_DATA(s), n);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (n > PY_SSIZE_T_MAX / 4 || sb_grow(b, 4 * n) != OK) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        return FAIL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 cp = PyUnicode_READ(kind, data, i);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return REJECT;
        if (sb_put_cp(b, cp) != OK) /* room reserved above: cannot fail */
            return FAIL;
    }
    return OK;
}

/* the whole input is UTF-8 made of XML 1.0 characters (what libxml2 insists on) */
static int
valid_chars(const unsigned char *p, const unsigned char *e)
{
    while (p < e) {
        if (e - p >= 8) { /* eight ASCII characters from space up at a time */
            uint64_t x;
            memcpy(&x, p, 8);
            if ((x & 0x8080808080808080ull) == 0 &&
                ((x - 0x2020202020202020ull) & ~x & 0x8080808080808080ull) == 0) {
                p += 8;
                continue;
            }
        }
        unsigned char c = *p;
        if (c < 0x80) {
            if (c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D)
                return 0;
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (e - p < 2 || (p[1] & 0xC0) != 0x80)
                return 0;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (e - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
                return 0;
            if (c == 0xE0 && p[1] < 0xA0)
                return 0; /* overlong */
            if (c == 0xED && p[1] > 0x9F)
                return 0; /* surrogate */
            if (c == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
                return 0; /* U+FFFE, U+FFFF */
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (e - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && p[1] < 0x90)
                return 0; /* overlong */
            if (c == 0xF4 && p[1] > 0x8F)
                return 0; /* above U+10FFFF */
            p += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

static inline int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline int
name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int
name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* An ASCII name with at most one colon, neither first nor last: returns its end and the colon's position
   (or -1) through *colon, NULL if there is no such name at p. */
static const char *
parse_name(const char *p, const char *e, Py_ssize_t *colon)
{
    const char *s = p;
    *colon = -1;
    if (p >= e || !name_start(*p))
        return NULL;
    p++;
    while (p < e) {
        char c = *p;
        if (name_char(c)) {
            p++;
        } else if (c == ':') {
            if (*colon >= 0)
                return NULL;
            *colon = p - s;
            p++;
            if (p >= e || !name_start(*p))
                return NULL;
        } else {
            break;
        }
    }
    if (p - s > MAX_NAME)
        return NULL;
    return p;
}

static inline int
valid_xml_char(uint64_t v)
{
    return v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) ||
           (v >= 0x10000 && v <= 0x10FFFF);
}

/* A reference at p ('&'); sets *cp and returns the position after ';', NULL if not a valid reference to a
   predefined entity or to an XML character. */
static const char *
parse_ref(const char *p, const char *e, Py_UCS4 *cp)
{
    p++;
    if (p < e && *p == '#') {
        p++;
        int hex = 0;
        if (p < e && *p == 'x') {
            hex = 1;
            p++;
        }
        uint64_t v = 0;
        int digits = 0;
        while (p < e && digits <= 10) {
            char c = *p;
            int d;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (hex && c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                break;
            v = v * (hex ? 16 : 10) + (uint64_t)d;
            digits++;
            p++;
        }
        if (digits == 0 || digits > 10 || p >= e || *p != ';' || !valid_xml_char(v))
            return NULL;
        *cp = (Py_UCS4)v;
        return p + 1;
    }
    const char *s = p;
    while (p < e && p - s < 5 && ((*p >= 'a' && *p <= 'z')))
        p++;
    if (p >= e || *p != ';')
        return NULL;
    Py_ssize_t n = p - s;
    if (n == 2 && s[0] == 'l' && s[1] == 't')
        *cp = '<';
    else if (n == 2 && s[0] == 'g' && s[1] == 't')
        *cp = '>';
    else if (n == 3 && memcmp(s, "amp", 3) == 0)
        *cp = '&';
    else if (n == 4 && memcmp(s, "apos", 4) == 0)
        *cp = '\'';
    else if (n == 4 && memcmp(s, "quot", 4) == 0)
        *cp = '"';
    else
        return NULL;
    return p + 1;
}

/* Character data [p, e) (no markup inside): checked, and appended decoded to dst when dst is not NULL. */
static int
text_run(const char *p, const char *e, sbuf *dst)
{
    while (p < e) {
        const char *q = p;
        while (q < e && *q != '&' && *q != '\r' && *q != ']')
            q++;
        if (dst && sb_put(dst, p, q - p) != OK)
            return FAIL;
        if (q >= e)
            break;
        if (*q == '&') {
            Py_UCS4 cp;
            p = parse_ref(q, e, &cp);
            if (p == NULL)
                return REJECT;
            if (dst && sb_put_cp(dst, cp) != OK)
                return FAIL;
        } else if (*q == '\r') {
            if (dst && sb_putc(dst, '\n') != OK)
                return FAIL;
            p = q + 1;
            if (p < e && *p == '\n')
                p++;
        } else { /* ']' */
            if (e - q >= 3 && q[1] == ']' && q[2] == '>')
                return REJECT;
            if (dst && sb_putc(dst, ']') != OK)
                return FAIL;
            p = q + 1;
        }
    }
    return OK;
}

/* CDATA content [p, e): line ends normalised */
static int
cdata_run(const char *p, const char *e, sbuf *dst)
{
    while (p < e) {
        const char *q = memchr(p, '\r', (size_t)(e - p));
        if (q == NULL)
            return sb_put(dst, p, e - p);
        if (sb_put(dst, p, q - p) != OK || sb_putc(dst, '\n') != OK)
            return FAIL;
        p = q + 1;
        if (p < e && *p == '\n')
            p++;
    }
    return OK;
}

/* position of the first occurrence of the 2- or 3-byte needle in [p, e), or NULL */
static const char *
find(const char *p, const char *e, const char *needle, Py_ssize_t n)
{
    while (e - p >= n) {
        const char *q = memchr(p, needle[0], (size_t)(e - p - n + 1));
        if (q == NULL)
            return NULL;
        if (memcmp(q, needle, (size_t)n) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}


/* A namespace name lxml surely accepts (libxml2 refuses one that does not parse as a URI): a scheme, an
   authority (if any) of letters, digits, dots and hyphens only, then unreserved and reserved characters
   (brackets excepted), percent-encodings, and at most one '#'. Others are left to lxml. */
static int
safe_uri(const char *u, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (n == 0 || !((u[0] >= 'a' && u[0] <= 'z') || (u[0] >= 'A' && u[0] <= 'Z')))
        return 0;
    while (i < n && ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') || (u[i] >= '0' && u[i] <= '9') ||
                     u[i] == '+' || u[i] == '-' || u[i] == '.'))
        i++;
    if (i >= n || u[i] != ':')
        return 0;
    i++;
    if (n - i >= 2 && u[i] == '/' && u[i + 1] == '/') {
        i += 2;
        while (i < n && u[i] != '/' && u[i] != '?' && u[i] != '#') {
            char c = u[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
                return 0;
            i++;
        }
    }
    int hashes = 0;
    for (; i < n; i++) {
        char c = u[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '%') {
            if (n - i < 3 || !isxdigit((unsigned char)u[i + 1]) || !isxdigit((unsigned char)u[i + 2]))
                return 0;
            i += 2;
            continue;
        }
        if (c == '#') {
            if (++hashes > 1)
                return 0;
            continue;
        }
        if (strchr("-._~!$&'()*+,;=:@/?", c) == NULL || c == '\0')
            return 0;
    }
    return 1;
}

typedef struct {
    const char *name;
    Py_ssize_t nlen, colon;
    const char *val; /* raw value, between the quotes */
    Py_ssize_t vlen;
    int plain; /* no reference and no whitespace to normalise: the raw value is the value */
} attr;

typedef struct {
    const char *prefix; /* NULL for the default namespace */
    Py_ssize_t plen;
    int is_s; /* bound to the spreadsheetml namespace */
} binding;

enum { R_NONE, R_ROW, R_CELL, R_V, R_IS, R_T, R_HEADER, R_FOOTER };
enum { CAP_NONE, CAP_V, CAP_T, CAP_HF };
enum { K_OTHER, K_S, K_B };

typedef struct {
    const char *qname;
    Py_ssize_t qlen;
    int nbind;
    int role;
    int is_rph;
    int first_t;
    Py_ssize_t cap_start, cap_len;
} elem;

typedef struct {
    PyObject *strings; /* list */
    elem stack[MAX_DEPTH + 1];
    int depth;
    binding bindings[MAX_BINDINGS];
    int nbindings;
    attr attrs[MAX_ATTRS];
    int cap; /* CAP_*: the top element is taking its text */
    Py_ssize_t textlen; /* bytes of the current text node */
    /* the open cell */
    int in_cell, cell_depth, kind, decided, is_open, is_depth, is_children, is_first_t;
    Py_ssize_t first_t_len;
    sbuf cell, is, hf, out, tmp;
    int row_has;
    Py_ssize_t lines;
    PyObject *headers, *footers;
} parser;

/* the value of an attribute, decoded and normalised, in p->tmp */
static int
attr_value(parser *ps, const attr *a)
{
    ps->tmp.len = 0;
    const char *p = a->val, *e = a->val + a->vlen;
    while (p < e) {
        char c = *p;
        if (c == '&') {
            Py_UCS4 cp;
            p = parse_ref(p, e, &cp);
            if (p == NULL)
                return REJECT;
            if (sb_put_cp(&ps->tmp, cp) != OK)
                return FAIL;
            continue;
        }
        if (c == '\r' && p + 1 < e && p[1] == '\n')
            p++;
        if (is_space(c))
            c = ' ';
        if (sb_putc(&ps->tmp, c) != OK)
            return FAIL;
        p++;
    }
    return OK;
}

static int
value_is(parser *ps, const attr *a, const char *s, Py_ssize_t *result)
{
    /* *result = 1 when the attribute's value equals s */
    Py_ssize_t n = (Py_ssize_t)strlen(s);
    if (a->plain) {
        *result = a->vlen == n && memcmp(a->val, s, (size_t)n) == 0;
        return OK;
    }
    int rc = attr_value(ps, a);
    if (rc != OK)
        return rc;
    *result = ps->tmp.len == n && memcmp(ps->tmp.buf, s, (size_t)n) == 0;
    return OK;
}

/* the binding of a prefix (NULL: the default namespace), or NULL */
static const binding *
lookup(parser *ps, const char *prefix, Py_ssize_t plen)
{
    for (int i = ps->nbindings - 1; i >= 0; i--) {
        const binding *b = &ps->bindings[i];
        if (prefix == NULL) {
            if (b->prefix == NULL)
                return b;
        } else if (b->prefix != NULL && b->plen == plen && memcmp(b->prefix, prefix, (size_t)plen) == 0) {
            return b;
        }
    }
    return NULL;
}

/* the top element got a child node (element, comment or PI): its text is complete */
static void
end_capture(parser *ps)
{
    if (ps->cap == CAP_NONE)
        return;
    elem *top = &ps->stack[ps->depth - 1];
    if (ps->cap == CAP_T && top->first_t)
        ps->first_t_len = ps->is.len;
    else if (ps->cap == CAP_HF)
        top->cap_len = ps->hf.len - top->cap_start;
    ps->cap = CAP_NONE;
}

static void
child_node(parser *ps)
{
    end_capture(ps);
    if (ps->in_cell && ps->is_open && ps->depth == ps->is_depth)
        ps->is_children++;
}

/* the separator before a non-empty value: a tab inside a row, a line break before a new row's first value */
static int
begin_value(parser *ps)
{
    if (ps->row_has)
        return sb_putc(&ps->out, '\t');
    ps->row_has = 1;
    return ps->lines > 0 ? sb_putc(&ps->out, '\n') : OK;
}

static int
add_value(parser *ps, const char *v, Py_ssize_t n)
{
    if (n <= 0)
        return OK;
    if (begin_value(ps) != OK)
        return FAIL;
    return sb_put(&ps->out, v, n);
}

static inline int
is_digit_cp(Py_UCS4 cp)
{
    return Py_UNICODE_ISDIGIT(cp);
}

/* str.isdigit() of the UTF-8 text [p, e) (empty: false) */
static int
all_digits(const unsigned char *p, const unsigned char *e)
{
    if (p >= e)
        return 0;
    while (p < e) {
        Py_UCS4 cp;
        unsigned char c = *p;
        if (c < 0x80) {
            cp = c;
            p += 1;
        } else if (c < 0xE0) {
            if (e - p < 2)
                return 0;
            cp = ((Py_UCS4)(c & 0x1F) << 6) | (p[1] & 0x3F);
            p += 2;
        } else if (c < 0xF0) {
            if (e - p < 3)
                return 0;
            cp = ((Py_UCS4)(c & 0x0F) << 12) | ((Py_UCS4)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
            p += 3;
        } else {
            if (e - p < 4)
                return 0;
            cp = ((Py_UCS4)(c & 0x07) << 18) | ((Py_UCS4)(p[1] & 0x3F) << 12) | ((Py_UCS4)(p[2] & 0x3F) << 6) |
                 (p[3] & 0x3F);
            p += 4;
        }
        if (!is_digit_cp(cp))
            return 0;
    }
    return 1;
}

/* the end of the open cell: its value joins the pending line (office._cell) */
static int
end_cell(parser *ps)
{
    ps->in_cell = 0;
    if (ps->decided == 2) {
        Py_ssize_t n = (ps->is_children == 1 && ps->is_first_t) ? ps->first_t_len : ps->is.len;
        if (n > ps->is.len)
            n = ps->is.len;
        return add_value(ps, ps->is.buf, n);
    }
    if (ps->decided != 1)
        return OK;
    const char *v = ps->cell.buf;
    Py_ssize_t n = ps->cell.len;
    if (ps->kind == K_S) {
        if (n == 0)
            return OK;
        Py_ssize_t i;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)v[i];
            if (c >= 0x80)
                return REJECT; /* int() of non-ASCII digits: let Python decide */
            if (c < '0' || c > '9')
                return OK; /* not isdigit(): empty */
        }
        Py_ssize_t size = PyList_GET_SIZE(ps->strings);
        Py_ssize_t index = 0;
        for (i = 0; i < n; i++) {
            index = index * 10 + (v[i] - '0');
            if (index >= size)
                return OK; /* out of range: empty */
        }
        PyObject *s = PyList_GET_ITEM(ps->strings, index);
        if (!PyUnicode_Check(s))
            return REJECT;
        if (PyUnicode_GET_LENGTH(s) == 0)
            return OK;
        /* the value goes straight into the output */
        if (begin_value(ps) != OK)
            return FAIL;
        return sb_put_str(&ps->out, s);
    }
    if (ps->kind == K_B) {
        if (n == 1 && v[0] == '1')
            return add_value(ps, "TRUE", 4);
        return add_value(ps, "FALSE", 5);
    }
    if (n >= 2 && v[n - 2] == '.' && v[n - 1] == '0') {
        const char *d = v;
        while (d < v + n - 2 && *d == '-')
            d++;
        if (all_digits((const unsigned char *)d, (const unsigned char *)(v + n - 2)))
            return add_value(ps, v, n - 2);
    }
    return add_value(ps, v, n);
}

static int
end_element(parser *ps)
{
    end_capture(ps);
    elem *top = &ps->stack[ps->depth - 1];
    int rc = OK;
    switch (top->role) {
    case R_ROW:
        if (ps->row_has) {
            ps->lines++;
            ps->row_has = 0;
        }
        break;
    case R_CELL:
        rc = end_cell(ps);
        break;
    case R_IS:
        ps->is_open = 0;
        break;
    case R_HEADER:
    case R_FOOTER: {
        Py_ssize_t start = top->cap_start, n = top->cap_len;
        if (start < 0 || n < 0 || start + n > ps->hf.len)
            return REJECT; /* cannot happen */
        PyObject *s = PyUnicode_DecodeUTF8(ps->hf.buf + start, n, NULL);
        if (s == NULL)
            return FAIL;
        int err = PyList_Append(top->role == R_HEADER ? ps->headers : ps->footers, s);
        Py_DECREF(s);
        if (err < 0)
            return FAIL;
        ps->hf.len = start;
        break;
    }
    default:
        break;
    }
    ps->nbindings -= top->nbind;
    ps->depth--;
    ps->textlen = 0;
    return rc;
}

#define LOCAL_IS(s) (llen == (Py_ssize_t)(sizeof(s) - 1) && memcmp(local, s, sizeof(s) - 1) == 0)

/* a start tag at p ('<' then a name); *pp is moved past it */
static int
start_tag(parser *ps, const char **pp, const char *e)
{
    const char *p = *pp + 1;
    Py_ssize_t colon;
    const char *qname = p;
    p = parse_name(p, e, &colon);
    if (p == NULL)
        return REJECT;
    Py_ssize_t qlen = p - qname;
    int nattrs = 0, empty = 0;
    for (;;) {
        int ws = 0;
        while (p < e && is_space(*p)) {
            p++;
            ws = 1;
        }
        if (p >= e)
            return REJECT;
        if (*p == '>') {
            p++;
            break;
        }
        if (*p == '/') {
            if (p + 1 < e && p[1] == '>') {
                p += 2;
                empty = 1;
                break;
            }
            return REJECT;
        }
        if (!ws || nattrs >= MAX_ATTRS)
            return REJECT;
        attr *a = &ps->attrs[nattrs++];
        a->name = p;
        p = parse_name(p, e, &a->colon);
        if (p == NULL)
            return REJECT;
        a->nlen = p - a->name;
        while (p < e && is_space(*p))
            p++;
        if (p >= e || *p != '=')
            return REJECT;
        p++;
        while (p < e && is_space(*p))
            p++;
        if (p >= e || (*p != '"' && *p != '\''))
            return REJECT;
        char quote = *p++;
        const char *v = p;
        const char *q = memchr(p, quote, (size_t)(e - p));
        if (q == NULL || q - v > MAX_TEXT)
            return REJECT;
        a->val = v;
        a->vlen = q - v;
        a->plain = 1;
        for (const char *r = v; r < q; r++) {
            char c = *r;
            if (c == '<')
                return REJECT;
            if (c == '&') {
                Py_UCS4 cp;
                const char *after = parse_ref(r, q, &cp);
                if (after == NULL)
                    return REJECT;
                r = after - 1;
                a->plain = 0;
            } else if (c == '\t' || c == '\n' || c == '\r') {
                a->plain = 0;
            }
        }
        p = q + 1;
    }
    if (ps->depth >= MAX_DEPTH)
        return REJECT;
    child_node(ps);

    /* namespace declarations, then the names */
    int nbind = 0;
    for (int i = 0; i < nattrs; i++) {
        attr *a = &ps->attrs[i];
        const char *prefix;
        Py_ssize_t plen;
        if (a->colon < 0 && a->nlen == 5 && memcmp(a->name, "xmlns", 5) == 0) {
            prefix = NULL;
            plen = 0;
        } else if (a->colon == 5 && memcmp(a->name, "xmlns", 5) == 0) {
            prefix = a->name + 6;
            plen = a->nlen - 6;
            if ((plen == 3 && memcmp(prefix, "xml", 3) == 0) || (plen == 5 && memcmp(prefix, "xmlns", 5) == 0))
                return REJECT;
        } else {
            continue;
        }
        for (int j = ps->nbindings - nbind; j < ps->nbindings; j++) { /* declared twice in one tag */
            const binding *b = &ps->bindings[j];
            if ((prefix == NULL) == (b->prefix == NULL) &&
                (prefix == NULL || (b->plen == plen && memcmp(b->prefix, prefix, (size_t)plen) == 0)))
                return REJECT;
        }
        int rc = attr_value(ps, a);
        if (rc != OK)
            return rc;
        const char *uri = ps->tmp.buf;
        Py_ssize_t ulen = ps->tmp.len;
        if ((prefix != NULL || ulen > 0) && !safe_uri(uri, ulen))
            return REJECT; /* also xmlns:p="" */
        if ((ulen == (Py_ssize_t)strlen(XML_URI) && memcmp(uri, XML_URI, (size_t)ulen) == 0) ||
            (ulen == (Py_ssize_t)strlen(XMLNS_URI) && memcmp(uri, XMLNS_URI, (size_t)ulen) == 0))
            return REJECT;
        if (ps->nbindings >= MAX_BINDINGS)
            return REJECT;
        binding *b = &ps->bindings[ps->nbindings++];
        nbind++;
        b->prefix = prefix;
        b->plen = plen;
        b->is_s = ulen == (Py_ssize_t)strlen(S_URI) && memcmp(uri, S_URI, (size_t)ulen) == 0;
    }
    /* push now, so that an early return leaves the bindings with their element */
    elem *parent = ps->depth > 0 ? &ps->stack[ps->depth - 1] : NULL;
    elem *el = &ps->stack[ps->depth++];
    el->qname = qname;
    el->qlen = qlen;
    el->nbind = nbind;
    el->role = R_NONE;
    el->is_rph = 0;
    el->first_t = 0;
    el->cap_start = el->cap_len = 0;
    ps->textlen = 0;

    const attr *t_attr = NULL;
    for (int i = 0; i < nattrs; i++) {
        attr *a = &ps->attrs[i];
        if (a->nlen >= 5 && memcmp(a->name, "xmlns", 5) == 0 && (a->nlen == 5 || a->colon == 5))
            continue;
        if (a->colon >= 0) {
            if (a->colon == 5 && memcmp(a->name, "xmlns", 5) == 0)
                continue;
            if (a->colon == 3 && memcmp(a->name, "xml", 3) == 0) {
                /* libxml2 checks some xml: attributes (xml:id must be an NCName): only these two pass */
                if (!(a->nlen == 9 && memcmp(a->name + 4, "space", 5) == 0) &&
                    !(a->nlen == 8 && memcmp(a->name + 4, "lang", 4) == 0))
                    return REJECT;
            } else if (lookup(ps, a->name, a->colon) == NULL) {
                return REJECT; /* undeclared prefix */
            }
        } else if (a->nlen == 1 && a->name[0] == 't') {
            t_attr = a;
        }
        /* the same local name twice (conservative: lxml only refuses the same expanded name) */
        const char *local = a->colon >= 0 ? a->name + a->colon + 1 : a->name;
        Py_ssize_t llen = a->colon >= 0 ? a->nlen - a->colon - 1 : a->nlen;
        for (int j = 0; j < i; j++) {
            const attr *o = &ps->attrs[j];
            if (o->nlen >= 5 && memcmp(o->name, "xmlns", 5) == 0 && (o->nlen == 5 || o->colon == 5))
                continue;
            const char *ol = o->colon >= 0 ? o->name + o->colon + 1 : o->name;
            Py_ssize_t on = o->colon >= 0 ? o->nlen - o->colon - 1 : o->nlen;
            if (on == llen && memcmp(ol, local, (size_t)llen) == 0)
                return REJECT;
        }
    }

    const binding *b;
    const char *local;
    Py_ssize_t llen;
    if (colon >= 0) {
        if ((colon == 3 && memcmp(qname, "xml", 3) == 0) || (colon == 5 && memcmp(qname, "xmlns", 5) == 0))
            return REJECT;
        b = lookup(ps, qname, colon);
        if (b == NULL)
            return REJECT;
        local = qname + colon + 1;
        llen = qlen - colon - 1;
    } else {
        b = lookup(ps, NULL, 0);
        local = qname;
        llen = qlen;
    }
    int is_s = b != NULL && b->is_s;
    int depth = ps->depth; /* of this element */

    if (is_s) {
        if (LOCAL_IS("row")) {
            if (ps->in_cell)
                return REJECT;
            el->role = R_ROW;
        } else if (LOCAL_IS("c")) {
            if (ps->in_cell)
                return REJECT;
            el->role = R_CELL;
            ps->in_cell = 1;
            ps->cell_depth = depth;
            ps->kind = K_OTHER;
            ps->decided = 0;
            ps->is_open = 0;
            if (t_attr != NULL) {
                Py_ssize_t yes;
                int rc = value_is(ps, t_attr, "s", &yes);
                if (rc != OK)
                    return rc;
                if (yes) {
                    ps->kind = K_S;
                } else {
                    rc = value_is(ps, t_attr, "b", &yes);
                    if (rc != OK)
                        return rc;
                    if (yes)
                        ps->kind = K_B;
                }
            }
        } else if (ps->in_cell && !ps->decided && depth == ps->cell_depth + 1 && LOCAL_IS("v")) {
            el->role = R_V;
            ps->decided = 1;
            ps->cell.len = 0;
            ps->cap = CAP_V;
        } else if (ps->in_cell && !ps->decided && depth == ps->cell_depth + 1 && LOCAL_IS("is")) {
            el->role = R_IS;
            ps->decided = 2;
            ps->is_open = 1;
            ps->is_depth = depth;
            ps->is_children = 0;
            ps->is_first_t = 0;
            ps->first_t_len = 0;
            ps->is.len = 0;
        } else if (LOCAL_IS("t")) {
            if (ps->in_cell && ps->is_open && !(parent != NULL && parent->is_rph)) {
                el->role = R_T;
                if (depth == ps->is_depth + 1 && ps->is_children == 1) {
                    ps->is_first_t = 1;
                    el->first_t = 1;
                }
                ps->cap = CAP_T;
            }
        } else if (LOCAL_IS("rPh")) {
            el->is_rph = 1;
        } else if (LOCAL_IS("oddHeader") || LOCAL_IS("evenHeader") || LOCAL_IS("firstHeader") ||
                   LOCAL_IS("oddFooter") || LOCAL_IS("evenFooter") || LOCAL_IS("firstFooter")) {
            el->role = local[llen - 6] == 'H' ? R_HEADER : R_FOOTER;
            el->cap_start = ps->hf.len;
            ps->cap = CAP_HF;
        }
    }
    *pp = p;
    if (empty)
        return end_element(ps);
    return OK;
}

/* a comment or PI at p; *pp moved past it */
static int
comment(const char **pp, const char *e)
{
    const char *p = *pp + 4;
    const char *q = find(p, e, "--", 2);
    if (q == NULL || q + 2 >= e || q[2] != '>' || q - p > MAX_TEXT)
        return REJECT;
    *pp = q + 3;
    return OK;
}

static int
pi(const char **pp, const char *e)
{
    const char *p = *pp + 2;
    Py_ssize_t colon;
    const char *name = p;
    p = parse_name(p, e, &colon);
    if (p == NULL || colon >= 0)
        return REJECT;
    if (p - name >= 3 && (name[0] | 0x20) == 'x' && (name[1] | 0x20) == 'm' && (name[2] | 0x20) == 'l')
        return REJECT;
    if (e - p >= 2 && p[0] == '?' && p[1] == '>') {
        *pp = p + 2;
        return OK;
    }
    if (p >= e || !is_space(*p))
        return REJECT;
    const char *q = find(p, e, "?>", 2);
    if (q == NULL || q - p > MAX_TEXT)
        return REJECT;
    *pp = q + 2;
    return OK;
}

static int
match_lit(const char **pp, const char *e, const char *lit)
{
    Py_ssize_t n = (Py_ssize_t)strlen(lit);
    if (e - *pp < n || memcmp(*pp, lit, (size_t)n) != 0)
        return 0;
    *pp += n;
    return 1;
}

static void
skip_space(const char **pp, const char *e)
{
    while (*pp < e && is_space(**pp))
        (*pp)++;
}

/* S? '=' S? quote value quote; the value's span */
static int
decl_value(const char **pp, const char *e, const char **v, Py_ssize_t *n)
{
    skip_space(pp, e);
    if (!match_lit(pp, e, "="))
        return 0;
    skip_space(pp, e);
    if (*pp >= e || (**pp != '"' && **pp != '\''))
        return 0;
    char quote = *(*pp)++;
    const char *q = memchr(*pp, quote, (size_t)(e - *pp));
    if (q == NULL)
        return 0;
    *v = *pp;
    *n = q - *pp;
    *pp = q + 1;
    return 1;
}

/* <?xml version="1.0" encoding="UTF-8" standalone="yes"?> with only version 1.0 and encoding UTF-8 */
static int
xml_decl(const char **pp, const char *e)
{
    const char *p = *pp + 5, *v;
    Py_ssize_t n;
    const char *before = p;
    skip_space(&p, e);
    if (p == before || !match_lit(&p, e, "version") || !decl_value(&p, e, &v, &n) || n != 3 ||
        memcmp(v, "1.0", 3) != 0)
        return REJECT;
    before = p;
    skip_space(&p, e);
    if (p > before && match_lit(&p, e, "encoding")) {
        if (!decl_value(&p, e, &v, &n) || n != 5 || (v[0] | 0x20) != 'u' || (v[1] | 0x20) != 't' ||
            (v[2] | 0x20) != 'f' || v[3] != '-' || v[4] != '8')
            return REJECT;
        before = p;
        skip_space(&p, e);
    }
    if (p > before && match_lit(&p, e, "standalone")) {
        if (!decl_value(&p, e, &v, &n) || !((n == 3 && memcmp(v, "yes", 3) == 0) || (n == 2 && memcmp(v, "no", 2) == 0)))
            return REJECT;
        skip_space(&p, e);
    }
    if (!match_lit(&p, e, "?>"))
        return REJECT;
    *pp = p;
    return OK;
}

/* comments, PIs and whitespace outside the root element; stops at '<' of an element or the end */
static int
misc(const char **pp, const char *e)
{
    for (;;) {
        skip_space(pp, e);
        if (*pp >= e)
            return OK;
        const char *p = *pp;
        if (*p != '<')
            return REJECT;
        int rc;
        if (e - p >= 4 && memcmp(p, "<!--", 4) == 0)
            rc = comment(pp, e);
        else if (e - p >= 2 && p[1] == '?')
            rc = pi(pp, e);
        else if (e - p >= 2 && p[1] == '!')
            return REJECT; /* DOCTYPE, CDATA outside the root */
        else
            return OK;
        if (rc != OK)
            return rc;
    }
}

static int
parse(parser *ps, const char *p, const char *e)
{
    if (e - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    if (!valid_chars((const unsigned char *)p, (const unsigned char *)e))
        return REJECT;
    if (e - p >= 6 && memcmp(p, "<?xml", 5) == 0 && is_space(p[5])) {
        int rc = xml_decl(&p, e);
        if (rc != OK)
            return rc;
    }
    int rc = misc(&p, e);
    if (rc != OK)
        return rc;
    if (p >= e)
        return REJECT; /* no root element */
    rc = start_tag(ps, &p, e);
    if (rc != OK)
        return rc;
    while (ps->depth > 0) {
        if (p >= e)
            return REJECT;
        if (*p != '<') {
            const char *q = memchr(p, '<', (size_t)(e - p));
            if (q == NULL)
                return REJECT;
            ps->textlen += q - p;
            if (ps->textlen > MAX_TEXT)
                return REJECT;
            sbuf *dst = ps->cap == CAP_V ? &ps->cell : ps->cap == CAP_T ? &ps->is : ps->cap == CAP_HF ? &ps->hf : NULL;
            rc = text_run(p, q, dst);
            if (rc != OK)
                return rc;
            p = q;
            continue;
        }
        if (e - p < 2)
            return REJECT;
        char c = p[1];
        if (c == '/') {
            elem *top = &ps->stack[ps->depth - 1];
            const char *name = p + 2;
            if (e - name < top->qlen || memcmp(name, top->qname, (size_t)top->qlen) != 0)
                return REJECT;
            p = name + top->qlen;
            skip_space(&p, e);
            if (p >= e || *p != '>')
                return REJECT;
            p++;
            rc = end_element(ps);
        } else if (c == '!') {
            if (e - p >= 4 && memcmp(p, "<!--", 4) == 0) {
                rc = comment(&p, e);
                if (rc == OK)
                    child_node(ps);
            } else if (e - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
                const char *s = p + 9;
                const char *q = find(s, e, "]]>", 3);
                if (q == NULL)
                    return REJECT;
                ps->textlen += q - s;
                if (ps->textlen > MAX_TEXT)
                    return REJECT;
                sbuf *dst = ps->cap == CAP_V ? &ps->cell : ps->cap == CAP_T ? &ps->is : ps->cap == CAP_HF ? &ps->hf : NULL;
                rc = dst ? cdata_run(s, q, dst) : OK;
                p = q + 3;
            } else {
                return REJECT;
            }
        } else if (c == '?') {
            rc = pi(&p, e);
            if (rc == OK)
                child_node(ps);
        } else {
            rc = start_tag(ps, &p, e);
        }
        if (rc != OK)
            return rc;
    }
    return misc(&p, e) != OK || p != e ? REJECT : OK;
}

static PyObject *
sheet_text(PyObject *self, PyObject *args)
{
    Py_buffer data;
    PyObject *strings;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*O!", &data, &PyList_Type, &strings))
        return NULL;
    PyObject *result = NULL;
    parser *ps = PyMem_Calloc(1, sizeof(parser));
    if (ps == NULL) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    ps->strings = strings;
    ps->headers = PyList_New(0);
    ps->footers = PyList_New(0);
    if (ps->headers == NULL || ps->footers == NULL)
        goto done;
    int rc = parse(ps, (const char *)data.buf, (const char *)data.buf + data.len);
    if (rc == FAIL)
        goto done;
    if (rc == REJECT) {
        PyErr_Clear();
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *rows = PyUnicode_DecodeUTF8(ps->out.buf ? ps->out.buf : "", ps->out.len, NULL);
    if (rows == NULL)
        goto done;
    result = PyTuple_Pack(3, rows, ps->headers, ps->footers);
    Py_DECREF(rows);
done:
    Py_XDECREF(ps->headers);
    Py_XDECREF(ps->footers);
    PyMem_Free(ps->cell.buf);
    PyMem_Free(ps->is.buf);
    PyMem_Free(ps->hf.buf);
    PyMem_Free(ps->out.buf);
    PyMem_Free(ps->tmp.buf);
    PyMem_Free(ps);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"sheet_text", sheet_text, METH_VARARGS,
     "sheet_text(data, strings) -> (rows, headers, footers) or None: the text of one worksheet's XML, as "
     "himitsu.engine.extract.office reads it with lxml; None when the input needs the lxml reader."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_xlsx", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__xlsx(void)
{
    return PyModule_Create(&module);
}
