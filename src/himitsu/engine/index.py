"""A persistent fingerprint index in a directory: add, replace and remove documents, look up a text's
fingerprints, from several processes at once, surviving a crash at any point of a write.

The index stores keyed fingerprint hashes, their positions and document ids, never text.

Layout of the directory::

    manifest.json                  the live generation (JSON, replaced atomically)
    lock                           writers hold an exclusive flock on it
    seg-<seq>-<token>.hashes.npy   uint32, sorted: one posting per (fingerprint, document); the key
                                   is the low 32 bits of the fingerprint's 64-bit keyed hash
    seg-<seq>-<token>.docs.npy     uint16 or uint32: the posting's row in the segment's document table
    seg-<seq>-<token>.positions.npy  uint16 or uint32: the fingerprint's first position in that document
    seg-<seq>-<token>.sigs.npy     uint8: the documents' signatures, packed (four 2-bit values a byte)
    seg-<seq>-<token>.table.npy    int64 (5, m): document ids (sorted), fingerprint counts, normalised
                                   lengths, signature offsets (bytes into sigs) and signature lengths
    bg-<seq>-<token>.background.npy  uint32, sorted, unique: background fingerprint keys

Segments are immutable. The manifest lists the live segments, the background files, the tombstones
and a generation number. A posting of document d in a segment with sequence number s is live unless
``tombstones[d] > s``: replacing d writes its new postings into a segment with sequence S and sets
``tombstones[d] = S``; removing d sets ``tombstones[d]`` to a fresh sequence number. Postings are
deduplicated per (fingerprint, document), so a fingerprint's posting count is its document count.

Crash safety. A writer takes ``flock(LOCK_EX)`` on ``lock``, writes and fsyncs new files under fresh
unique names (invisible until a manifest refers to them), writes the new manifest to a temporary file,
fsyncs it, ``os.replace``\\ s it over ``manifest.json`` and fsyncs the directory. A crash before the
replace leaves the previous generation intact and some unreferenced files, which the next writer
deletes; a crash after it leaves the new generation complete. Readers never lock: they read the
manifest (always complete) and memory-map the segments it names, and re-read it when it changes
(checked with one ``stat`` per lookup). A segment deleted after a newer commit stays readable through
an existing mapping; a reader that finds a file gone re-reads the manifest.

Lookup. A probe key's posting range in a segment is found by binary search (np.searchsorted) until the
segment has answered about 1/64 of its key count in probe keys; then a prefix table over its keys is built
in memory (one pass; never written to disk, so the format is unchanged): entry b is the first key whose top
bits are b, at most 2**20 + 1 uint32 entries (4 MB; half a byte per key below that), and the ranges are found
in C through it, the misses of many keys overlapped (:class:`_KeyTable`; same results).

Background model. A fingerprint is ignored when it is in a background file (``add_background``) or
when it occurs in at least ``max(common_min_docs, ceil(common_min_fraction × live documents))``
documents: boilerplate that many unrelated documents share must not make them match.

Merging. After each commit, whenever ``fan_in`` segments of the same size tier (powers of
``fan_in`` postings) exist they are merged into one, dropping dead postings, so a sequence of single
document adds keeps O(fan_in · log N) segments at an amortised O(log N) rewrites per posting.
``compact()`` merges everything into one segment and one background file.

Size: 8 to 12 bytes per posting (4 key, then 2 or 4 for the document row and 2 or 4 for the position: each
segment stores rows and positions in 16 bits when all of its values fit, i.e. fewer than 65,536 documents and
none longer than 65,535 normalised characters) plus a quarter byte per k-gram of each document (its signature);
figures measured by ``make bench`` are in docs/benchmarks.md. Format 3 (the narrow columns) reads format 2
indexes as they are and writes format 3 from their first commit on. A 32-bit key
collides by chance (a query of 1,000 keys meets about 3 stray postings in an index of 14 million): the
registered-secret detector verifies every match against the signatures, so a collision costs a
little work, never a finding.

Limits: POSIX only (``fcntl.flock``) and a local filesystem (flock is unreliable over NFS); one writer
at a time, so bulk registration should use one ``batch()``; a merge may make one commit slow (it
rewrites the segments of a tier), never a lookup; commonness counts *documents*, so five or more
registered versions of the same secret make their shared text common (raise ``common_min_docs`` or
register one version per secret); positions above 2**32 − 1 are rejected.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from himitsu.engine import _fast
from himitsu.engine.fingerprint import SIGNATURE_BITS, Fingerprints, pack_signature, packed_values

__all__ = ["Batch", "DocInfo", "DocMatch", "DocumentExists", "FingerprintIndex", "IndexCorrupt",
           "IndexMismatch", "IndexStats", "LookupResult", "Seeds"]

FORMAT = "himitsu-fingerprint-index/3"
#: manifests this code reads: format 2 is format 3 with every segment's rows and positions in 32 bits
READABLE_FORMATS = (FORMAT, "himitsu-fingerprint-index/2")
MANIFEST = "manifest.json"
LOCK = "lock"
_SEGMENT_FILES = ("hashes", "docs", "positions", "sigs", "table")
_KEY = np.uint32
_MAX_POSITION = (1 << 32) - 1
_PER_BYTE = 8 // SIGNATURE_BITS


def _keys(hashes: np.ndarray | Fingerprints) -> np.ndarray:
    """Index keys of 64-bit fingerprint hashes: their low 32 bits."""
    return (np.asarray(hashes, dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(_KEY)
_OPEN_RETRIES = 20
_OWN_PREFIXES = ("seg-", "bg-", f"{MANIFEST}.tmp-")  # files the index may delete


class IndexCorrupt(Exception):
    """The manifest or a segment cannot be read (code ``index.corrupt``)."""

    code = "index.corrupt"


class IndexMismatch(Exception):
    """The index was built with another fingerprinter (key, k or w) (code ``index.mismatch``)."""

    code = "index.mismatch"


class DocumentExists(Exception):
    """``add`` of a document id that is already in the index; use ``replace`` (code ``index.exists``)."""

    code = "index.exists"


@dataclass(frozen=True, eq=False)
class DocMatch:
    """One registered document that shares fingerprints with the query.

    ``query_positions`` (int64, ascending) are the starts of the query's k-grams whose fingerprint the
    document has (every occurrence in the query); ``doc_positions`` (aligned) is where that
    fingerprint first occurs in the document. ``matched`` counts distinct matched fingerprints;
    ``fingerprint_count`` is the document's number of distinct fingerprints (containment =
    matched / fingerprint_count) and ``norm_length`` its normalised length. ``signature`` is the
    document's packed signature (a read-only view of the index file) holding ``kgrams`` values.
    """

    doc_id: int
    query_positions: np.ndarray
    doc_positions: np.ndarray
    matched: int
    fingerprint_count: int
    norm_length: int
    signature: np.ndarray
    kgrams: int


@dataclass(frozen=True, eq=False)
class Seeds:
    """Every (query position, posting) pair of a lookup, flat and sorted by document then query
    position: ``docs``, ``query_positions``, ``doc_positions``, where the document lives (``segments``:
    its segment's number in the snapshot, ``rows``: its row there) and its normalised ``lengths``."""

    docs: np.ndarray
    query_positions: np.ndarray
    doc_positions: np.ndarray
    segments: np.ndarray
    rows: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.docs)


