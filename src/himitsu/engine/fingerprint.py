"""Keyed winnowing fingerprints of normalised text (Schleimer, Wilkerson and Aiken 2003).

A *k-gram* is a run of k consecutive normalised characters (see :mod:`himitsu.engine.normalize`).
Every k-gram gets a hash; in every window of w consecutive k-gram hashes the minimum is selected
(the rightmost one on ties), and each selected k-gram, once per position, becomes a fingerprint:
``(hash, position)`` where position is the k-gram's start in the normalised text.

Asymmetric use. A *registered document* stores its winnowed fingerprints (about 2/(w + 1) of its
k-grams) and its *signature*: the top :data:`SIGNATURE_BITS` (2) bits of the keyed hash of every
k-gram, packed four to a byte. A *checked text* (:meth:`Fingerprinter.probe`) looks up nearly every
one of its k-grams, not only its own winnowed ones, so what a document selected inside a shared run
is found whatever the text around it: only the k-grams whose winnowing value is below
:data:`PROBE_LIMIT` are looked up (a document's selected k-gram is the minimum of w values and lies
above it with probability (3/4)**w, 0.1 % at w = 24), and the signature of any k-gram is computed only
where a match is verified (see :mod:`himitsu.engine.detectors.registered_secret`).

Guarantee (w, k): with t = w + k − 1, any run of at least t normalised characters that a checked text
shares with a registered document holds at least one k-gram the document selected (the minimum of a
window lying inside the run), and the text looks it up; a run shorter than k can never match.

Defaults: k = 12, w = 24, so t = 35 normalised characters. k = 12 is long enough that a chance match
is rare (12 kana/kanji is a clause; 12 letters are two English words, and the common ones are
suppressed by the index's background model), and short enough that a lightly edited copy keeps most
k-grams: with 2 % of characters substituted, 0.98**12 = 78 % of k-grams survive. w = 24 keeps 2/25 =
8 % of k-grams (one per 12.5 characters). Chosen by ``make bench`` (docs/benchmarks.md) against
(12, 32) and (14, 28): the best recall of 100-character edited excerpts at the same false-alert rate,
at 2.2 KB (Japanese) and 4.3 KB (English) of index per 5 KB document.

Keyed hashing (why the index reveals nothing about the text). Three keys are derived from the
installation secret with keyed BLAKE2b: K_char, K_base and K_out.

1. Each code point c gets a pseudo-random 64-bit value T[c] = SipHash-2-4(K_char, c).
2. The rolling hash of the k-gram at i is r_i = Σ_j T[c_{i+j}]·B^(k−1−j) mod 2^64, with a secret odd
   base B (from K_base, B ≡ 5 mod 8, maximal multiplicative order). It is computed for all k-grams at
   once with numpy prefix sums (no Python loop per character). Two different k-grams collide only if
   a random combination of the T values vanishes modulo 2^64: probability about 2^-64, times 2^v for
   a difference polynomial in B of 2-adic valuation v (v ≤ 7 for two k-grams that differ by a swap
   of two characters). The stored 64-bit hashes then collide at random: with 10^7 fingerprints in
   the index, a 200-fingerprint query meets a false match about once in 10^10 queries.
3. Winnowing selects by the top 32 bits of r (ties broken by position).
4. Each k-gram's stored hash is h_i = SipHash-2-4(K_out, r_i), a pseudo-random function (PRF) with a
   128-bit key (a small C extension, :mod:`himitsu.engine._siphash`, or the numpy implementation
   :func:`siphash24` when it is not built). The index keys a posting by the low 32 bits of h; the
   signature keeps its top 2 bits.

What this guarantees: without the key, the stored hashes are indistinguishable from random values
(SipHash is a PRF), so someone holding the index cannot tell which text produced them, nor test a
guessed phrase against them, even knowing other registered documents and their fingerprints. What
it does not: (a) equal k-grams give equal hashes, so the index reveals which documents share text and
how often a fingerprint repeats; (b) the stored positions (where fingerprints were selected) depend on
the non-cryptographic rolling hash r: they leak the document's length and the spacing of its
fingerprints, and testing a guess against them also needs the key; (c) anyone with the key can
fingerprint candidate texts and look them up (a dictionary attack), so the key must be protected like
the documents themselves; (d) nothing is hidden from someone who can run the engine. Changing the key
changes every hash, so an index is tied to its key (see :attr:`Fingerprinter.id`), and a new key
means fingerprinting every registered document again from its source (the index keeps no text).

Ties: the rightmost minimum is selected, without robust winnowing's preference for the previous
window's choice, so periodic text ("0000…", "abab…") selects up to one k-gram per position; the
index stores each distinct hash once per document, so this costs query work, not storage.

Probe in one pass: with the C extension, :meth:`Fingerprinter.probe` computes the rolling hashes (by the
recurrence r_{i+1} = r_i·B + T[c_{i+k}] − T[c_i]·B^k, equal mod 2^64 to the prefix sums), the selection below
:data:`PROBE_LIMIT`, the keyed hashes of the selected k-grams and their signature values in one call
(:func:`himitsu.engine._fast.probe`); the numpy code above stays the reference and the fallback.

Speed: see docs/benchmarks.md (with the C extension, registering fingerprints about 120 MB/s and
probing about 200 MB/s of normalised Japanese on the 2-core machine). Long texts are cut into chunks
of ``CHUNK`` windows, so memory stays bounded (about 100 MB per million characters).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from himitsu.engine import _fast
from himitsu.engine.normalize import Normalized

__all__ = ["DEFAULT_K", "DEFAULT_W", "PROBE_LIMIT", "SIGNATURE_BITS", "Fingerprinter", "Fingerprints", "Probe",
           "covered_spans", "pack_signature", "packed_values", "siphash24", "unpack_signature", "winnow"]

DEFAULT_K = 12
DEFAULT_W = 24
#: bits of the keyed hash kept per k-gram of a registered document (its signature)
SIGNATURE_BITS = 2
#: a checked text looks up only its k-grams whose winnowing value (r >> 32) lies below this: a k-gram a
#: registered document selected is the minimum of w such values, so it lies above with probability
#: (3/4)**w (0.1 % at w = 24), while three quarters of the lookups are saved
PROBE_LIMIT = 1 << 30
MIN_KEY_BYTES = 16
CHUNK = 1 << 20  # windows per chunk of a long text

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
_LOW32 = _U64(0xFFFFFFFF)
_ALGORITHM = "wnw2"  # bump when anything changes the hashes of a given (key, text)


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """Fingerprints of one normalised text.

    ``hashes`` (uint64) and ``positions`` (int64, strictly increasing) are aligned: fingerprint i is
    the k-gram ``text[positions[i] : positions[i] + k]``. ``text_length`` is the normalised length.
    ``signature`` (registered documents only): one :data:`SIGNATURE_BITS`-bit value (uint8) per k-gram
    of the text, in order, used to verify and measure a match along its alignment.
    """

    hashes: np.ndarray
    positions: np.ndarray
    k: int
    text_length: int
    signature: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.hashes)


class Probe:
    """What a text to check yields: the fingerprints to look up (every k-gram that a registered
    document could have selected, see :data:`PROBE_LIMIT`) and, on demand, the signature value of any
    k-gram (computed only where a match has to be verified)."""

    def __init__(self, fingerprinter: Fingerprinter, rolling: np.ndarray, text_length: int,
                 picked: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
        """``picked``: (positions, keyed hashes) of the k-grams to look up and (signature values, known flags)
        of every k-gram, known where the hash was computed, when already computed (the C pass of
        :func:`himitsu.engine._fast.probe`); else selected and hashed here with numpy."""
        self._fingerprinter = fingerprinter
        self._rolling = rolling
        self.kgrams = len(rolling)
        self.text_length = text_length
        if picked is None:
            at = np.flatnonzero((rolling >> _U64(32)) < _U64(PROBE_LIMIT))
            self.fingerprints = Fingerprints(fingerprinter.prf(rolling[at]), at.astype(np.int64), fingerprinter.k,
                                             text_length)
            self._signature = np.zeros(len(rolling), dtype=np.uint8)
            self._known = np.zeros(len(rolling), dtype=bool)
        else:
            self.fingerprints = Fingerprints(picked[1], picked[0], fingerprinter.k, text_length)
            self._signature, self._known = picked[2], picked[3]

    def signature_at(self, positions: np.ndarray) -> np.ndarray:
        """Signature values at k-gram ``positions`` (any shape; each in [0, kgrams))."""
        flat = np.asarray(positions, dtype=np.int64).reshape(-1)
        if 8 * len(flat) < self.kgrams:  # a few positions in a long text: sort them rather than mark the text
            missing = np.unique(flat[~self._known[flat]])
        else:
            needed = np.zeros(self.kgrams, dtype=bool)
            needed[flat] = True
            missing = np.flatnonzero(needed & ~self._known)
        if len(missing):
            self._signature[missing] = _signature_of(self._fingerprinter.prf(self._rolling[missing]))
            self._known[missing] = True
        return self._signature[flat].reshape(np.shape(positions))

    def _signature_state(self) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
        """(PRF key, rolling hashes, signature cache, known flags): what the compiled matcher
        (:mod:`himitsu.engine._fast`) reads, filling in the cache where it needs a value, exactly as
        :meth:`signature_at` would."""
        return self._fingerprinter._out_key, self._rolling, self._signature, self._known

    def signature(self, lo: int, hi: int) -> np.ndarray:
        """Signature values of the k-grams ``lo`` to ``hi − 1`` (clipped to the text)."""
        lo, hi = max(0, lo), min(self.kgrams, hi)
        if hi <= lo:
            return self._signature[0:0]
        missing = np.flatnonzero(~self._known[lo:hi]) + lo
        if len(missing):
            self._signature[missing] = _signature_of(self._fingerprinter.prf(self._rolling[missing]))
            self._known[missing] = True
        return self._signature[lo:hi]


def _rotl(x: np.ndarray, b: int) -> np.ndarray:
    return (x << _U64(b)) | (x >> _U64(64 - b))


def _sipround(v0: np.ndarray, v1: np.ndarray, v2: np.ndarray,
              v3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    v0 = v0 + v1
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = v2 + v3
    v3 = _rotl(v3, 16) ^ v2
    v0 = v0 + v3
    v3 = _rotl(v3, 21) ^ v0
    v2 = v2 + v1
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key: bytes, messages: np.ndarray) -> np.ndarray:
    """SipHash-2-4 (Aumasson and Bernstein) of each uint64 in ``messages`` taken as 8 little-endian
    bytes, with a 16-byte key; vectorised over the array. Equals the reference implementation."""
    if len(key) != 16:
        raise ValueError("SipHash needs a 16-byte key")
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    m = np.asarray(messages, dtype=_U64)
    v0 = np.full(m.shape, k0 ^ 0x736F6D6570736575, dtype=_U64)
    v1 = np.full(m.shape, k1 ^ 0x646F72616E646F6D, dtype=_U64)
    v2 = np.full(m.shape, k0 ^ 0x6C7967656E657261, dtype=_U64)
    v3 = np.full(m.shape, k1 ^ 0x7465646279746573, dtype=_U64) ^ m
    for _ in range(2):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    last = _U64(8 << 56)  # message length 8, no remaining bytes
    v0 = v0 ^ m
    v3 = v3 ^ last
    for _ in range(2):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 = v0 ^ last
    v2 = v2 ^ _U64(0xFF)
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def _sliding_min(values: np.ndarray, w: int) -> np.ndarray:
    """Minimum of every window of w consecutive values (len(values) − w + 1 results), by doubling."""
    span = 1
    current = values
    while span * 2 <= w:
        current = np.minimum(current[:-span], current[span:])
        span *= 2
    rest = w - span
    if rest:
        current = np.minimum(current[: len(current) - rest], current[rest:])
    return current


def winnow(values: np.ndarray, w: int) -> np.ndarray:
    """Positions selected by winnowing ``values`` (integers below 2**32) with window w.

    In each window of w consecutive values the minimum is selected, the rightmost one on ties; each
    position is reported once, in increasing order. A sequence shorter than w is one window.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n >= 1 << 32:
        raise ValueError("text too long to winnow (2**32 k-grams)")
    position = np.arange(n, dtype=_U64)
    keyed = (np.asarray(values, dtype=_U64) << _U64(32)) | (_LOW32 - position)
    window_min = _sliding_min(keyed, min(w, n))
    selected = (_LOW32 - (window_min & _LOW32)).astype(np.int64)
    first = np.empty(len(selected), dtype=bool)
    first[0] = True
    np.not_equal(selected[1:], selected[:-1], out=first[1:])
    return selected[first]


