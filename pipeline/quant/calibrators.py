"""Activation-range calibrators (max, percentile, entropy, MSE): one small interface, maths in pure functions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import InputError

NUM_BINS = 2048
NUM_QUANT_LEVELS = 128  # entropy folds the |x| histogram into 128 levels (one sign of int8)


@dataclass
class Histogram:
    """A streaming histogram of |x| over [0, amax] with NUM_BINS bins, re-binned when amax grows."""

    counts: np.ndarray
    amax: float

    @classmethod
    def empty(cls) -> "Histogram":
        return cls(np.zeros(NUM_BINS, np.int64), 0.0)

    def add(self, values: np.ndarray) -> None:
        x = np.abs(np.asarray(values, np.float64).ravel())
        if x.size == 0:
            return
        new_amax = float(x.max())
        if new_amax > self.amax:
            self.counts = rebin(self.counts, self.amax, new_amax)
            self.amax = new_amax
        if self.amax == 0.0:
            self.counts[0] += x.size
            return
        self.counts += np.histogram(x, bins=NUM_BINS, range=(0.0, self.amax))[0]


def rebin(counts: np.ndarray, old_amax: float, new_amax: float) -> np.ndarray:
    """Move counts of a histogram over [0, old_amax] onto NUM_BINS bins over [0, new_amax] (bin centres)."""
    out = np.zeros(NUM_BINS, np.int64)
    if old_amax == 0.0 or counts.sum() == 0:
        out[0] = counts.sum()
        return out
    centres = (np.arange(NUM_BINS) + 0.5) * (old_amax / NUM_BINS)
    index = np.minimum((centres / new_amax * NUM_BINS).astype(np.int64), NUM_BINS - 1)
    np.add.at(out, index, counts)
    return out


def percentile_amax(hist: Histogram, percentile: float) -> float:
    """The bin edge where the cumulative histogram first reaches `percentile` percent of the samples."""
    total = hist.counts.sum()
    if total == 0 or hist.amax == 0.0:
        return hist.amax
    cdf = np.cumsum(hist.counts) / total
    index = int(np.searchsorted(cdf, percentile / 100.0))
    return min(hist.amax, (index + 1) * hist.amax / NUM_BINS)


def _kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    mask = p > 0
    p = p / p.sum()
    q = q / max(q.sum(), 1e-30)
    q = np.where(q > 0, q, 1e-12)
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def entropy_amax(hist: Histogram, start_bin: int = NUM_QUANT_LEVELS, stride: int = 16) -> float:
    """Threshold minimising KL(reference || quantized) over candidate bins, the tail merged into the last bin."""
    counts = hist.counts.astype(np.float64)
    if counts.sum() == 0 or hist.amax == 0.0:
        return hist.amax
    best_bin, best_kl = NUM_BINS, np.inf
    for i in range(start_bin, NUM_BINS + 1, stride):
        reference = counts[:i].copy()
        reference[i - 1] += counts[i:].sum()
        levels = np.array_split(counts[:i], NUM_QUANT_LEVELS)
        quantized = np.concatenate([
            np.where(chunk > 0, chunk.sum() / max(np.count_nonzero(chunk), 1), 0.0) for chunk in levels])
        kl = _kl_divergence(reference, quantized)
        if kl < best_kl:
            best_bin, best_kl = i, kl
    return best_bin * hist.amax / NUM_BINS


def mse_amax(hist: Histogram, num_candidates: int = 128) -> float:
    """Threshold minimising sum(count * (Q(x) - x)^2) over bin centres, Q a symmetric 8-bit quantizer."""
    counts = hist.counts.astype(np.float64)
    if counts.sum() == 0 or hist.amax == 0.0:
        return hist.amax
    centres = (np.arange(NUM_BINS) + 0.5) * hist.amax / NUM_BINS
    best, best_err = hist.amax, np.inf
    for amax in np.linspace(hist.amax / num_candidates, hist.amax, num_candidates):
        step = amax / 127.0
        quantized = np.minimum(np.round(centres / step), 127) * step
        err = float(np.sum(counts * (quantized - centres) ** 2))
        if err < best_err:
            best, best_err = float(amax), err
    return best


class Calibrator:
    """Collects one tensor's values and proposes its [min, max] range; subclasses choose the amax rule."""

    name = "max"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.min = np.inf
        self.max = -np.inf
        self.hist = Histogram.empty()

    def collect(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.size == 0:
            return
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        self.hist.add(values)

    def amax(self) -> float:
        return self.hist.amax

    def compute_range(self) -> tuple[float, float]:
        """The calibrated range, clipped to [-amax, amax] and always containing 0 (TFLite's nudging needs it)."""
        if not np.isfinite(self.min):
            return 0.0, 0.0
        amax = self.amax()
        return min(0.0, max(self.min, -amax)), max(0.0, min(self.max, amax))


class MaxCalibrator(Calibrator):
    """The observed minimum and maximum."""

    name = "max"


class PercentileCalibrator(Calibrator):
    """amax at a percentile of |x| (e.g. 99.99 or 99.999)."""

    def __init__(self, percentile: float) -> None:
        if not 0.0 < percentile <= 100.0:
            raise InputError(f"percentile must be in (0, 100], got {percentile}")
        self.percentile = percentile
        self.name = f"percentile{percentile:g}"
        super().__init__()

    def amax(self) -> float:
        return percentile_amax(self.hist, self.percentile)


class EntropyCalibrator(Calibrator):
    """amax minimising the KL divergence between the |x| histogram and its 128-level quantization."""

    name = "entropy"

    def amax(self) -> float:
        return entropy_amax(self.hist)


class MseCalibrator(Calibrator):
    """amax minimising the mean squared quantization error over the histogram."""

    name = "mse"

    def amax(self) -> float:
        return mse_amax(self.hist)


CALIBRATOR_NAMES = ("max", "percentile99.99", "percentile99.999", "entropy", "mse")


def make_calibrator(name: str) -> Calibrator:
    """A calibrator from its CLI name: max, entropy, mse or percentileP (e.g. percentile99.99)."""
    if name == "max":
        return MaxCalibrator()
    if name == "entropy":
        return EntropyCalibrator()
    if name == "mse":
        return MseCalibrator()
    if name.startswith("percentile"):
        try:
            return PercentileCalibrator(float(name[len("percentile"):]))
        except ValueError:  # float() of the text after "percentile"
            raise InputError(f"bad calibrator {name!r}: expected percentileP with a number P in (0, 100]") from None
    raise InputError(f"unknown calibrator {name!r}; choose one of {', '.join(CALIBRATOR_NAMES)}, auto")
