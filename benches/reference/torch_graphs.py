"""The deep time-series baselines in PyTorch, with Keras's semantics (as
keras_graphs.py builds them): 'same' convolutions split the padding as
Keras does (PyTorch's padding='same' does, at stride 1), 'same' max pooling
pads with -inf, BatchNorm1d(eps=1e-3, momentum=0.01), Dense(1) head."""
import torch
from torch import nn


# The rectifier every model applies: ReLU, as the papers have it. The
# float32 accuracy fixture (tests/fixtures/accuracy/make_graph_f32_accuracy_fixture.py)
# also builds each model with ELU(1), whose derivative is continuous, to
# measure its gradients' rounding without a ReLU's kink.
RECTIFIER = nn.ReLU


def rectifier():
    return RECTIFIER()


def bn(channels):
    return nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)


class Head(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.output = nn.Linear(channels, 1)

    def forward(self, x):
        return self.output(x.mean(dim=2))


class FCN(nn.Module):
    def __init__(self, filters=(128, 256, 128)):
        super().__init__()
        blocks, channels = [], 1
        for f, k in zip(filters, (8, 5, 3)):
            blocks += [nn.Conv1d(channels, f, k, padding="same"), bn(f), rectifier()]
            channels = f
        self.body = nn.Sequential(*blocks)
        self.head = Head(channels)

    def forward(self, x):
        return self.head(self.body(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels, filters, shortcut_conv):
        super().__init__()
        self.path = nn.Sequential(
            nn.Conv1d(channels, filters, 8, padding="same"), bn(filters), rectifier(),
            nn.Conv1d(filters, filters, 5, padding="same"), bn(filters), rectifier(),
            nn.Conv1d(filters, filters, 3, padding="same"), bn(filters),
        )
        parts = [nn.Conv1d(channels, filters, 1)] if shortcut_conv else []
        self.shortcut = nn.Sequential(*parts, bn(filters))
        self.rectify = rectifier()

    def forward(self, x):
        return self.rectify(self.shortcut(x) + self.path(x))


class ResNet(nn.Module):
    def __init__(self, filters=(64, 128, 128)):
        super().__init__()
        blocks, channels = [], 1
        for i, f in enumerate(filters):
            blocks.append(ResidualBlock(channels, f, shortcut_conv=i < 2))
            channels = f
        self.body = nn.Sequential(*blocks)
        self.head = Head(channels)

    def forward(self, x):
        return self.head(self.body(x))


class InceptionModule(nn.Module):
    def __init__(self, channels, kernels, filters, bottleneck):
        super().__init__()
        self.bottleneck = nn.Conv1d(channels, bottleneck, 1, bias=False) if channels > 1 else nn.Identity()
        width = bottleneck if channels > 1 else channels
        self.convs = nn.ModuleList(nn.Conv1d(width, filters, k, padding="same", bias=False) for k in kernels)
        self.pool = nn.Sequential(nn.ConstantPad1d((1, 1), float("-inf")), nn.MaxPool1d(3, stride=1))
        self.pool_conv = nn.Conv1d(channels, filters, 1, bias=False)
        self.bn = bn(4 * filters)
        self.rectify = rectifier()

    def forward(self, x):
        b = self.bottleneck(x)
        branches = [conv(b) for conv in self.convs] + [self.pool_conv(self.pool(x))]
        return self.rectify(self.bn(torch.cat(branches, dim=1)))


class InceptionTime(nn.Module):
    def __init__(self, kernels=(40, 20, 10), filters=32, bottleneck=32, depth=6):
        super().__init__()
        self.modules_ = nn.ModuleList()
        self.shortcuts = nn.ModuleDict()
        channels, residual_channels = 1, 1
        for d in range(depth):
            self.modules_.append(InceptionModule(channels, kernels, filters, bottleneck))
            channels = 4 * filters
            if d % 3 == 2:
                self.shortcuts[str(d)] = nn.Sequential(nn.Conv1d(residual_channels, channels, 1, bias=False), bn(channels))
                residual_channels = channels
        self.head = Head(channels)
        self.rectify = rectifier()

    def forward(self, x):
        residual = x
        for d, module in enumerate(self.modules_):
            x = module(x)
            if str(d) in self.shortcuts:
                x = self.rectify(self.shortcuts[str(d)](residual) + x)
                residual = x
        return self.head(x)


GRAPHS = {"fcn": FCN, "resnet": ResNet, "inception": InceptionTime}
