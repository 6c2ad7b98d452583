"""The wess.shifts metadata format: round trip, nibble packing and every rejection path."""
import struct

import numpy as np
import pytest

from pipeline.errors import WessError
from pipeline.tflite import metadata


def layers():
    return [metadata.LayerShifts(3, 7, 3, 0.0125, 1518500250, 9, np.array([0, 15, 3], np.uint8)),
            metadata.LayerShifts(4, 8, 4, 2.5e-4, 1073741824, -2, np.array([1, 2, 3, 4], np.uint8))]


def test_round_trip():
    data = metadata.encode(layers())
    back = metadata.decode(data)
    for a, b in zip(layers(), back):
        assert (a.operator_index, a.weight_tensor, a.builtin_code, a.multiplier, a.right_shift) == \
               (b.operator_index, b.weight_tensor, b.builtin_code, b.multiplier, b.right_shift)
        assert np.float32(a.layer_scale) == np.float32(b.layer_scale)
        assert np.array_equal(a.channel_right_shift, b.channel_right_shift)


def test_byte_layout():
    data = metadata.encode(layers()[:1])
    assert data[:4] == b"WESS"
    assert struct.unpack_from("<HHI", data, 4) == (1, 12, 1)
    # record: 24 bytes, then ceil(3/2) = 2 bytes of shifts padded to 4: 0 | 15 << 4, 3
    assert len(data) == 12 + 24 + 4
    assert data[36:40] == bytes([0xF0, 0x03, 0, 0])


def test_nibbles():
    assert metadata.pack_nibbles(np.array([1, 2, 3], np.uint8)) == bytes([0x21, 0x03])
    assert metadata.unpack_nibbles(bytes([0x21, 0x03]), 3).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="4 bits"):
        metadata.pack_nibbles(np.array([16], np.uint8))


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"XESS" + d[4:], "bad magic"),
    (lambda d: d[:4] + struct.pack("<H", 3) + d[6:], "version 3 is newer"),
    (lambda d: d[:4] + struct.pack("<H", 2) + d[6:], "weight bit width 0, not one of 4, 8"),  # v2 names the bits
    (lambda d: d[:10], "shorter than the 12-byte header"),
    (lambda d: d[:30], "runs past the end"),
    (lambda d: d + b"\0\0\0\0", "trailing bytes"),
    (lambda d: d[:20] + struct.pack("<I", 1000) + d[24:], "more shifts than"),
    (lambda d: d[:24] + struct.pack("<f", -1.0) + d[28:], "not a positive number"),
])
def test_rejects(mutate, message):
    with pytest.raises(WessError, match=message):
        metadata.decode(mutate(metadata.encode(layers())))
