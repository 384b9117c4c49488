"""Training-step throughput of the seed's models and the zoo's graph models
(keras_graphs.py) in Keras 3 on TensorFlow (CPU).

Run by `cargo xtask bench`; by hand:
    python benches/reference/keras_step.py --model original --batch 1 --threads 2 --seconds 5

The models are the question's code (Conv1D 'same', LeakyReLU(0.1),
MaxPooling1D(strides=1, padding='same'), Flatten, Dense(1)); timing uses
`model.fit` as the question does, on random data, after a warm-up fit that
traces and compiles the step.
"""
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

from keras_graphs import GRAPHS  # noqa: E402
from step_common import FILTERS, MODELS, parse_args, peak_rss_mb  # noqa: E402


def compiled(model, classes):
    loss = "categorical_crossentropy" if classes else "mse"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss)
    return model


def build(name, length, classes):
    if name in GRAPHS:
        model = GRAPHS[name](length)
        if classes:
            # Dense(classes, softmax) on the global average pooling, as the
            # authors' classifiers end.
            pooled = model.get_layer("gap").output
            head = layers.Dense(classes, activation="softmax", name="probabilities")(pooled)
            model = keras.Model(model.inputs, head)
        return compiled(model, classes)
    kernels, pools, batch_norm = MODELS[name]
    model = keras.Sequential([keras.Input(shape=(length, 1))])
    for filters, k, p in zip(FILTERS, kernels, pools):
        model.add(layers.Conv1D(filters, k, padding="same"))
        model.add(layers.LeakyReLU(negative_slope=0.1))
        if batch_norm:
            model.add(layers.BatchNormalization())
        model.add(layers.MaxPooling1D(pool_size=p, strides=1, padding="same"))
    model.add(layers.Flatten())
    model.add(layers.Dense(classes, activation="softmax") if classes else layers.Dense(1))
    return compiled(model, classes)


def main():
    args = parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    model = build(args.model, args.length, args.classes)
    rng = np.random.default_rng(0)

    def data(steps):
        n = steps * args.batch
        x = rng.normal(size=(n, args.length, 1)).astype(np.float32)
        if args.classes:
            return x, np.eye(args.classes, dtype=np.float32)[rng.integers(0, args.classes, n)]
        return x, rng.normal(size=(n, 1)).astype(np.float32)

    if args.predict:
        x, _ = data(1)
        for _ in range(3):  # traces and compiles the predict function
            model.predict_on_batch(x)
        steps, started = 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - started < args.seconds:
            model.predict_on_batch(x)
            steps += 1
        elapsed = time.perf_counter() - started
        report(args, steps, elapsed)
        return
    # Warm-up: traces and compiles the train step, and estimates its rate.
    x, y = data(4)
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    started = time.perf_counter()
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    per_step = (time.perf_counter() - started) / 4
    steps = max(3, int(args.seconds / max(per_step, 1e-6)))
    x, y = data(steps)
    started = time.perf_counter()
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    elapsed = time.perf_counter() - started
    report(args, steps, elapsed)


def report(args, steps, elapsed):
    print(json.dumps({
        "framework": "keras", "version": f"keras {keras.__version__}, tensorflow {tf.__version__}",
        "model": args.model, "batch": args.batch, "threads": args.threads, "steps": steps, "seconds": elapsed,
        "samples_per_second": steps * args.batch / elapsed, "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
