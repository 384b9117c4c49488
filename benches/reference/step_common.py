"""What the two reference scripts share: the seed models' shapes, the
command line, and the peak-memory reading."""
import argparse

# name -> (kernel sizes, pool sizes, BatchNormalization), filters 32/64/128.
MODELS = {
    "original": ([100, 70, 40], [70, 40, 10], False),
    "answer": ([2, 3, 3], [2, 3, 3], False),
    "answer_bn": ([2, 3, 3], [2, 3, 3], True),
}
FILTERS = [32, 64, 128]
# The graph models of kymo's zoo, built by keras_graphs.py and torch_graphs.py.
GRAPH_MODELS = ["fcn", "resnet", "inception"]


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=list(MODELS) + GRAPH_MODELS, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--length", type=int, default=1040)
    # Above 0: a Dense(classes, softmax) head and categorical cross-entropy.
    parser.add_argument("--classes", type=int, default=0)
    # Time inference (forward passes) instead of training steps.
    parser.add_argument("--predict", action="store_true")
    return parser.parse_args()


def peak_rss_mb():
    """The process's peak resident memory (VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")
