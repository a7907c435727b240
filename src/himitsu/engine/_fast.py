"""The C extensions of the engine: :mod:`himitsu.engine._siphash` and :mod:`himitsu.engine._match`.

:func:`siphash24` computes exactly what the numpy reference :func:`himitsu.engine.fingerprint.siphash24`
does (each uint64 taken as 8 little-endian message bytes, 16-byte key), about an order of magnitude faster.
``AVAILABLE`` says whether that extension could be imported; this module provides no fallback.

:func:`match_verify`, :func:`match_promising` and :func:`match_runs` are the per-seed work of the
registered-secret detector (see :mod:`himitsu.engine.detectors.registered_secret`, which holds the numpy
reference and falls back to it): ``MATCH_AVAILABLE`` says whether that extension could be imported. They
take a ``ctx`` built by :func:`match_context`: the probe's signature state, the segments' packed signatures
and the lookup's seeds, all read in place through the buffer protocol. They raise ValueError on input that
does not hold together (a signature outside its segment, unsorted seeds), never reading out of range.
:func:`gather` is the index lookup's join of postings and query positions (``index._gather`` and
``index._seeds``); :func:`prefix_table` and :func:`key_ranges` find probe keys in a segment's sorted keys
(``index._KeyTable``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from himitsu.engine._siphash import siphash24_into as _siphash24_into
except ImportError:  # not built (e.g. installed without a compiler)
    _siphash24_into = None
try:
    from himitsu.engine._siphash import probe_into as _probe_into
except ImportError:  # not built, or built before probe_into existed
    _probe_into = None
try:
    from himitsu.engine import _match
except ImportError:  # not built
    _match = None  # type: ignore[assignment]

__all__ = ["AVAILABLE", "MATCH_AVAILABLE", "PROBE_AVAILABLE", "gather", "key_ranges", "match_context",
           "match_promising", "match_runs", "match_verify", "prefix_table", "probe", "siphash24"]

AVAILABLE: bool = _siphash24_into is not None
MATCH_AVAILABLE: bool = _match is not None
PROBE_AVAILABLE: bool = _probe_into is not None

#: what :func:`match_context` returns: (query, tables, seeds) tuples of arrays, for the C functions
MatchContext = tuple[Any, ...]


def siphash24(key: bytes, messages: np.ndarray) -> np.ndarray:
    """SipHash-2-4 of each uint64 of ``messages`` (any array-like, converted to a C-contiguous uint64
    array) with the 16-byte ``key``; the result has the shape of ``messages``. Raises ImportError if the
    extension is not available, ValueError if the key is not 16 bytes."""
    if _siphash24_into is None:
        raise ImportError("the C extension himitsu.engine._siphash is not built")
    m = np.asarray(messages, dtype=np.uint64, order="C")
    out = np.empty(m.shape, dtype=np.uint64)
    _siphash24_into(key, m, out)
    return out


def probe(table: np.ndarray, cps: np.ndarray, k: int, base: int, char_key: bytes, out_key: bytes,
          limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rolling hash of every k-gram, positions of the k-grams whose top 32 bits lie below ``limit``, their
    SipHash-2-4 under ``out_key``, signature values and known flags of every k-gram: the top 2 bits of
    that hash and True where it was computed, 0 and False elsewhere) of the code points ``cps`` in one pass: what
    :meth:`himitsu.engine.fingerprint.Fingerprinter.probe` computes with numpy (``table``: the 65536 BMP
    character values; a code point beyond gets SipHash-2-4 under ``char_key``). Raises ImportError if the
    extension is not available."""
    if _probe_into is None:
        raise ImportError("the C extension himitsu.engine._siphash has no probe_into")
    c = np.ascontiguousarray(cps, dtype=np.uint32)
    kgrams = max(0, len(c) - k + 1)
    rolling = np.empty(kgrams, dtype=np.uint64)
    signature = np.empty(kgrams, dtype=np.uint8)
    known = np.empty(kgrams, dtype=bool)
    table = np.ascontiguousarray(table, dtype=np.uint64)
    room = kgrams // 3 + 64  # about a quarter is picked; room for all only when a text needs it
    while True:
        picked = np.empty(room, dtype=np.int64)
        hashes = np.empty(room, dtype=np.uint64)
        count = _probe_into(table, c, k, base, char_key, out_key, limit, rolling, picked, hashes, signature, known)
        if count <= room:
            return rolling, picked[:count], hashes[:count], signature, known
        room = count


