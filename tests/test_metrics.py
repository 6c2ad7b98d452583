"""The measuring stick: seeded augmentations and int8-vs-float output metrics."""
import numpy as np
import pytest

from pipeline.quant import metrics


def _images(n=20, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, 8, 8, 1)).astype(np.float32)


def test_augment_is_a_pure_function_of_its_arguments():
    x = _images()
    before = x.copy()
    a, b = metrics.augment(x), metrics.augment(x)
    assert np.array_equal(a, b)
    assert np.array_equal(x, before)  # the input is not modified
    assert not np.array_equal(a, metrics.augment(x, seed=1))


def test_augment_keeps_the_clean_split_first_and_stays_in_range():
    x = _images()
    out = metrics.augment(x, copies=3)
    assert out.shape == (4 * len(x),) + x.shape[1:] and out.dtype == np.float32
    assert np.array_equal(out[:len(x)], x)
    assert out.min() >= x.min() and out.max() <= x.max()
    for k in range(1, 4):  # every copy differs from the clean samples
        assert np.all(np.abs(out[k * len(x):(k + 1) * len(x)] - x).reshape(len(x), -1).max(axis=1) > 0)


def test_augment_of_feature_vectors_has_no_shift():
    x = np.random.default_rng(2).normal(size=(10, 5)).astype(np.float32)
    out = metrics.augment(x, copies=2)
    assert out.shape == (30, 5)
    assert np.allclose(out[10:20].mean(), x.mean(), atol=0.5)


def test_shift_moves_pixels_and_zero_fills():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    moved = metrics._shift(image, 1, -2)
    assert np.array_equal(moved[1:, :2, 0], image[:3, 2:, 0])
    assert np.all(moved[0] == 0) and np.all(moved[:, 2:] == 0)


def test_compare_exact_values():
    ref = np.array([[1.0, 3.0], [2.0, 0.0]])
    approx = np.array([[1.0, 2.0], [2.0, 2.5]])  # the second sample's top-1 flips
    m = metrics.compare(ref, approx)
    assert m.inputs == 2 and m.agreement == 0.5
    assert m.max_abs_error == 2.5 and m.mean_abs_error == pytest.approx(3.5 / 4)
    assert m.sqnr_db == pytest.approx(10 * np.log10(14.0 / 7.25))
    assert metrics.compare(ref, ref).sqnr_db == float("inf")


def test_compare_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.compare(np.zeros((2, 3)), np.zeros((3, 2)))


def test_held_back_split_is_seeded_disjoint_and_complete():
    from pipeline.quant import calibration

    fit, held = calibration.held_back_split(200)
    assert len(held) == 50 and len(fit) == 150
    assert np.array_equal(np.sort(np.concatenate([fit, held])), np.arange(200))
    again = calibration.held_back_split(200)
    assert np.array_equal(again[0], fit) and np.array_equal(again[1], held)
    assert [len(part) for part in calibration.held_back_split(2)] == [1, 1]
    assert [part.tolist() for part in calibration.held_back_split(1)] == [[0], [0]]
