"""Seeded windows of real photographs for MTCNN's P-, R- and O-Net, and the networks as .keras files for `wess eval`.

Usage: python tools/mtcnn_photos.py [--out build/mtcnn] [--test N] [--calibration N]
The photographs are the ones installed packages ship: scikit-learn's china.jpg and flower.jpg
(sklearn.datasets.load_sample_images) and matplotlib's grace_hopper.jpg (a portrait). The float MTCNN detector
(the `mtcnn` package, its pretrained weights) finds the face in the portrait once; then half of the windows are
that face box jittered (scale 0.6-1.4, centre moved up to 40 % of its side: whole, partial and missed faces, as
MTCNN's training mixes them) and half are random squares (side 12 px to half the photo's shorter side) of any of the
three photos. Each window (black where it leaves the photo) is resized (bilinear) to the network's input and
normalised as the package does, (pixel - 127.5) / 128. Calibration and test windows come from different seeds.
Writes per network NET.keras (the package's subclassed model: load it with --custom-objects mtcnn.network.NET),
NET_calib.npz and NET_test.npz (x only: no labels), and faces.json (the face box and the fraction of test windows
float calls a face).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NETWORKS = {"pnet": 12, "rnet": 24, "onet": 48}  # each network's input side: its window in the MTCNN cascade
FACE_SCALE = (0.6, 1.4)
FACE_SHIFT = 0.4  # the jittered centre moves up to this fraction of the face box's side each way
MIN_SIDE = 12
CALIBRATION_SEED, TEST_SEED = 1, 0


def photographs() -> list[np.ndarray]:
    """china, flower (scikit-learn) and grace_hopper (matplotlib) as uint8 HWC RGB arrays."""
    import matplotlib
    from PIL import Image
    from sklearn.datasets import load_sample_images

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return list(load_sample_images().images) + [np.asarray(Image.open(hopper).convert("RGB"))]


def face_box(image: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the most confident face the float MTCNN detector finds."""
    from mtcnn import MTCNN

    faces = MTCNN().detect_faces(image)
    if not faces:
        raise SystemExit("the float MTCNN detector found no face in grace_hopper.jpg")
    x, y, w, h = max(faces, key=lambda f: f["confidence"])["box"]
    return x + w / 2, y + h / 2, float(max(w, h))


def windows(images: list[np.ndarray], face: tuple[float, float, float], count: int, side: int,
            seed: int) -> np.ndarray:
    """`count` normalised side x side windows: even indices jittered face boxes, odd ones random squares."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = np.empty((count, side, side, 3), np.float32)
    for i in range(count):
        if i % 2 == 0:
            image = images[-1]
            size = face[2] * rng.uniform(*FACE_SCALE)
            cx, cy = (c + rng.uniform(-FACE_SHIFT, FACE_SHIFT) * face[2] for c in face[:2])
            box = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
        else:
            image = images[rng.integers(len(images))]
            size = rng.uniform(MIN_SIDE, min(image.shape[:2]) / 2)
            x0, y0 = rng.uniform(0, image.shape[1] - size), rng.uniform(0, image.shape[0] - size)
            box = (x0, y0, x0 + size, y0 + size)
        # crop() fills the part of a box outside the photo with black, as the package's padded patches are
        window = Image.fromarray(image).crop(tuple(int(round(v)) for v in box)).resize((side, side), Image.BILINEAR)
        out[i] = (np.asarray(window, np.float32) - 127.5) / 128.0
    return out


def network(name: str):
    """The package's subclassed network with its pretrained weights, built for its window size."""
    import importlib

    from mtcnn.utils.tensorflow import load_weights

    net = getattr(importlib.import_module(f"mtcnn.network.{name}"), name[0].upper() + "Net")()
    net.build((None, NETWORKS[name], NETWORKS[name], 3))
    net.set_weights(load_weights(f"{name}.lz4"))
    return net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/mtcnn")
    parser.add_argument("--test", type=int, default=4000)
    parser.add_argument("--calibration", type=int, default=200)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = photographs()
    face = face_box(images[-1])
    summary = {"face_box_centre_side": face, "networks": {}}
    for name, side in NETWORKS.items():
        net = network(name)
        net.save(out / f"{name}.keras")
        calibration = windows(images, face, args.calibration, side, CALIBRATION_SEED)
        test = windows(images, face, args.test, side, TEST_SEED)
        np.savez(out / f"{name}_calib.npz", x=calibration)
        np.savez(out / f"{name}_test.npz", x=test)
        probability = np.asarray(net.predict(test, batch_size=256, verbose=0)[-1]).reshape(len(test), -1)  # [.., face]
        summary["networks"][name] = {"input": side, "test": len(test), "calibration": len(calibration),
                                     "float_face_fraction": float(np.mean(probability[:, 1] > probability[:, 0]))}
    (out / "faces.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
