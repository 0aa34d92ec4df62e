/* Row counts in SPARQL JSON results, exactly and at memory speed (graph/engine/rows.py).
 *
 * The server worker counts the rows of every JSON answer it passes on, to say how many there
 * are (Result-Count) and to cut at the row limit. CPython's byte searches take about 1 ms per
 * MB of JSON for that, with a rule that cannot count every answer (`MarkCounter` in rows.py).
 * This scanner follows the strings instead (with their escapes), so it counts every answer.
 *
 * The engine writes results compactly: {"head":{"vars":[...]},"results":{"bindings":[{...},
 * {...}]}}. Outside strings, an object opens right after `[` or `,` only as a row: every other
 * object (the head, the results, a binding, a triple term's parts) opens after `:`. So rows
 * are the `{` outside strings that follow `[` or `,` (tests/test_result_caps.py checks this
 * against the engine's own parser). Two such bytes cannot straddle a string boundary, since a
 * closing quote would stand between them, so the byte before a `{` is taken as it is.
 *
 * Its state is passed in and out, so a document can be fed in pieces cut anywhere. On x86-64
 * it reads 64 bytes at a time as bit masks (the way simdjson finds strings: a prefix XOR of
 * the quote positions marks what lies inside them); a block holding a backslash, and the
 * last bytes of a piece, go through the byte loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct {
    int in_string;   /* the next byte is inside a string */
    int escaped;     /* the next byte follows a backslash inside a string */
    int after_sep;   /* the last byte was `[` or `,` */
    long long rows;  /* rows opened so far */
} scan_state;

/* One byte at a time. Returns the offset of the `{` opening row number keep + 1, or -1. */
static Py_ssize_t
scan_bytes(const unsigned char *p, Py_ssize_t n, scan_state *s, long long keep)
{
    Py_ssize_t found = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (s->escaped) {
            s->escaped = 0;
        } else if (s->in_string) {
            if (c == '"')
                s->in_string = 0;
            else if (c == '\\')
                s->escaped = 1;
        } else if (c == '"') {
            s->in_string = 1;
        } else if (c == '{' && s->after_sep) {
            if (s->rows == keep && found < 0)
                found = i;
            s->rows++;
        }
        s->after_sep = !s->in_string && !s->escaped && (c == ',' || c == '[');
    }
    return found;
}

#if defined(__SSE2__)
/* Bit i set where byte i of the 64-byte block equals c. */
static inline uint64_t
byte_mask(const __m128i block[4], char c)
{
    const __m128i want = _mm_set1_epi8(c);
    uint64_t m = 0;
    for (int k = 0; k < 4; k++)
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(block[k], want)) << (16 * k);
    return m;
}

/* Bit i set where an odd number of bits 0..i of x are set. */
static inline uint64_t
prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}
#endif

/* Scan n bytes; returns the offset of the `{` opening row number keep + 1, or -1. */
static Py_ssize_t
scan(const unsigned char *p, Py_ssize_t n, scan_state *s, long long keep)
{
    Py_ssize_t at = 0, found = -1;
#if defined(__SSE2__)
    for (; n - at >= 64; at += 64) {
        __m128i block[4];
        for (int k = 0; k < 4; k++)
            block[k] = _mm_loadu_si128((const __m128i *)(p + at + 16 * k));
        if (s->escaped || byte_mask(block, '\\')) {  /* escapes: byte by byte */
            Py_ssize_t hit = scan_bytes(p + at, 64, s, keep);
            if (hit >= 0 && found < 0)
                found = at + hit;
            continue;
        }
        uint64_t quotes = byte_mask(block, '"');
        uint64_t seps = byte_mask(block, ',') | byte_mask(block, '[');
        /* inside: from an opening quote up to (not including) its closing quote */
        uint64_t inside = prefix_xor(quotes) ^ (s->in_string ? ~(uint64_t)0 : 0);
        uint64_t starts = byte_mask(block, '{') & ~inside & ((seps << 1) | (uint64_t)s->after_sep);
        long long opened = __builtin_popcountll(starts);
        if (found < 0 && keep >= s->rows && keep < s->rows + opened) {
            for (long long skip = keep - s->rows; skip > 0; skip--)
                starts &= starts - 1;  /* drop the lowest row start */
            found = at + __builtin_ctzll(starts);
        }
        s->rows += opened;
        s->in_string = (int)(inside >> 63);
        s->after_sep = (int)(seps >> 63) && !s->in_string;
    }
#endif
    Py_ssize_t hit = scan_bytes(p + at, n - at, s, keep);
    if (hit >= 0 && found < 0)
        found = at + hit;
    return found;
}

PyDoc_STRVAR(json_rows_doc,
"json_rows(data, in_string, escaped, after_sep, rows, keep=-1)\n"
"--\n\n"
"Scan the next piece of a SPARQL JSON results document from the given state.\n\n"
"Returns (in_string, escaped, after_sep, rows, start): the state after `data`, where `rows`\n"
"counts the rows opened so far, and `start`, the offset in `data` of the `{` that opens row\n"
"number keep + 1 if it opens in this piece, else -1.");

static PyObject *
json_rows(PyObject *self, PyObject *args)
{
    Py_buffer view;
    scan_state s;
    long long keep = -1;
    /* The GIL is kept: a scan takes microseconds, and a thread that let it go could wait a
       whole switch interval (5 ms) to take it back from a busy one. */
    if (!PyArg_ParseTuple(args, "y*pppL|L:json_rows", &view, &s.in_string, &s.escaped,
                          &s.after_sep, &s.rows, &keep))
        return NULL;
    Py_ssize_t start = scan(view.buf, view.len, &s, keep);
    PyBuffer_Release(&view);
    return Py_BuildValue("(NNNLn)", PyBool_FromLong(s.in_string), PyBool_FromLong(s.escaped),
                         PyBool_FromLong(s.after_sep), s.rows, start);
}

static PyMethodDef methods[] = {
    {"json_rows", json_rows, METH_VARARGS, json_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rowscan", "Row counts in SPARQL JSON results (see rows.py).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__rowscan(void)
{
    return PyModule_Create(&module);
}
