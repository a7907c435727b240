"""SipHash-2-4 of arrays through the C extension :mod:`himitsu.engine._siphash`.

:func:`siphash24` computes exactly what the numpy reference :func:`himitsu.engine.fingerprint.siphash24`
does (each uint64 taken as 8 little-endian message bytes, 16-byte key), about an order of magnitude faster.
``AVAILABLE`` says whether the extension could be imported; this module provides no fallback.
"""

from __future__ import annotations

import numpy as np

try:
    from himitsu.engine._siphash import siphash24_into as _siphash24_into
except ImportError:  # not built (e.g. installed without a compiler)
    _siphash24_into = None

__all__ = ["AVAILABLE", "siphash24"]

AVAILABLE: bool = _siphash24_into is not None


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