class LookupResult:
    """What a lookup found: flat ``seeds``, ``matches`` by document id (built on first use), the query
    positions ignored as common or background, and the generation read. ``signature_values`` reads the
    documents' signatures at any positions, vectorised (no per-document work)."""

    def __init__(self, snapshot: _Snapshot | None, seeds: Seeds, postings: tuple[np.ndarray, ...],
                 common_positions: np.ndarray, background_positions: np.ndarray, generation: int) -> None:
        self._snapshot = snapshot
        self.seeds = seeds
        self._postings = postings
        self.common_positions = common_positions
        self.background_positions = background_positions
        self.generation = generation
        self._matches: dict[int, DocMatch] | None = None

    @property
    def matches(self) -> dict[int, DocMatch]:
        if self._matches is None:
            self._matches = self.documents(None)
        return self._matches

    def documents(self, wanted: np.ndarray | None) -> dict[int, DocMatch]:
        """DocMatch of the documents in ``wanted`` (None: all), built from the flat seeds."""
        seeds = self.seeds
        if not len(seeds) or self._snapshot is None:
            return {}
        docs, starts = np.unique(seeds.docs, return_index=True)
        ends = np.r_[starts[1:], len(seeds.docs)]
        keep = np.ones(len(docs), dtype=bool) if wanted is None else np.isin(docs, wanted)
        _u, doc, _pos, count, length, _seg, _row = self._postings
        matched = dict(zip(*(a.tolist() for a in np.unique(doc, return_counts=True)), strict=True))
        out = {}
        for d, a, b in zip(docs[keep].tolist(), starts[keep].tolist(), ends[keep].tolist(), strict=True):
            segment = self._snapshot.segments[int(seeds.segments[a])]
            row = int(seeds.rows[a])
            out[d] = DocMatch(d, seeds.query_positions[a:b], seeds.doc_positions[a:b], matched[d],
                              int(segment.counts[row]), int(segment.lengths[row]), _doc_signature(segment, row),
                              int(segment.sig_lengths[row]))
        return out

    def signature_tables(self) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
        """Per segment of the snapshot (numbered as ``seeds.segments``): its packed signatures (uint8) and,
        per row of its document table, the signature's byte offset and number of values (read-only views
        of the index files, for the compiled matcher)."""
        if self._snapshot is None:
            return ()
        return tuple((s.sigs, s.sig_offsets, s.sig_lengths) for s in self._snapshot.segments)

    def signature_values(self, segments: np.ndarray, rows: np.ndarray,
                         positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signature values of documents (given by segment number and row, one per row of
        ``positions``, a 2-d array of k-gram positions) and whether each position lies in the document."""
        values = np.zeros(positions.shape, dtype=np.uint8)
        valid = np.zeros(positions.shape, dtype=bool)
        if self._snapshot is None:
            return values, valid
        for g in np.unique(segments).tolist():
            segment = self._snapshot.segments[g]
            pick = np.flatnonzero(segments == g)
            r = rows[pick]
            pos = positions[pick]
            ok = (pos >= 0) & (pos < segment.sig_lengths[r][:, None])
            if not len(segment.sigs):
                continue
            values[pick] = packed_values(segment.sigs, np.where(ok, pos, 0), segment.sig_offsets[r][:, None])
            valid[pick] = ok
        return values, valid


@dataclass(frozen=True)
class DocInfo:
    doc_id: int
    fingerprint_count: int
    norm_length: int


@dataclass(frozen=True)
class IndexStats:
    generation: int
    documents: int
    postings: int
    segments: int
    background_fingerprints: int
    tombstones: int
    common_threshold: int | None
    disk_bytes: int


#: probe keys a segment answers by binary search over all its keys before it builds its prefix table, as a
#: fraction of its number of keys (the table costs one pass over the keys, about 1 ns a key, and saves about
#: 90 ns a probe key on the benchmark's 19.5 M keys: it pays for itself after about a hundredth)
_TABLE_AFTER = 1 / 64
#: bits of a key that index the prefix table, at most (2**20 + 1 uint32 entries: 4 MB)
_TABLE_MAX_BITS = 20


class _KeyTable:
    """A segment's prefix table over its sorted keys, in memory: entry b is the index of the first key whose
    top bits are at least b (``_fast.prefix_table``), so a probe key's posting range is two table reads and a
    binary search inside its bucket (8 to 16 keys on average; more above 2**24 keys: 19 on the benchmark's
    19.5 M) in C, instead of a search over the whole key array
    whose every step is a cache miss. Built on the first lookup after the segment has answered
    ``_TABLE_AFTER`` × its key count probe keys the plain way (a one-off check of a short text never pays for
    the pass), or at once by :meth:`FingerprintIndex.prepare` (serving processes, before their first request);
    the results are np.searchsorted's (tests/engine/test_key_table.py). Not built without the C
    extension, or if the extension refuses the keys (then the numpy search answers)."""

    def __init__(self) -> None:
        self.searched = 0
        self.built: tuple[np.ndarray, int] | None = None
        self.refused = False

    def ranges(self, keys: np.ndarray, unique: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(lo, hi) of each probe key (sorted, unique uint32) through the table, or None (not built)."""
        if self.built is None:
            if self.refused or not _fast.MATCH_AVAILABLE or not len(keys):
                return None
            self.searched += len(unique)
            if self.searched < _TABLE_AFTER * len(keys):
                return None
            self._build(keys)
            if self.built is None:
                return None
        table, shift = self.built
        try:
            return _fast.key_ranges(keys, table, shift, unique)
        except (TypeError, ValueError):
            return None

    def prepare(self, keys: np.ndarray) -> None:
        """Build the table now (a serving process before its first request), not after the searches."""
        if self.built is None and not self.refused and _fast.MATCH_AVAILABLE and len(keys):
            self._build(keys)

    def _build(self, keys: np.ndarray) -> None:
        bits = max(0, min(_TABLE_MAX_BITS, len(keys).bit_length() - 4))
        try:
            self.built = (_fast.prefix_table(keys, 32 - bits), 32 - bits)
        except (TypeError, ValueError):
            self.refused = True

    @property
    def nbytes(self) -> int:
        return 0 if self.built is None else int(self.built[0].nbytes)


@dataclass(frozen=True, eq=False)
class _Segment:
    """An opened, immutable segment (memory-mapped), with its prefix table once built."""

    name: str
    seq: int
    hashes: np.ndarray
    docs: np.ndarray
    positions: np.ndarray
    sigs: np.ndarray
    doc_ids: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray
    sig_offsets: np.ndarray
    sig_lengths: np.ndarray
    key_table: _KeyTable = field(default_factory=_KeyTable, repr=False)


@dataclass(frozen=True, eq=False)
class _Snapshot:
    """One generation as a reader sees it: the manifest and its opened files."""

    manifest: dict[str, Any]
    segments: list[_Segment]
    live: list[np.ndarray]  # per segment: bool per row of its document table
    background: list[np.ndarray]
    stamp: tuple[int, int, int] | None
    live_docs: int = 0
    dead_rows: int = 0

    @property
    def generation(self) -> int:
        return int(self.manifest["generation"])


def _empty_manifest() -> dict[str, Any]:
    return {"format": FORMAT, "generation": 0, "next_seq": 1, "fingerprinter": None, "segments": [],
            "background": [], "tombstones": []}


def _tombstone_arrays(manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    pairs = sorted((int(d), int(s)) for d, s in manifest["tombstones"])
    docs = np.array([d for d, _ in pairs], dtype=np.int64)
    seqs = np.array([s for _, s in pairs], dtype=np.int64)
    return docs, seqs


def _live_rows(segment: _Segment, tomb_docs: np.ndarray, tomb_seqs: np.ndarray) -> np.ndarray:
    """Rows of the segment's document table that a tombstone does not kill."""
    if not len(tomb_docs):
        return np.ones(len(segment.doc_ids), dtype=bool)
    i = np.minimum(np.searchsorted(tomb_docs, segment.doc_ids), len(tomb_docs) - 1)
    killed = (tomb_docs[i] == segment.doc_ids) & (tomb_seqs[i] > segment.seq)
    return np.asarray(~killed)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), vectorised."""
    lengths = lengths.astype(np.int64, copy=False)
    offsets = np.cumsum(lengths) - lengths
    return np.asarray(np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(offsets - starts, lengths))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_array(path: Path, array: np.ndarray) -> None:
    with open(path, "xb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def _publish_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest to a temporary file, fsync, rename it over manifest.json, fsync the directory."""
    tmp = directory / f"{MANIFEST}.tmp-{secrets.token_hex(6)}"
    with open(tmp, "x", encoding="utf-8") as f:
        json.dump(manifest, f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)
    _fsync_dir(directory)


def _read_manifest(directory: Path) -> tuple[dict[str, Any], tuple[int, int, int] | None]:
    path = directory / MANIFEST
    try:
        with open(path, encoding="utf-8") as f:
            stat = os.fstat(f.fileno())
            manifest = json.load(f)
    except FileNotFoundError:
        return _empty_manifest(), None
    except (ValueError, OSError) as exc:
        raise IndexCorrupt(f"{path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise IndexCorrupt(f"{path}: not a {FORMAT} manifest")
    return manifest, (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _stamp(manifest: str) -> tuple[int, int, int] | None:
    """What :func:`_read_manifest` saw of the manifest file (``manifest``: its path as a string, which ``os.stat``
    takes as it is; a ``Path`` would be turned into one on every lookup)."""
    try:
        stat = os.stat(manifest)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _open_segment(directory: Path, entry: dict[str, Any]) -> _Segment:
    name = entry["name"]
    # plain ndarray views of the mappings: indexing a np.memmap costs a Python-level call each time
    arrays = {part: np.asarray(np.load(directory / f"{name}.{part}.npy", mmap_mode="r", allow_pickle=False))
              for part in _SEGMENT_FILES}
    # rows of the document table, contiguous for the C extension (copied if the file stores it column-major)
    table = [np.ascontiguousarray(row) for row in arrays["table"]]
    return _Segment(name=name, seq=int(entry["seq"]), hashes=arrays["hashes"], docs=arrays["docs"],
                    positions=arrays["positions"], sigs=arrays["sigs"], doc_ids=table[0], counts=table[1],
                    lengths=table[2], sig_offsets=table[3], sig_lengths=table[4])


def _segment_postings(segment: _Segment, live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, doc ids, positions) of the segment's live postings."""
    keep = live[segment.docs]
    return (np.asarray(segment.hashes[keep]), np.asarray(segment.doc_ids[segment.docs[keep]]),
            np.asarray(segment.positions[keep]))


def _doc_signature(segment: _Segment, row: int) -> np.ndarray:
    offset = int(segment.sig_offsets[row])
    return segment.sigs[offset: offset + _packed_size(int(segment.sig_lengths[row]))]


def _packed_size(values: int) -> int:
    return -(-values // _PER_BYTE)


def _build_segment(hashes: np.ndarray, doc_ids: np.ndarray, positions: np.ndarray, table: np.ndarray,
                   signatures: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays of a segment from postings (one per fingerprint and document), a document table
    (ids, counts, lengths and signature lengths: 4 × m, sorted by document id) and the packed signatures
    in the table's order."""
    order = np.argsort(hashes, kind="stable")
    local = np.searchsorted(table[0], doc_ids[order]).astype(_narrow(table.shape[1] - 1))
    sizes = np.array([len(s) for s in signatures], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    sigs = np.concatenate(signatures) if signatures else np.zeros(0, np.uint8)
    full = np.vstack([table[:3], offsets.reshape(1, -1), table[3:4]]).astype(np.int64)
    positions = positions[order]
    return {"hashes": hashes[order].astype(_KEY), "docs": local,
            "positions": positions.astype(_narrow(int(positions.max()) if len(positions) else 0)),
            "sigs": sigs.astype(np.uint8), "table": full}


def _narrow(largest: int) -> type[np.unsignedinteger[Any]]:
    """The column type of a segment's document rows or positions whose largest value is ``largest``: 16 bits
    when it fits (2 bytes a posting saved on each), else 32."""
    return np.uint16 if largest <= np.iinfo(np.uint16).max else np.uint32


def _document_postings(doc_id: int, fingerprints: Fingerprints) -> tuple[np.ndarray, np.ndarray]:
    """Distinct fingerprint hashes of one document with the first position of each."""
    hashes = _keys(fingerprints.hashes)
    positions = np.asarray(fingerprints.positions, dtype=np.int64)
    if len(hashes) != len(positions):
        raise ValueError(f"document {doc_id}: hashes and positions differ in length")
    if len(positions) and (positions.min() < 0 or positions.max() > _MAX_POSITION):
        raise ValueError(f"document {doc_id}: positions must lie in [0, 2**32)")
    order = np.lexsort((positions, hashes))
    hashes, positions = hashes[order], positions[order]
    first = np.r_[True, hashes[1:] != hashes[:-1]] if len(hashes) else np.zeros(0, dtype=bool)
    return hashes[first], positions[first]


@dataclass
class _Pending:
    """One document added in a batch."""

    hashes: np.ndarray
    positions: np.ndarray
    norm_length: int
    signature: np.ndarray  # packed
    kgrams: int


@dataclass
class Batch:
    """Changes collected inside ``FingerprintIndex.batch()`` and committed as one generation."""

    index: FingerprintIndex
    snapshot: _Snapshot
    ops: dict[int, _Pending | None] = field(default_factory=dict)
    background: list[np.ndarray] = field(default_factory=list)
    new: set[int] = field(default_factory=set)  # ids added without replace: checked on commit

    def add(self, doc_id: int, fingerprints: Fingerprints, norm_length: int, *, replace: bool = False) -> None:
        """Add a document; unless ``replace`` is true it must not exist yet, or the batch raises
        :class:`DocumentExists` (here, or on commit for ids already in the index) and commits nothing."""
        doc_id = int(doc_id)
        if not replace and self.ops.get(doc_id) is not None:
            raise DocumentExists(f"document {doc_id} is added twice")
        hashes, positions = _document_postings(doc_id, fingerprints)
        values = fingerprints.signature if fingerprints.signature is not None else np.zeros(0, np.uint8)
        self.ops[doc_id] = _Pending(hashes, positions, int(norm_length), pack_signature(values), len(values))
        if not replace:
            self.new.add(doc_id)

    def replace(self, doc_id: int, fingerprints: Fingerprints, norm_length: int) -> None:
        """Add or replace a document."""
        self.add(doc_id, fingerprints, norm_length, replace=True)

    def remove(self, doc_id: int) -> bool:
        """Remove a document; returns whether it was there."""
        doc_id = int(doc_id)
        present = self.contains(doc_id)
        self.ops[doc_id] = None
        self.new.discard(doc_id)
        return present

    def add_background(self, fingerprints: Fingerprints | np.ndarray) -> None:
        """Fingerprints of common text (a background corpus) to ignore in every lookup."""
        hashes = fingerprints.hashes if isinstance(fingerprints, Fingerprints) else fingerprints
        self.background.append(_keys(hashes))

    def contains(self, doc_id: int) -> bool:
        if doc_id in self.ops:
            return self.ops[doc_id] is not None
        return _find_doc(self.snapshot, doc_id) is not None


def _present(snapshot: _Snapshot, doc_ids: np.ndarray) -> np.ndarray:
    """Which of ``doc_ids`` are live in the snapshot (vectorised)."""
    present = np.zeros(len(doc_ids), dtype=bool)
    for segment, live in zip(snapshot.segments, snapshot.live, strict=True):
        if len(segment.doc_ids):
            i = np.minimum(np.searchsorted(segment.doc_ids, doc_ids), len(segment.doc_ids) - 1)
            present |= (segment.doc_ids[i] == doc_ids) & live[i]
    return present


def _find_doc(snapshot: _Snapshot, doc_id: int) -> DocInfo | None:
    for segment, live in zip(snapshot.segments, snapshot.live, strict=True):
        i = int(np.searchsorted(segment.doc_ids, doc_id))
        if i < len(segment.doc_ids) and segment.doc_ids[i] == doc_id and live[i]:
            return DocInfo(doc_id, int(segment.counts[i]), int(segment.lengths[i]))
    return None


class FingerprintIndex:
    """The fingerprint index in ``path`` (created on the first write).

    ``fingerprinter_id`` (``Fingerprinter.id``) ties the index to one key, k and w: opening an index
    built with another raises :class:`IndexMismatch`. Reads need no lock and see one consistent
    generation; writes (``add``, ``replace``, ``remove``, ``add_background``, ``compact`` or a
    ``batch()``) serialise on a file lock across processes.
    """

    def __init__(self, path: str | os.PathLike[str], *, fingerprinter_id: str | None = None,
                 common_min_docs: int | None = 5, common_min_fraction: float = 0.02, fan_in: int = 4,
                 auto_refresh: bool = True) -> None:
        if common_min_docs is not None and common_min_docs < 2:
            raise ValueError("common_min_docs must be at least 2 (or None to disable)")
        if fan_in < 2:
            raise ValueError("fan_in must be at least 2")
        self.path = Path(path)
        self._manifest = os.fspath(self.path / MANIFEST)
        self.fingerprinter_id = fingerprinter_id
        self.common_min_docs = common_min_docs
        self.common_min_fraction = common_min_fraction
        self.fan_in = fan_in
        self.auto_refresh = auto_refresh
        self._thread_lock = threading.RLock()
        self._opened: dict[str, _Segment] = {}
        self._backgrounds: dict[str, np.ndarray] = {}
        self._snapshot = self._load()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._current().generation

    def refresh(self) -> bool:
        """Re-read the manifest if another writer changed it; returns whether the generation changed."""
        if _stamp(self._manifest) == self._snapshot.stamp:
            return False
        before = self._snapshot.generation
        self._snapshot = self._load()
        return self._snapshot.generation != before

    def prepare(self) -> int:
        """Build now what lookups would build on their own later: the prefix table of every segment of the current
        generation (one pass over its keys, ~1 ns a key; on 20 M keys some 30-80 ms, which would otherwise fall on
        one request after the segment's first ``_TABLE_AFTER`` probe keys, all of them searched the slow way).
        For a process that serves checks, before it answers. Returns the tables' bytes in memory."""
        snap = self._current()
        for segment in snap.segments:
            segment.key_table.prepare(segment.hashes)
        return sum(segment.key_table.nbytes for segment in snap.segments)

    def _current(self) -> _Snapshot:
        if self.auto_refresh:
            self.refresh()
        return self._snapshot

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, int | np.integer) and _find_doc(self._current(), int(doc_id)) is not None

    def doc_info(self, doc_id: int) -> DocInfo | None:
        return _find_doc(self._current(), int(doc_id))

    def doc_ids(self) -> np.ndarray:
        """Ids of all live documents, sorted."""
        snap = self._current()
        parts = [s.doc_ids[live] for s, live in zip(snap.segments, snap.live, strict=True)]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def common_threshold(self, snapshot: _Snapshot | None = None) -> int | None:
        """Documents a fingerprint must occur in to be ignored as common (None: never)."""
        if self.common_min_docs is None:
            return None
        snap = snapshot or self._current()
        return max(self.common_min_docs, math.ceil(self.common_min_fraction * snap.live_docs))

    def stats(self) -> IndexStats:
        snap = self._current()
        postings = sum(int(live[s.docs].sum()) if len(s.docs) else 0
                       for s, live in zip(snap.segments, snap.live, strict=True))
        disk = sum(p.stat().st_size for p in self.path.glob("*")) if self.path.exists() else 0
        return IndexStats(generation=snap.generation, documents=snap.live_docs, postings=postings,
                          segments=len(snap.segments), background_fingerprints=sum(len(b) for b in snap.background),
                          tombstones=len(snap.manifest["tombstones"]), common_threshold=self.common_threshold(snap),
                          disk_bytes=disk)

    def lookup(self, fingerprints: Fingerprints) -> LookupResult:
        """Documents sharing fingerprints with the query, ignoring common and background ones."""
        snap = self._current()
        return _lookup(snap, np.asarray(fingerprints.hashes, dtype=np.uint64),
                       np.asarray(fingerprints.positions, dtype=np.int64), self.common_threshold(snap))

    # -- writing ---------------------------------------------------------------------------------

    def add(self, doc_id: int, fingerprints: Fingerprints, norm_length: int) -> None:
        """Add a new document (raises :class:`DocumentExists` if the id is taken)."""
        with self.batch() as batch:
            batch.add(doc_id, fingerprints, norm_length)

    def replace(self, doc_id: int, fingerprints: Fingerprints, norm_length: int) -> None:
        """Add a document or replace its fingerprints."""
        with self.batch() as batch:
            batch.replace(doc_id, fingerprints, norm_length)

    def remove(self, doc_id: int) -> bool:
        """Remove a document; returns whether it was in the index."""
        with self.batch() as batch:
            return batch.remove(doc_id)

    def add_background(self, fingerprints: Fingerprints | np.ndarray) -> None:
        """Fingerprints of a background corpus (common phrases) to ignore when matching."""
        with self.batch() as batch:
            batch.add_background(fingerprints)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Collect changes and commit them as one new generation when the block ends without error."""
        with self._write_lock():
            snapshot = self._load()
            batch = Batch(self, snapshot)
            yield batch
            if batch.ops or batch.background:
                self._commit(batch)

    def compact(self) -> None:
        """Merge all segments into one (dropping removed documents) and all background files into one."""
        with self._write_lock():
            snap = self._load()
            manifest = dict(snap.manifest)
            self._merge_into(manifest, snap, snap.segments)
            self._merge_background(manifest, snap)
            self._finish(manifest)

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self._thread_lock:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.path / LOCK, "a+b") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _commit(self, batch: Batch) -> None:
        """Write the batch's segment and background file, then publish the next generation."""
        snap = batch.snapshot
        touched = np.array(list(batch.ops), dtype=np.int64)
        present = _present(snap, touched)
        _refuse_taken(touched, present, batch.new)
        added = {d: p for d, p in batch.ops.items() if p is not None}
        if not added and not present.any() and not batch.background:
            return  # only removals of absent documents: nothing to commit
        manifest = dict(snap.manifest)
        seq = int(manifest["next_seq"])
        manifest["next_seq"] = seq + 1
        tombstones = {int(d): int(s) for d, s in manifest["tombstones"]}
        tombstones.update((int(d), seq) for d in touched[present])  # older postings of these are dead
        manifest["tombstones"] = sorted([d, s] for d, s in tombstones.items())
        if added:
            manifest["segments"] = [*manifest["segments"], self._write_segment(seq, _pending_arrays(added))]
        if batch.background:
            hashes = np.unique(np.concatenate(batch.background))
            manifest["background"] = [*manifest["background"], self._write_background(seq, hashes)]
        self._apply_merge_policy(manifest)
        self._finish(manifest)

    def _finish(self, manifest: dict[str, Any]) -> None:
        """Check the fingerprinter, publish the manifest as the next generation, delete unreferenced files."""
        manifest["generation"] = int(manifest["generation"]) + 1
        manifest["format"] = FORMAT  # an index of format 2 becomes one of format 3 with its first commit
        if manifest.get("fingerprinter") is None:
            manifest["fingerprinter"] = self.fingerprinter_id
        _publish_manifest(self.path, manifest)
        self._collect_garbage(manifest)
        self._snapshot = self._load()

    def _write_segment(self, seq: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        name = f"seg-{seq:010d}-{secrets.token_hex(4)}"
        for part in _SEGMENT_FILES:
            _write_array(self.path / f"{name}.{part}.npy", arrays[part])
        _fsync_dir(self.path)
        return {"name": name, "seq": seq, "postings": len(arrays["hashes"]), "docs": arrays["table"].shape[1]}

    def _write_background(self, seq: int, hashes: np.ndarray) -> dict[str, Any]:
        name = f"bg-{seq:010d}-{secrets.token_hex(4)}"
        _write_array(self.path / f"{name}.background.npy", hashes)
        _fsync_dir(self.path)
        return {"name": name, "count": len(hashes)}

    def _apply_merge_policy(self, manifest: dict[str, Any]) -> None:
        """Merge fan_in segments of the same size tier until no tier has fan_in segments."""
        while True:
            snap = self._snapshot_of(manifest)
            tiers: dict[int, list[_Segment]] = {}
            for segment, live in zip(snap.segments, snap.live, strict=True):
                if not live.any():
                    tiers.setdefault(-1, []).append(segment)  # all dead: dropped by any merge
                    continue
                tiers.setdefault(_tier(max(len(segment.hashes), 1), self.fan_in), []).append(segment)
            group = next((g for t, g in sorted(tiers.items()) if len(g) >= self.fan_in or t == -1), None)
            before = len(manifest["segments"])
            if group is not None:
                self._merge_into(manifest, snap, group)
            if group is None or len(manifest["segments"]) >= before:
                return

    def _merge_into(self, manifest: dict[str, Any], snap: _Snapshot, group: list[_Segment]) -> None:
        """Replace the segments of ``group`` in the manifest by one segment of their live postings."""
        if not group or (len(group) == 1 and not manifest["tombstones"]):
            return
        names = {s.name for s in group}
        parts = [_segment_postings(s, live) + (s.doc_ids[live], s.counts[live], s.lengths[live], s.sig_lengths[live])
                 for s, live in zip(snap.segments, snap.live, strict=True) if s.name in names]
        signatures = [_doc_signature(s, int(row)) for s, live in zip(snap.segments, snap.live, strict=True)
                      if s.name in names for row in np.flatnonzero(live)]
        table = np.concatenate([np.stack(p[3:]) for p in parts], axis=1)
        kept = [e for e in manifest["segments"] if e["name"] not in names]
        if table.shape[1]:
            order = np.argsort(table[0], kind="stable")
            table = table[:, order]
            hashes, doc_ids, positions = (np.concatenate([p[i] for p in parts]) for i in range(3))
            arrays = _build_segment(hashes, doc_ids, positions, table, [signatures[i] for i in order])
            kept.append(self._write_segment(max(s.seq for s in group), arrays))
        manifest["segments"] = sorted(kept, key=lambda e: int(e["seq"]))
        manifest["tombstones"] = _needed_tombstones(self._snapshot_of(manifest), manifest["tombstones"])

    def _merge_background(self, manifest: dict[str, Any], snap: _Snapshot) -> None:
        if len(snap.background) > 1:
            merged = np.unique(np.concatenate(snap.background))
            manifest["background"] = [self._write_background(int(manifest["next_seq"]), merged)]
            manifest["next_seq"] = int(manifest["next_seq"]) + 1

    def _collect_garbage(self, manifest: dict[str, Any]) -> None:
        """Delete files no manifest refers to (older generations, debris of crashed writers). Readers
        still using them keep their mappings; a reader opening one too late re-reads the manifest."""
        referenced = {MANIFEST, LOCK}
        referenced |= {f"{e['name']}.{part}.npy" for e in manifest["segments"] for part in _SEGMENT_FILES}
        referenced |= {f"{e['name']}.background.npy" for e in manifest["background"]}
        for path in self.path.iterdir():
            if path.name not in referenced and path.name.startswith(_OWN_PREFIXES):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
        for name in set(self._opened) - {e["name"] for e in manifest["segments"]}:
            del self._opened[name]

    # -- snapshots -------------------------------------------------------------------------------

    def _load(self) -> _Snapshot:
        """Read the manifest and open what it names, retrying if a writer deleted a file meanwhile."""
        for _ in range(_OPEN_RETRIES):
            manifest, stamp = _read_manifest(self.path)
            try:
                snapshot = self._snapshot_of(manifest, stamp)
            except FileNotFoundError:
                continue
            self._check_fingerprinter(manifest)
            return snapshot
        raise IndexCorrupt(f"{self.path}: segments named by the manifest keep disappearing")

    def _check_fingerprinter(self, manifest: dict[str, Any]) -> None:
        stored = manifest.get("fingerprinter")
        if stored and self.fingerprinter_id and stored != self.fingerprinter_id:
            raise IndexMismatch(f"{self.path} was built with fingerprinter {stored}, not {self.fingerprinter_id}")

    def _snapshot_of(self, manifest: dict[str, Any], stamp: tuple[int, int, int] | None = None) -> _Snapshot:
        segments = [self._segment(e) for e in manifest["segments"]]
        tomb_docs, tomb_seqs = _tombstone_arrays(manifest)
        live = [_live_rows(s, tomb_docs, tomb_seqs) for s in segments]
        background = [self._background(e["name"]) for e in manifest["background"]]
        return _Snapshot(manifest=manifest, segments=segments, live=live, background=background, stamp=stamp,
                         live_docs=sum(int(x.sum()) for x in live), dead_rows=sum(int((~x).sum()) for x in live))

    def _segment(self, entry: dict[str, Any]) -> _Segment:
        name = entry["name"]
        if name not in self._opened:
            try:
                self._opened[name] = _open_segment(self.path, entry)
            except FileNotFoundError:
                raise  # deleted by a newer generation: the caller re-reads the manifest
            except (ValueError, OSError) as exc:
                raise IndexCorrupt(f"{self.path}/{name}: {exc}") from exc
        return self._opened[name]

    def _background(self, name: str) -> np.ndarray:
        if name not in self._backgrounds:
            self._backgrounds[name] = np.asarray(np.load(self.path / f"{name}.background.npy", mmap_mode="r",
                                                         allow_pickle=False))
        return self._backgrounds[name]


def _refuse_taken(touched: np.ndarray, present: np.ndarray, new: set[int]) -> None:
    """Raise DocumentExists if a document added without ``replace`` is already in the index."""
    taken = np.isin(touched, np.array(sorted(new), dtype=np.int64)) & present
    if taken.any():
        raise DocumentExists(f"documents already in the index: {touched[taken][:10].tolist()}")


def _tier(size: int, fan_in: int) -> int:
    """floor(log_fan_in(size)) for size ≥ 1, in integers."""
    tier = 0
    while size >= fan_in:
        size //= fan_in
        tier += 1
    return tier


def _pending_arrays(added: dict[int, _Pending]) -> dict[str, np.ndarray]:
    """Segment arrays of the documents added in one batch."""
    ids = np.array(sorted(added), dtype=np.int64)
    pending = [added[int(d)] for d in ids]
    table = np.array([ids, [len(p.hashes) for p in pending], [p.norm_length for p in pending],
                      [p.kgrams for p in pending]], dtype=np.int64).reshape(4, -1)
    counts = table[1]
    hashes = np.concatenate([p.hashes for p in pending]) if pending else np.zeros(0, _KEY)
    positions = np.concatenate([p.positions for p in pending]) if pending else np.zeros(0, np.int64)
    return _build_segment(hashes, np.repeat(ids, counts), positions, table, [p.signature for p in pending])


def _needed_tombstones(snap: _Snapshot, tombstones: list[list[int]]) -> list[list[int]]:
    """Tombstones that still kill a posting in some segment (the others can be forgotten)."""
    needed = []
    for doc_id, seq in tombstones:
        if any(s.seq < seq and _row(s, doc_id) is not None for s in snap.segments):
            needed.append([doc_id, seq])
    return needed


def _row(segment: _Segment, doc_id: int) -> int | None:
    i = int(np.searchsorted(segment.doc_ids, doc_id))
    return i if i < len(segment.doc_ids) and segment.doc_ids[i] == doc_id else None


# -- lookup ----------------------------------------------------------------------------------------


def _in_background(snap: _Snapshot, hashes: np.ndarray) -> np.ndarray:
    found = np.zeros(len(hashes), dtype=bool)
    for bg in snap.background:
        if len(bg):
            i = np.minimum(np.searchsorted(bg, hashes), len(bg) - 1)
            found |= bg[i] == hashes
    return found


def _posting_ranges(snap: _Snapshot, unique: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per segment, [lo, hi) of each unique query hash in its sorted hash array (lo == hi if absent): through
    the segment's prefix table once built, else :func:`_search_ranges`."""
    ranges = []
    for segment in snap.segments:
        found = segment.key_table.ranges(segment.hashes, unique)
        ranges.append(found if found is not None else _search_ranges(segment.hashes, unique))
    return ranges


def _search_ranges(h: np.ndarray, unique: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of each unique query hash in the sorted hash array ``h``, by np.searchsorted (the reference)."""
    lo = np.searchsorted(h, unique)
    hi = lo.copy()
    if len(h):
        found = np.flatnonzero(h[np.minimum(lo, len(h) - 1)] == unique)
        hi[found] = np.searchsorted(h, unique[found], side="right")
    return lo, hi


def _live_counts(snap: _Snapshot, ranges: list[tuple[np.ndarray, np.ndarray]], which: np.ndarray,
                 size: int) -> np.ndarray:
    """Live documents per unique hash, counted exactly, for the hashes at indices ``which``."""
    counts = np.zeros(size, dtype=np.int64)
    for segment, live, (lo, hi) in zip(snap.segments, snap.live, ranges, strict=True):
        n = hi[which] - lo[which]
        rows = segment.docs[_ranges(lo[which], n)]
        owner = np.repeat(which, n)
        counts += np.bincount(owner[live[rows]], minlength=size)
    return counts


def _common(snap: _Snapshot, ranges: list[tuple[np.ndarray, np.ndarray]], size: int,
            threshold: int | None) -> np.ndarray:
    """Unique query hashes in at least ``threshold`` live documents."""
    raw = sum((hi - lo for lo, hi in ranges), np.zeros(size, dtype=np.int64))
    if threshold is None:
        return np.zeros(size, dtype=bool)
    common = raw >= threshold + snap.dead_rows  # even if every dead row held this hash
    maybe = np.flatnonzero((raw >= threshold) & ~common)
    if len(maybe):
        common[maybe] = _live_counts(snap, ranges, maybe, size)[maybe] >= threshold
    return common


def _gather(snap: _Snapshot, ranges: list[tuple[np.ndarray, np.ndarray]],
            wanted: np.ndarray) -> tuple[np.ndarray, ...]:
    """Live postings of the unique hashes ``wanted``: (hash index, doc id, doc position, count, length,
    segment number, row in that segment's table)."""
    out: list[list[np.ndarray]] = [[], [], [], [], [], [], []]
    for number, (segment, live, (lo, hi)) in enumerate(zip(snap.segments, snap.live, ranges, strict=True)):
        n = hi[wanted] - lo[wanted]
        if not n.any():
            continue
        idx = _ranges(lo[wanted], n)
        rows = segment.docs[idx].astype(np.int64)
        ok = live[rows]
        rows = rows[ok]
        for bucket, values in zip(out, (np.repeat(wanted, n)[ok], segment.doc_ids[rows],
                                        segment.positions[idx[ok]].astype(np.int64), segment.counts[rows],
                                        segment.lengths[rows], np.full(len(rows), number), rows), strict=True):
            bucket.append(np.asarray(values, dtype=np.int64))
    return tuple(np.concatenate(b) if b else np.zeros(0, dtype=np.int64) for b in out)


def _lookup(snap: _Snapshot, hashes: np.ndarray, positions: np.ndarray, threshold: int | None) -> LookupResult:
    empty = np.zeros(0, dtype=np.int64)
    if not len(hashes):
        return LookupResult(None, Seeds(empty, empty, empty, empty, empty, empty), (empty,) * 7, empty, empty,
                            snap.generation)
    unique, inverse = np.unique(_keys(hashes), return_inverse=True)
    background = _in_background(snap, unique)
    ranges = _posting_ranges(snap, unique)
    common = _common(snap, ranges, len(unique), threshold) & ~background
    wanted = np.flatnonzero(~background & ~common)
    postings, seeds = _gather_seeds(snap, ranges, wanted, inverse, positions, len(unique))
    return LookupResult(snap, seeds, postings, np.sort(positions[common[inverse]]),
                        np.sort(positions[background[inverse]]), snap.generation)


def _gather_seeds(snap: _Snapshot, ranges: list[tuple[np.ndarray, np.ndarray]], wanted: np.ndarray,
                  inverse: np.ndarray, positions: np.ndarray, size: int) -> tuple[tuple[np.ndarray, ...], Seeds]:
    """:func:`_gather` and :func:`_seeds`, in C when the extension is built (the same arrays); an index the
    extension refuses (a posting range or row out of range) goes the numpy way, which decides."""
    if _fast.MATCH_AVAILABLE:
        segments = tuple((s.docs, s.positions, s.doc_ids, s.counts, s.lengths, live, lo, hi)
                         for s, live, (lo, hi) in zip(snap.segments, snap.live, ranges, strict=True))
        try:
            postings, seeds = _fast.gather(segments, wanted, inverse, positions, size)
        except (TypeError, ValueError):
            pass
        else:
            return postings, Seeds(*seeds)
    postings = _gather(snap, ranges, wanted)
    return postings, _seeds(postings, inverse, positions, size)


def _seeds(postings: tuple[np.ndarray, ...], inverse: np.ndarray, positions: np.ndarray, size: int) -> Seeds:
    """Join postings (one per matched hash and document) with the query positions of each hash."""
    u, doc, doc_pos, _count, length, segment, row = postings
    if not len(u):
        empty = np.zeros(0, dtype=np.int64)
        return Seeds(empty, empty, empty, empty, empty, empty)
    per_hash = np.bincount(inverse, minlength=size)
    by_hash = np.argsort(inverse, kind="stable")
    first = np.cumsum(per_hash) - per_hash
    expand = per_hash[u]
    query_pos = positions[by_hash[_ranges(first[u], expand)]]
    columns = [np.repeat(a, expand) for a in (doc, doc_pos, segment, row, length)]
    order = np.lexsort((query_pos, columns[0]))
    return Seeds(columns[0][order], query_pos[order], columns[1][order], columns[2][order], columns[3][order],
                 columns[4][order])
