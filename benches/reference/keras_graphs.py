"""The deep time-series baselines as their authors' Keras code builds them,
with a Dense(1) regression head: FCN and ResNet (Wang et al. 2017,
github.com/hfawaz/dl-4-tsc) and one InceptionTime network (Ismail Fawaz et
al. 2020, github.com/hfawaz/InceptionTime). Layer names follow kymo's zoo
(crates/layers/src/zoo/time_series.rs), so weights map by name.

Used by keras_step.py (benchmarks) and tests/fixtures/graphs/make_graph_fixtures.py.
"""
import keras
from keras import layers


def head(inputs, x):
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(1, name="output")(x))


def fcn(length, filters=(128, 256, 128)):
    inputs = keras.Input(shape=(length, 1), name="input")
    x = inputs
    for n, (f, k) in enumerate(zip(filters, (8, 5, 3)), start=1):
        x = layers.Conv1D(f, k, padding="same", name=f"conv{n}")(x)
        x = layers.BatchNormalization(name=f"bn{n}")(x)
        x = layers.Activation("relu", name=f"relu{n}")(x)
    return head(inputs, x)


def resnet(length, filters=(64, 128, 128)):
    inputs = keras.Input(shape=(length, 1), name="input")
    x = inputs
    for i, f in enumerate(filters):
        n = i + 1
        block_input = x
        for part, k in (("x", 8), ("y", 5), ("z", 3)):
            x = layers.Conv1D(f, k, padding="same", name=f"block{n}_conv_{part}")(x)
            x = layers.BatchNormalization(name=f"block{n}_bn_{part}")(x)
            if part != "z":
                x = layers.Activation("relu", name=f"block{n}_relu_{part}")(x)
        shortcut = block_input
        if i < 2:  # the third block's channels already match
            shortcut = layers.Conv1D(f, 1, padding="same", name=f"block{n}_shortcut_conv")(shortcut)
        shortcut = layers.BatchNormalization(name=f"block{n}_shortcut_bn")(shortcut)
        x = layers.Add(name=f"block{n}_add")([shortcut, x])
        x = layers.Activation("relu", name=f"block{n}_out")(x)
    return head(inputs, x)


def inception(length, kernels=(40, 20, 10), filters=32, bottleneck=32, depth=6):
    inputs = keras.Input(shape=(length, 1), name="input")
    x = residual = inputs
    for d in range(depth):
        m = d + 1
        branch_input = x
        if int(x.shape[-1]) > 1:
            branch_input = layers.Conv1D(bottleneck, 1, padding="same", use_bias=False, name=f"module{m}_bottleneck")(x)
        branches = [
            layers.Conv1D(filters, k, padding="same", use_bias=False, name=f"module{m}_conv{j + 1}")(branch_input)
            for j, k in enumerate(kernels)
        ]
        pooled = layers.MaxPooling1D(3, strides=1, padding="same", name=f"module{m}_pool")(x)
        branches.append(layers.Conv1D(filters, 1, padding="same", use_bias=False, name=f"module{m}_pool_conv")(pooled))
        x = layers.Concatenate(axis=2, name=f"module{m}_concat")(branches)
        x = layers.BatchNormalization(name=f"module{m}_bn")(x)
        x = layers.Activation("relu", name=f"module{m}_relu")(x)
        if d % 3 == 2:
            shortcut = layers.Conv1D(int(x.shape[-1]), 1, padding="same", use_bias=False, name=f"shortcut{m}_conv")(residual)
            shortcut = layers.BatchNormalization(name=f"shortcut{m}_bn")(shortcut)
            x = layers.Add(name=f"shortcut{m}_add")([shortcut, x])
            x = layers.Activation("relu", name=f"shortcut{m}_relu")(x)
            residual = x
    return head(inputs, x)


GRAPHS = {"fcn": fcn, "resnet": resnet, "inception": inception}