def _i64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def match_context(query: tuple[bytes, np.ndarray, np.ndarray, np.ndarray],
                  tables: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...],
                  seeds: tuple[np.ndarray, ...]) -> MatchContext:
    """``query``: (PRF key, rolling hashes (uint64), signature cache (uint8), known flags (bool)), written
    to in place; ``tables``: per segment (packed signatures (uint8), signature offsets, signature lengths);
    ``seeds``: (docs, query positions, doc positions, segments, rows, lengths), sorted by document and
    query position."""
    key, rolling, signature, known = query
    if signature.dtype != np.uint8 or known.dtype != np.bool_ or not (signature.flags.c_contiguous
                                                                     and known.flags.c_contiguous):
        raise ValueError("the signature cache must be C-contiguous uint8 and bool arrays")
    return ((bytes(key), np.ascontiguousarray(rolling, dtype=np.uint64), signature, known),
            tuple((np.ascontiguousarray(s, dtype=np.uint8), _i64(o), _i64(n)) for s, o, n in tables),
            tuple(_i64(a) for a in seeds))


def _require() -> Any:
    if _match is None:
        raise ImportError("the C extension himitsu.engine._match is not built")
    return _match


def match_verify(ctx: MatchContext, around: int, neighbours: int) -> np.ndarray:
    """Whether each seed is verified (see ``registered_secret.verified``)."""
    out = np.zeros(len(ctx[2][0]), dtype=bool)
    _require().verify(ctx, around, neighbours, out)
    return out


def match_promising(ctx: MatchContext, keep: np.ndarray, *, span: int, reach: int, run: int, drift: int,
                    short: int) -> np.ndarray:
    """Which verified seeds (``keep``) are promising (see ``registered_secret.promising``)."""
    out = np.zeros(len(ctx[2][0]), dtype=bool)
    _require().promising(ctx, np.ascontiguousarray(keep, dtype=bool), span, reach, run, drift, short, out)
    return out


def match_runs(ctx: MatchContext, keep: np.ndarray, focus: np.ndarray, wanted: np.ndarray, *, reach: int,
               run: int, gap: int, drift: int) -> list[tuple[int, int, int, int]]:
    """(doc, alignment, start, end) of the runs that ``registered_secret.passages`` joins, for the documents
    ``wanted`` (sorted, unique)."""
    runs: list[tuple[int, int, int, int]] = _require().runs(
        ctx, np.ascontiguousarray(keep, dtype=bool), np.ascontiguousarray(focus, dtype=bool), _i64(wanted),
        reach, run, gap, drift)
    return runs




def gather(segments: tuple[tuple[np.ndarray, ...], ...], wanted: np.ndarray, inverse: np.ndarray,
           positions: np.ndarray, size: int) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(postings, seeds) as ``index._gather`` and ``index._seeds`` give them: ``segments`` holds per segment
    (docs, positions, doc_ids, counts, lengths, live, lo, hi). Raises ValueError or TypeError on arrays
    that do not hold together (a posting range or document row out of range, another item type)."""
    pbuf, n_postings, sbuf, n_seeds = _require().gather(segments, _i64(wanted), _i64(inverse), _i64(positions), size)
    postings = np.frombuffer(pbuf, dtype=np.int64).reshape(7, n_postings)
    seeds = np.frombuffer(sbuf, dtype=np.int64).reshape(6, n_seeds)
    return tuple(postings), tuple(seeds)


def prefix_table(keys: np.ndarray, shift: int) -> np.ndarray:
    """uint32 table of 2 ** (32 − shift) + 1 entries: entry b is the index of the first of the sorted uint32
    ``keys`` whose top bits (key >> shift) are at least b. Raises TypeError if ``keys`` is not a C-contiguous
    uint32 array, ValueError if it holds 2**32 keys or more."""
    table = np.empty((1 << (32 - shift)) + 1, dtype=np.uint32)
    _require().prefix_table(keys, shift, table)
    return table


def key_ranges(keys: np.ndarray, table: np.ndarray, shift: int, unique: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi), int64: the range of each of ``unique`` (uint32) in the sorted ``keys`` (np.searchsorted's
    left and right sides), through ``prefix_table(keys, shift)``. Raises ValueError on a table that does not
    fit the keys, TypeError on another item type."""
    lo = np.empty(len(unique), dtype=np.int64)
    hi = np.empty(len(unique), dtype=np.int64)
    _require().key_ranges(keys, table, shift, np.ascontiguousarray(unique), lo, hi)
    return lo, hi
