"""Training-step throughput of the seed's models and the zoo's graph models
(torch_graphs.py) in PyTorch (CPU).

Run by `cargo xtask bench`; by hand:
    python benches/reference/torch_step.py --model original --batch 1 --threads 2 --seconds 5

Keras's semantics in PyTorch (as in tests/fixtures/parity/make_torch_fixtures.py):
Conv1d(padding='same') splits the padding as TensorFlow does for stride 1;
'same' max pooling is ConstantPad1d(-inf) with the extra element on the
right, then MaxPool1d(stride=1); BatchNorm1d(eps=1e-3, momentum=0.01).
"""
import json
import time

import torch
from torch import nn

from step_common import FILTERS, MODELS, parse_args, peak_rss_mb
from torch_graphs import GRAPHS


def build(name, length, classes):
    if name in GRAPHS:
        model = GRAPHS[name]()
        if classes:
            # The logits a PyTorch user feeds CrossEntropyLoss (its fused
            # log-softmax), in place of the regression unit.
            model.head.output = nn.Linear(model.head.output.in_features, classes)
        return model
    kernels, pools, batch_norm = MODELS[name]
    modules, channels = [], 1
    for filters, k, p in zip(FILTERS, kernels, pools):
        modules += [nn.Conv1d(channels, filters, k, padding="same"), nn.LeakyReLU(0.1)]
        if batch_norm:
            modules.append(nn.BatchNorm1d(filters, eps=1e-3, momentum=0.01))
        modules += [nn.ConstantPad1d(((p - 1) // 2, p - 1 - (p - 1) // 2), float("-inf")), nn.MaxPool1d(p, stride=1)]
        channels = filters
    modules += [nn.Flatten(), nn.Linear(channels * length, classes or 1)]
    return nn.Sequential(*modules)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(args.model, args.length, args.classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.randn(args.batch, 1, args.length)
    if args.classes:
        loss_fn = nn.CrossEntropyLoss()
        y = torch.randint(0, args.classes, (args.batch,))
    else:
        loss_fn = nn.MSELoss()
        y = torch.randn(args.batch, 1)

    def train_step():
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    def predict_step():
        with torch.inference_mode():
            model(x)

    if args.predict:
        model.eval()
    step = predict_step if args.predict else train_step

    for _ in range(3):
        step()
    steps, started = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - started < args.seconds:
        step()
        steps += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "framework": "pytorch", "version": torch.__version__, "model": args.model, "batch": args.batch,
        "threads": args.threads, "steps": steps, "seconds": elapsed,
        "samples_per_second": steps * args.batch / elapsed, "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