def covered_spans(positions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-grams starting at ``positions`` merged into disjoint ``[start, end)`` spans of the
    normalised text (overlapping or touching k-grams join): e.g. the matched spans of a query."""
    p = np.unique(np.asarray(positions, dtype=np.int64))
    if not len(p):
        return p, p.copy()
    breaks = np.flatnonzero(p[1:] > p[:-1] + k)
    return p[np.r_[0, breaks + 1]], p[np.r_[breaks, len(p) - 1]] + k


def _derive(master: bytes, label: bytes, size: int) -> bytes:
    return hashlib.blake2b(label, key=master, digest_size=size, person=b"himitsu.fp.v1").digest()


class Fingerprinter:
    """Keyed winnowing with k-gram length ``k`` and window ``w`` (see the module docstring)."""

    def __init__(self, key: bytes, k: int = DEFAULT_K, w: int = DEFAULT_W) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the fingerprint key needs at least {MIN_KEY_BYTES} bytes")
        if k < 1 or w < 1:
            raise ValueError("k and w must be positive")
        self.k = k
        self.w = w
        master = key if len(key) <= 64 else hashlib.blake2b(key).digest()
        self._char_key = _derive(master, b"char", 16)
        self._out_key = _derive(master, b"out", 16)
        base = int.from_bytes(_derive(master, b"base", 8), "little")
        self._base = (base & ~7 & _MASK64) | 5
        self._base_inv = pow(self._base, -1, 1 << 64)
        check = _derive(master, b"check", 6).hex()
        self.id = f"{_ALGORITHM}-k{k}-w{w}-{check}"
        self._bmp = siphash24(self._char_key, np.arange(0x10000, dtype=_U64))
        self._pow = np.ones(1, dtype=_U64)
        self._pow_inv = np.ones(1, dtype=_U64)

    @property
    def threshold(self) -> int:
        """t = w + k − 1: every shared run of at least t normalised characters shares a fingerprint."""
        return self.w + self.k - 1

    def fingerprints(self, norm_text: str | Normalized) -> Fingerprints:
        """The winnowed, keyed fingerprints of an already normalised text, with its signature (one
        :data:`SIGNATURE_BITS`-bit value of the keyed hash of every k-gram): what a registered document
        stores.

        Long texts are processed in chunks of ``CHUNK`` windows (overlapping by w + k − 2 characters),
        which gives exactly the result of one pass and bounds the memory to a few arrays per chunk.
        """
        cps = _codepoints(norm_text)
        n_kgrams = len(cps) - self.k + 1
        if n_kgrams <= 0:
            return Fingerprints(np.zeros(0, _U64), np.zeros(0, np.int64), self.k, len(cps), np.zeros(0, np.uint8))
        w = min(self.w, n_kgrams)
        n_windows = n_kgrams - w + 1
        positions: list[np.ndarray] = []
        hashes: list[np.ndarray] = []
        signature: list[np.ndarray] = []
        for s in range(0, n_windows, CHUNK):
            e = min(s + CHUNK, n_windows)
            r = self._rolling(cps[s: e + w - 1 + self.k - 1])
            selected = winnow(r >> _U64(32), w)
            h = self.prf(r)
            own = len(r) if e == n_windows else e - s  # k-grams of this chunk not repeated in the next
            positions.append(selected + s)
            hashes.append(h[selected])
            signature.append(_signature_of(h[:own]))
        pos, h_sel = np.concatenate(positions), np.concatenate(hashes)
        first = np.r_[True, pos[1:] != pos[:-1]]
        return Fingerprints(hashes=h_sel[first], positions=pos[first], k=self.k, text_length=len(cps),
                            signature=np.concatenate(signature))

    def probe(self, norm_text: str | Normalized) -> Probe:
        """What a text to check looks up (see :class:`Probe`)."""
        cps = _codepoints(norm_text)
        if _fast.PROBE_AVAILABLE and len(cps) >= self.k:
            rolling, *picked = _fast.probe(self._bmp, cps, self.k, self._base, self._char_key, self._out_key,
                                           PROBE_LIMIT)
            return Probe(self, rolling, len(cps), (picked[0], picked[1], picked[2], picked[3]))
        return self._probe_numpy(cps)

    def _probe_numpy(self, cps: np.ndarray) -> Probe:
        """The reference of :meth:`probe` (numpy prefix sums and selection; used without the C pass)."""
        return Probe(self, self._rolling(cps), len(cps))

    def background(self, norm_text: str | Normalized) -> np.ndarray:
        """Hashes of every k-gram of a (non-secret) text that a check could look up: its background
        fingerprints. Denser than a document's, since any of them may be a registered document's."""
        return self.probe(norm_text).fingerprints.hashes

    def prf(self, rolling: np.ndarray) -> np.ndarray:
        """The stored, keyed hash of k-grams from their rolling hash: SipHash-2-4 under K_out (the C
        extension when it is built, else the numpy implementation; both give the same values)."""
        return _fast.siphash24(self._out_key, rolling) if _fast.AVAILABLE else siphash24(self._out_key, rolling)

    def kgram_hashes(self, norm_text: str | Normalized) -> np.ndarray:
        """The keyed hash of every k-gram (not only the selected ones), in one pass; for tests and
        diagnostics on short texts."""
        return self.prf(self._rolling(_codepoints(norm_text)))

    def _char_values(self, cps: np.ndarray) -> np.ndarray:
        if not len(cps) or int(cps.max()) < 0x10000:
            return np.asarray(self._bmp[cps])
        astral = cps >= 0x10000
        values = self._bmp[np.where(astral, 0, cps)]
        values[astral] = siphash24(self._char_key, cps[astral].astype(_U64))
        return values

    def _powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """B**j and B**-j mod 2**64 for j < n (cached, grown by doubling)."""
        if len(self._pow) < n:
            size = max(n, 2 * len(self._pow))
            self._pow = _power_table(self._base, size)
            self._pow_inv = _power_table(self._base_inv, size)
        return self._pow[:n], self._pow_inv[:n]

    def _rolling(self, cps: np.ndarray) -> np.ndarray:
        """r_i = Σ_j T[c_{i+j}]·B^(k−1−j) mod 2**64 for every k-gram, via prefix sums:
        P_m = Σ_{j<m} T[c_j]·B^-j, then r_i = (P_{i+k} − P_i)·B^(i+k−1)."""
        n, k = len(cps), self.k
        if n < k:
            return np.zeros(0, dtype=_U64)
        power, power_inv = self._powers(n)
        prefix = np.zeros(n + 1, dtype=_U64)
        np.cumsum(self._char_values(cps) * power_inv, out=prefix[1:])
        return np.asarray((prefix[k:] - prefix[:-k]) * power[k - 1:])


def _signature_of(hashes: np.ndarray) -> np.ndarray:
    """The signature value of k-grams from their keyed hash: its top SIGNATURE_BITS bits (the index
    keys postings by the low 32 bits)."""
    return (np.asarray(hashes, dtype=_U64) >> _U64(64 - SIGNATURE_BITS)).astype(np.uint8)


_PER_BYTE = 8 // SIGNATURE_BITS


def pack_signature(values: np.ndarray) -> np.ndarray:
    """Signature values (uint8 below 2**SIGNATURE_BITS) packed four to a byte, first value lowest."""
    values = np.asarray(values, dtype=np.uint8)
    padded = np.zeros(-(-len(values) // _PER_BYTE) * _PER_BYTE, dtype=np.uint8)
    padded[: len(values)] = values
    shifts = np.arange(_PER_BYTE, dtype=np.uint8) * np.uint8(SIGNATURE_BITS)
    return np.bitwise_or.reduce(padded.reshape(-1, _PER_BYTE) << shifts, axis=1).astype(np.uint8)


def packed_values(packed: np.ndarray, positions: np.ndarray, base: np.ndarray | int = 0) -> np.ndarray:
    """Signature values at ``positions`` (any shape) of a signature packed at byte ``base`` of ``packed``
    (a scalar or an array broadcasting with ``positions``). Positions must lie inside the signature; a
    byte index past the end of ``packed`` is clamped (callers mask such placeholder positions)."""
    packed = np.asarray(packed)
    at = np.asarray(positions, dtype=np.int64)
    byte = packed[np.minimum(np.asarray(base) + at // _PER_BYTE, len(packed) - 1)]
    return (byte >> ((at % _PER_BYTE) * SIGNATURE_BITS).astype(np.uint8)) & np.uint8((1 << SIGNATURE_BITS) - 1)


def unpack_signature(packed: np.ndarray, count: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Values ``lo`` to ``hi − 1`` (default: all ``count``) of a packed signature."""
    hi = count if hi is None else min(hi, count)
    lo = max(0, lo)
    if hi <= lo:
        return np.zeros(0, dtype=np.uint8)
    first, last = lo // _PER_BYTE, (hi - 1) // _PER_BYTE + 1
    chunk = np.asarray(packed[first:last], dtype=np.uint8)
    shifts = np.arange(_PER_BYTE, dtype=np.uint8) * np.uint8(SIGNATURE_BITS)
    values = ((chunk[:, None] >> shifts) & np.uint8((1 << SIGNATURE_BITS) - 1)).reshape(-1)
    return values[lo - first * _PER_BYTE: hi - first * _PER_BYTE]


def _power_table(base: int, n: int) -> np.ndarray:
    """base**j mod 2**64 for j < n, by doubling: table[m:2m] = table[:m] * base**m."""
    table = np.ones(n, dtype=_U64)
    m = 1
    while m < n:
        step = min(m, n - m)
        np.multiply(table[:step], _U64(pow(base, m, 1 << 64)), out=table[m: m + step])
        m += step
    return table


def _codepoints(text: str | Normalized) -> np.ndarray:
    if isinstance(text, Normalized):
        text = text.text
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
