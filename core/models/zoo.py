"""CNNs trained from scratch: the quick-start CNN and the report architectures.

Every builder accepts any input size (pooling uses ``padding="same"`` so 8x8 digits go
through five poolings) and any number of classes. At a report's own input size the
parameter count is exactly the report's (see tests/test_models.py).
"""
from __future__ import annotations

from typing import Any

from core.models.base import BuildContext, register_model
from core.validation import check_number


def _keras():
    import keras

    return keras


def _dropout(name: str, value: Any) -> float:
    return float(check_number(name, value, low=0.0, high=1.0, high_inclusive=False))


def _units(name: str, value: Any, low: int = 1, high: int = 100_000) -> int:
    return check_number(name, value, low=low, high=high, integer=True)


def _output(x, ctx: BuildContext):
    keras = _keras()
    # float32 output keeps softmax stable under a mixed-precision policy
    return keras.layers.Dense(ctx.num_classes, activation="softmax", dtype="float32", name="predictions")(x)


# ---------------------------------------------------------------------------------------
@register_model(
    "small_cnn",
    title="Small CNN (quick start)",
    default_input=(32, 32, 3),
    description=(
        "Two conv blocks (Conv-BN-ReLU x2, max-pool) with global average pooling: fast on CPU, "
        "any input from 8x8 up; last conv 'cam_conv' is the Grad-CAM layer."
    ),
)
def small_cnn(ctx: BuildContext, *, filters: int = 32, dropout: float = 0.25, dense_units: int = 64):
    # BatchNorm momentum 0.9: moving statistics settle within the few hundred steps of a quick run
    keras = _keras()
    L = keras.layers
    f = _units("filters", filters, 4, 512)
    dropout = _dropout("dropout", dropout)
    dense_units = _units("dense_units", dense_units, 0, 4096)
    inp = keras.Input(ctx.input_shape, name="input")
    x = inp
    h, w = ctx.input_shape[:2]
    # Large inputs: one strided stem conv keeps the quick start quick.
    if min(h, w) >= 48:
        x = L.Conv2D(f, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
        x = L.BatchNormalization(momentum=0.9, name="stem_bn")(x)
        x = L.ReLU(name="stem_relu")(x)
    x = L.Conv2D(f, 3, padding="same", use_bias=False, name="conv1")(x)
    x = L.BatchNormalization(momentum=0.9, name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = L.Conv2D(2 * f, 3, padding="same", use_bias=False, name="conv2")(x)
    x = L.BatchNormalization(momentum=0.9, name="bn2")(x)
    x = L.ReLU(name="cam_conv")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    if dense_units:
        x = L.Dense(dense_units, activation="relu", name="dense")(x)
    if dropout:
        x = L.Dropout(dropout, name="dropout")(x)
    return keras.Model(inp, _output(x, ctx), name="small_cnn")


# ---------------------------------------------------------------------------------------
@register_model(
    "report_a_baseline_cnn",
    title="Report A baseline CNN",
    report="A",
    default_input=(120, 150, 3),
    description=(
        "Conv2D(32,3,same,relu) -> MaxPool(2) -> Dropout -> Flatten -> Dense(8,relu) -> Dense(n,softmax). "
        "Report A's baseline is not given exactly; this reconstruction has 1,152,967 params at 150x120x3."
    ),
)
def report_a_baseline_cnn(ctx: BuildContext, *, filters: int = 32, dropout: float = 0.2, dense_units: int = 8):
    keras = _keras()
    L = keras.layers
    filters = _units("filters", filters, 1, 1024)
    dropout = _dropout("dropout", dropout)
    dense_units = _units("dense_units", dense_units, 1, 4096)
    inp = keras.Input(ctx.input_shape, name="input")
    x = L.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = L.Dropout(dropout, name="dropout1")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(dense_units, activation="relu", name="dense1")(x)
    return keras.Model(inp, _output(x, ctx), name="report_a_baseline_cnn")


@register_model(
    "report_a_tuned_cnn",
    title="Report A tuned CNN",
    report="A",
    default_input=(120, 150, 3),
    description=(
        "Conv2D(units=43,3,same,relu) -> Conv2D(32,3,same,relu) -> MaxPool(2) -> Dropout(0.2) -> "
        "[extra_blocks x (Conv2D(32,3,same,relu) -> MaxPool(2) -> Dropout)] -> Flatten -> Dense(32,relu) -> "
        "Dense(32,relu) -> Dense(n,softmax). 4,622,939 params at 150x120x3 (either orientation). "
        "Search space of report A: units 8-64 step 7, dropout 0-0.3, extra_blocks 0-3."
    ),
)
def report_a_tuned_cnn(
    ctx: BuildContext,
    *,
    units: int = 43,
    filters: int = 32,
    dropout: float = 0.2,
    dense_units: int = 32,
    extra_blocks: int = 0,
):
    keras = _keras()
    L = keras.layers
    units = _units("units", units, 1, 1024)
    filters = _units("filters", filters, 1, 1024)
    dropout = _dropout("dropout", dropout)
    dense_units = _units("dense_units", dense_units, 1, 4096)
    extra_blocks = check_number("extra_blocks", extra_blocks, low=0, high=6, integer=True)
    inp = keras.Input(ctx.input_shape, name="input")
    x = L.Conv2D(units, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.Conv2D(filters, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = L.Dropout(dropout, name="dropout1")(x)
    for i in range(extra_blocks):
        x = L.Conv2D(filters, 3, padding="same", activation="relu", name=f"extra_conv{i + 1}")(x)
        x = L.MaxPooling2D(2, padding="same", name=f"extra_pool{i + 1}")(x)
        x = L.Dropout(dropout, name=f"extra_dropout{i + 1}")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(dense_units, activation="relu", name="dense1")(x)
    x = L.Dense(dense_units, activation="relu", name="dense2")(x)
    return keras.Model(inp, _output(x, ctx), name="report_a_tuned_cnn")


# ---------------------------------------------------------------------------------------
@register_model(
    "report_b_cnn5",
    title="Report B five-block CNN (Fashion-MNIST)",
    report="B",
    default_input=(28, 28, 1),
    description=(
        "Five blocks Conv2D(f,3,same,relu) -> BatchNorm -> MaxPool(2,same), f = 32..512; Flatten -> "
        "Dense(64,relu) -> Dropout(0.5) -> Dense(32,relu) -> Dropout(0.5) -> Dense(n,softmax). "
        "1,607,210 params (1,605,226 trainable) at 28x28x1."
    ),
)
def report_b_cnn5(ctx: BuildContext, *, dropout: float = 0.5):
    keras = _keras()
    L = keras.layers
    dropout = _dropout("dropout", dropout)
    inp = keras.Input(ctx.input_shape, name="input")
    x = inp
    for i, f in enumerate((32, 64, 128, 256, 512), start=1):
        x = L.Conv2D(f, 3, strides=1, padding="same", activation="relu", name=f"conv{i}")(x)
        x = L.BatchNormalization(name=f"bn{i}")(x)
        x = L.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(64, activation="relu", name="dense1")(x)
    x = L.Dropout(dropout, name="dropout1")(x)
    x = L.Dense(32, activation="relu", name="dense2")(x)
    x = L.Dropout(dropout, name="dropout2")(x)
    return keras.Model(inp, _output(x, ctx), name="report_b_cnn5")


@register_model(
    "report_b_concat_resnet",
    title="Report B concatenation ResNet (CIFAR-10)",
    report="B",
    default_input=(32, 32, 3),
    description=(
        "Conv(32)-BN-ReLU; stages of 32, 64, 128 filters with 3 units each. Unit: branch Conv(f)-BN-ReLU-"
        "Conv(f)-BN; shortcut = the unit input for the first unit of a stage, a 1x1 Conv(f)-BN projection "
        "for the others; branch and shortcut CONCATENATED, then ReLU. GAP -> Dense(n,softmax). "
        "1,646,858 params (1,643,210 trainable) at 32x32x3."
    ),
)
def report_b_concat_resnet(ctx: BuildContext):
    keras = _keras()
    L = keras.layers
    inp = keras.Input(ctx.input_shape, name="input")
    x = L.Conv2D(32, 3, padding="same", name="stem_conv")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    for s, f in enumerate((32, 64, 128), start=1):
        for u in range(1, 4):
            p = f"stage{s}_unit{u}"
            b = L.Conv2D(f, 3, padding="same", name=f"{p}_conv1")(x)
            b = L.BatchNormalization(name=f"{p}_bn1")(b)
            b = L.ReLU(name=f"{p}_relu1")(b)
            b = L.Conv2D(f, 3, padding="same", name=f"{p}_conv2")(b)
            b = L.BatchNormalization(name=f"{p}_bn2")(b)
            if u == 1:
                sc = x
            else:
                sc = L.Conv2D(f, 1, padding="same", name=f"{p}_proj_conv")(x)
                sc = L.BatchNormalization(name=f"{p}_proj_bn")(sc)
            x = L.Concatenate(name=f"{p}_concat")([b, sc])
            x = L.ReLU(name=f"{p}_out")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, _output(x, ctx), name="report_b_concat_resnet")


# ---------------------------------------------------------------------------------------
def _report_e(ctx: BuildContext, variant: int, conv_dropout: float, dense_dropout: float, name: str):
    keras = _keras()
    L = keras.layers
    inp = keras.Input(ctx.input_shape, name="input")

    def conv(x, f, i):
        x = L.Conv2D(f, 3, padding="same", name=f"conv{i}")(x)
        return L.LeakyReLU(negative_slope=0.1, name=f"lrelu{i}")(x)

    x = conv(inp, 16, 1)
    if variant == 2:
        x = L.Dropout(conv_dropout, name="dropout_c1")(x)
    x = conv(x, 32, 2)
    if variant == 2:
        x = L.Dropout(conv_dropout, name="dropout_c2")(x)
    x = L.MaxPooling2D(2, padding="same", name="pool1")(x)
    if variant == 3:
        x = L.Dropout(conv_dropout, name="dropout1")(x)
        x = conv(x, 32, 3)
        x = conv(x, 64, 4)
        x = L.MaxPooling2D(2, padding="same", name="pool2")(x)
        x = L.Dropout(conv_dropout, name="dropout2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(256, name="dense1")(x)
    x = L.LeakyReLU(negative_slope=0.1, name="lrelu_dense")(x)
    if variant in (2, 3):
        x = L.Dropout(dense_dropout, name="dropout_dense")(x)
    return keras.Model(inp, _output(x, ctx), name=name)


@register_model(
    "report_e_model1",
    title="Report E model_1",
    report="E",
    default_input=(32, 32, 3),
    description=(
        "Conv(16,3,same)+LeakyReLU(0.1) -> Conv(32)+LeakyReLU -> MaxPool(2) -> Flatten -> Dense(256)+LeakyReLU "
        "-> Dense(n,softmax). 2,105,066 params at 32x32x3."
    ),
)
def report_e_model1(ctx: BuildContext):
    return _report_e(ctx, 1, 0.0, 0.0, "report_e_model1")


@register_model(
    "report_e_model2",
    title="Report E model_2",
    report="E",
    default_input=(32, 32, 3),
    description="model_1 with Dropout(0.2) after each conv and Dropout(0.5) after the dense layer (2,105,066 params).",
)
def report_e_model2(ctx: BuildContext, *, conv_dropout: float = 0.2, dropout: float = 0.5):
    return _report_e(ctx, 2, _dropout("conv_dropout", conv_dropout), _dropout("dropout", dropout), "report_e_model2")


@register_model(
    "report_e_model3",
    title="Report E model_3",
    report="E",
    default_input=(32, 32, 3),
    description=(
        "Conv16-LReLU, Conv32-LReLU, MaxPool, Dropout(0.25), Conv32-LReLU, Conv64-LReLU, MaxPool, Dropout(0.25), "
        "Flatten, Dense256-LReLU, Dropout(0.5), Dense(n). 1,084,234 params at 32x32x3."
    ),
)
def report_e_model3(ctx: BuildContext, *, conv_dropout: float = 0.25, dropout: float = 0.5):
    return _report_e(ctx, 3, _dropout("conv_dropout", conv_dropout), _dropout("dropout", dropout), "report_e_model3")
