"""The C extension himitsu.engine._siphash computes what the numpy reference fingerprint.siphash24 does:
same hashes on random arrays and keys, the published SipHash-2-4 test vector, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from himitsu.engine import _fast, _siphash
from himitsu.engine.fingerprint import siphash24 as reference

siphash24_into = _siphash.siphash24_into

VECTOR_KEY = bytes(range(16))  # 00 01 … 0f
VECTOR_MESSAGE = bytes(range(8))  # 00 01 … 07
VECTOR_OUTPUT = bytes.fromhex("6224939a79f5f593")  # SipHash-2-4 reference vectors, 8-byte message


def test_extension_is_available():
    assert _fast.AVAILABLE
    assert _fast.siphash24.__module__ == "himitsu.engine._fast"


@pytest.mark.parametrize("n", [0, 1, 7, 100_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_equals_numpy_reference(n, seed):
    rng = np.random.default_rng(seed)
    key = rng.bytes(16)
    messages = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    expected = reference(key, messages)
    got = _fast.siphash24(key, messages)
    assert got.dtype == np.uint64 and got.shape == (n,)
    np.testing.assert_array_equal(got, expected)


def test_edge_values_equal_reference():
    messages = np.array([0, 1, 2**63, 2**64 - 1, 0x0706050403020100], dtype=np.uint64)
    for key in (bytes(16), b"\xff" * 16, VECTOR_KEY):
        np.testing.assert_array_equal(_fast.siphash24(key, messages), reference(key, messages))


def test_published_vector():
    message = np.frombuffer(VECTOR_MESSAGE, dtype="<u8")
    expected = np.frombuffer(VECTOR_OUTPUT, dtype="<u8")
    assert int(expected[0]) == 0x93F5F5799A932462
    got = _fast.siphash24(VECTOR_KEY, message)
    assert int(got[0]) == 0x93F5F5799A932462
    assert got.astype("<u8").tobytes() == VECTOR_OUTPUT
    assert int(reference(VECTOR_KEY, message)[0]) == 0x93F5F5799A932462


def test_raw_bytes_in_and_out():
    """Raw bytes are the message bytes; raw-byte output holds each hash as 8 little-endian bytes."""
    out = bytearray(8)
    siphash24_into(VECTOR_KEY, VECTOR_MESSAGE, out)
    assert bytes(out) == VECTOR_OUTPUT
    out = bytearray(8)
    siphash24_into(bytearray(VECTOR_KEY), memoryview(VECTOR_MESSAGE), out)
    assert bytes(out) == VECTOR_OUTPUT


def test_big_endian_buffers():
    """A buffer of big-endian words ('>Q') holds the same values, so it gives the same hashes."""
    rng = np.random.default_rng(7)
    key = rng.bytes(16)
    messages = rng.integers(0, 2**64 - 1, size=1000, dtype=np.uint64, endpoint=True)
    big_in = messages.astype(">u8")
    big_out = np.empty(len(messages), dtype=">u8")
    siphash24_into(key, big_in, big_out)
    np.testing.assert_array_equal(big_out.astype(np.uint64), reference(key, messages))


def test_in_place():
    rng = np.random.default_rng(8)
    key = rng.bytes(16)
    messages = rng.integers(0, 2**64 - 1, size=1000, dtype=np.uint64, endpoint=True)
    expected = reference(key, messages)
    siphash24_into(key, messages, messages)
    np.testing.assert_array_equal(messages, expected)


@pytest.mark.parametrize("length", [0, 8, 15, 17, 32])
def test_wrong_key_length(length):
    messages = np.arange(4, dtype=np.uint64)
    with pytest.raises(ValueError, match="16-byte key"):
        siphash24_into(bytes(length), messages, np.empty(4, dtype=np.uint64))
    with pytest.raises(ValueError, match="16-byte key"):
        _fast.siphash24(bytes(length), messages)


@pytest.mark.parametrize("out_length", [0, 3, 5])
def test_mismatched_out_length(out_length):
    with pytest.raises(ValueError, match="out must have the length of data"):
        siphash24_into(VECTOR_KEY, np.arange(4, dtype=np.uint64), np.empty(out_length, dtype=np.uint64))


def test_data_not_whole_messages():
    with pytest.raises(ValueError, match="multiple of 8"):
        siphash24_into(VECTOR_KEY, bytes(12), bytearray(12))


def test_overlapping_out():
    buf = np.arange(10, dtype=np.uint64)
    with pytest.raises(ValueError, match="overlaps"):
        siphash24_into(VECTOR_KEY, buf[:8], buf[1:9])


def test_wrong_formats():
    with pytest.raises(TypeError, match="uint64"):
        siphash24_into(VECTOR_KEY, np.zeros(4, dtype=np.float64), np.empty(4, dtype=np.uint64))
    with pytest.raises(TypeError, match="uint64"):
        siphash24_into(VECTOR_KEY, np.zeros(4, dtype=np.uint32), np.empty(2, dtype=np.uint64))
    with pytest.raises(TypeError, match="out must be"):
        siphash24_into(VECTOR_KEY, np.zeros(4, dtype=np.uint64), np.empty(4, dtype=np.int64))
    with pytest.raises(TypeError):
        siphash24_into("0123456789abcdef", np.zeros(4, dtype=np.uint64), np.empty(4, dtype=np.uint64))
    with pytest.raises(TypeError):
        siphash24_into(VECTOR_KEY, np.zeros(4, dtype=np.uint64))


def test_read_only_or_non_contiguous_out_refused():
    messages = np.arange(4, dtype=np.uint64)
    with pytest.raises((BufferError, TypeError)):
        siphash24_into(VECTOR_KEY, messages, bytes(32))
    readonly = np.empty(4, dtype=np.uint64)
    readonly.flags.writeable = False
    with pytest.raises((BufferError, ValueError)):
        siphash24_into(VECTOR_KEY, messages, readonly)
    with pytest.raises((BufferError, ValueError)):
        siphash24_into(VECTOR_KEY, messages, np.empty(8, dtype=np.uint64)[::2])


def test_non_contiguous_input_through_wrapper():
    rng = np.random.default_rng(9)
    key = rng.bytes(16)
    base = rng.integers(0, 2**64 - 1, size=(300, 200), dtype=np.uint64, endpoint=True)
    for view in (base[:, 3], base[::3, ::7], base.T, base[::-1]):
        assert not view.flags.c_contiguous
        with pytest.raises((BufferError, ValueError)):
            siphash24_into(key, view, np.empty(view.shape, dtype=np.uint64))
        got = _fast.siphash24(key, view)
        assert got.shape == view.shape
        np.testing.assert_array_equal(got, reference(key, view))


def test_wrapper_converts_other_inputs():
    key = VECTOR_KEY
    values = [0, 1, 2**64 - 1, 12345]
    np.testing.assert_array_equal(_fast.siphash24(key, values), reference(key, values))
    small = np.arange(1000, dtype=np.uint32)
    np.testing.assert_array_equal(_fast.siphash24(key, small), reference(key, small))
    big_endian = np.arange(1000, dtype=">u8")
    np.testing.assert_array_equal(_fast.siphash24(key, big_endian), reference(key, big_endian))
