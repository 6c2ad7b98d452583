"""tools/mtcnn_photos.py: seeded windows of photographs, normalised as the mtcnn package normalises its input."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest


def _tool():
    path = Path(__file__).resolve().parent.parent / "tools" / "mtcnn_photos.py"
    spec = importlib.util.spec_from_file_location("mtcnn_photos_tool", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_windows_are_seeded_normalised_and_black_outside_the_photo():
    tool = _tool()
    # two 40 x 60 "photos": a constant grey one (pixel 200) and, last, the "portrait" with a white square "face"
    grey = np.full((40, 60, 3), 200, np.uint8)
    portrait = np.zeros((40, 60, 3), np.uint8)
    portrait[10:30, 20:40] = 255
    face = (30.0, 20.0, 20.0)  # centre x, centre y, side
    a = tool.windows([grey, portrait], face, 6, 12, seed=0)
    assert a.shape == (6, 12, 12, 3) and a.dtype == np.float32
    assert np.array_equal(a, tool.windows([grey, portrait], face, 6, 12, seed=0))
    assert not np.array_equal(a, tool.windows([grey, portrait], face, 6, 12, seed=1))
    assert a.min() >= -127.5 / 128 and a.max() <= 127.5 / 128  # (pixel - 127.5) / 128 of 0..255
    # face windows cover the face's centre: its pixel is white (up to the bilinear resize at the edges)
    assert np.all(a[0::2, 6, 6] > 0)


def test_windows_of_a_box_leaving_the_photo_are_black_there():
    tool = _tool()
    portrait = np.full((40, 40, 3), 255, np.uint8)
    # a face box of side 100 on a 40 x 40 photo: every jittered box (side >= 60, centre within 40 px of the
    # photo's) reaches beyond the photo and overlaps it by at least 10 px each way
    out = tool.windows([portrait], (20.0, 20.0, 100.0), 8, 12, seed=0)
    for window in out[0::2]:
        assert window.min() == pytest.approx(-127.5 / 128)  # black (0) where the box leaves the photo
        assert window.max() > 0  # white inside


@pytest.mark.slow
def test_the_float_detector_finds_the_face_in_the_portrait():
    """The photographs ship with scikit-learn and matplotlib; MTCNN (float, its own weights) finds one face."""
    tool = _tool()
    images = tool.photographs()
    assert len(images) == 3 and all(image.ndim == 3 and image.shape[2] == 3 for image in images)
    cx, cy, side = tool.face_box(images[-1])
    height, width = images[-1].shape[:2]
    assert 0 < cx < width and 0 < cy < height and 40 < side < min(height, width)
