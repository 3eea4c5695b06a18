"""Encoder/decoder networks: a fully connected MLP, the paper's conv net, and an MLP behind a
fixed orthonormal basis (for very wide inputs such as full-resolution meshes).

Every ``Autoencoder`` takes raw samples and returns raw samples: input normalisation (a
per-feature mean and one global scale) lives inside the module as buffers, so a checkpoint
is self-contained and reconstruction errors can be reported in data units.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from saeviz.core.method.config import ModelConfig


def _layers(sizes: list[int], last_activation: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return layers


def _mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    return nn.Sequential(*_layers(sizes, last_activation))


class CoefficientMLP(nn.Sequential):
    """The MLP of a ``basis`` model on one side of the fixed basis, with a fixed scalar
    ``coef_scale``: basis coordinates per network unit. The encoder's MLP divides its input
    (basis coordinates) by it and the decoder's multiplies its output (basis coordinates) by
    it, so the layers see values of about unit size whatever the number of features.

    ``build_autoencoder`` sets it to ``sqrt(D / k)``, the RMS of the coordinates of normalised
    data in a basis that holds all of their variance. Without it the coordinates have that
    size (13 for a 41,154-value body and 256 components), and the codes of a plain
    autoencoder grow with it (RMS norm 142 at full resolution against 55 at 6,018 values):
    the structural targets then sit far inside the codes' natural spread and pulling the
    codes onto them costs much more reconstruction (measured on 6,000 full-resolution bodies,
    10% labels, gamma 0.1, 30 epochs, seed 0: held-out RMSE 1.47 times the plain
    autoencoder's without the scale, 1.01 times with it).
    """

    def __init__(self, sizes: list[int], side: str, coef_scale: float = 1.0):
        if side not in ("encoder", "decoder"):
            raise ValueError(f"side must be 'encoder' or 'decoder', got {side!r}")
        super().__init__(*_layers(sizes))
        self.side = side
        self.register_buffer("coef_scale", torch.tensor(float(coef_scale), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.side == "encoder":
            return super().forward(x / self.coef_scale)
        return super().forward(x) * self.coef_scale


class ConvEncoder(nn.Module):
    """3x3 convolutions (e.g. 8/16/32 filters), ReLU, 2x2 max pooling, then a linear map."""

    def __init__(self, image_shape: tuple[int, int], channels, latent_dim: int):
        super().__init__()
        h, w = image_shape
        layers: list[nn.Module] = []
        c_in = 1
        self.sizes = [(h, w)]
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            h, w = math.ceil(h / 2), math.ceil(w / 2)
            self.sizes.append((h, w))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.flat = c_in * h * w
        self.head = nn.Linear(self.flat, latent_dim)

    def forward(self, x):
        # Channels-last activations: oneDNN's convolutions and the pooling run without layout
        # conversions, forward and backward. A one-channel image is laid out the same either
        # way; given channels-last strides (a view, no copy), the first convolution already
        # answers channels-last, and the later layers keep that layout.
        # Each level pools before its ReLU: max pooling commutes with the ReLU (both are
        # monotone), values and gradients are the same, and the ReLU touches a quarter of
        # the values.
        h = x.unsqueeze(-1).permute(0, 3, 1, 2)
        layers = list(self.features)
        for i in range(0, len(layers), 3):
            conv, relu, pool = layers[i:i + 3]
            h = relu(pool(conv(h)))
        return self.head(h.flatten(1))


def _phase_map() -> torch.Tensor:
    """(36, 9) 0/1 map from a 3x3 kernel applied after 2x nearest upsampling to the four
    3x3 kernels (one per output phase) that give the same outputs from the low-resolution
    input: output pixel (2i+a, 2j+b) reads the upsampled pixel (2i+a+dy, 2j+b+dx), which is
    the input pixel (i + (a+dy)//2, j + (b+dx)//2)."""
    phases = torch.zeros(2, 2, 3, 3, 3, 3)
    for a in range(2):
        for b in range(2):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    phases[a, b, (a + dy) // 2 + 1, (b + dx) // 2 + 1, dy + 1, dx + 1] += 1.0
    return phases.reshape(36, 9)


def upsample_conv(x: torch.Tensor, conv: nn.Conv2d, phase_map: torch.Tensor) -> torch.Tensor:
    """``conv(nearest 2x upsampling of x)`` for a 3x3 convolution with padding 1, computed at
    the input's resolution: one convolution with four kernels per output channel (one per
    phase of the 2x2 output block, each the sum of the original taps that read the same input
    pixel), then a pixel shuffle. The same function as upsampling first (equal up to float
    rounding), without the upsampled tensor; on a CPU the last level of the MNIST decoder
    (8 channels to 1 at 28x28) runs about 2x faster, forward and backward."""
    c_out, c_in = conv.out_channels, conv.in_channels
    kernels = (phase_map @ conv.weight.reshape(c_out * c_in, 9).T)  # (2*2*3*3, c_out*c_in)
    kernels = kernels.view(4, 3, 3, c_out, c_in).permute(3, 0, 4, 1, 2).reshape(c_out * 4, c_in, 3, 3)
    bias = None if conv.bias is None else conv.bias.repeat_interleave(4)
    return nn.functional.pixel_shuffle(nn.functional.conv2d(x, kernels, bias, padding=1), 2)


class ConvDecoder(nn.Module):
    """The encoder mirrored: linear map, then per level upsampling and a 3x3 convolution.

    A level that exactly doubles the size runs as ``upsample_conv`` (the same function at a
    quarter of the memory traffic); a level such as 4 to 7 pixels upsamples, then convolves.
    """

    def __init__(self, encoder: ConvEncoder, channels, latent_dim: int):
        super().__init__()
        channels = list(channels)
        self.shape0 = (channels[-1], *encoder.sizes[-1])
        self.head = nn.Sequential(nn.Linear(latent_dim, encoder.flat), nn.ReLU())
        layers: list[nn.Module] = []
        outs = channels[-2::-1] + [1]
        c_in = channels[-1]
        doubled: list[int] = []  # positions in ``body`` of the upsamplings that double the size
        for i, c_out in enumerate(outs):
            size = encoder.sizes[-2 - i]
            low = encoder.sizes[-1 - i]
            if tuple(size) == (2 * low[0], 2 * low[1]):
                doubled.append(len(layers))
            layers.append(nn.Upsample(size=size, mode="nearest"))
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self._doubled = frozenset(doubled)
        self.register_buffer("phase_map", _phase_map(), persistent=False)

    def forward(self, z):
        h = self.head(z).view(-1, *self.shape0).contiguous(memory_format=torch.channels_last)
        layers = list(self.body)
        i = 0
        while i < len(layers):
            if i in self._doubled:
                h = upsample_conv(h, layers[i + 1], self.phase_map)
                i += 2
            else:
                h = layers[i](h)
                i += 1
        return h.squeeze(1).contiguous()


class Autoencoder(nn.Module):
    """``encode`` raw samples to codes and ``decode`` codes back to raw samples."""

    def __init__(self, config: ModelConfig, sample_shape, mean: np.ndarray | None = None,
                 scale: float = 1.0, basis: np.ndarray | None = None, coef_scale: float = 1.0):
        """``mean``/``basis`` of None give zero buffers of the right shape (to be loaded);
        ``coef_scale`` is the basis coordinates per network unit (``basis`` only, see
        ``CoefficientMLP``)."""
        super().__init__()
        self.config = config
        self.sample_shape = tuple(int(s) for s in sample_shape)
        n_features = int(np.prod(self.sample_shape))
        self.register_buffer("mean", torch.zeros(self.sample_shape) if mean is None else
                             torch.as_tensor(np.asarray(mean, np.float32).reshape(self.sample_shape)))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float32))
        hidden = [int(h) for h in config.hidden]
        latent = int(config.latent_dim)
        if config.architecture == "conv":
            if len(self.sample_shape) != 2:
                raise ValueError(f"the conv architecture needs images (H, W), got samples of shape {self.sample_shape}")
            self.encoder = ConvEncoder(self.sample_shape, config.conv_channels, latent)
            self.decoder = ConvDecoder(self.encoder, config.conv_channels, latent)
            self.register_buffer("basis", None)
        else:
            if config.architecture == "basis":
                k = int(config.basis_size) if basis is None else np.shape(basis)[1]
                if basis is None:
                    basis_t = torch.zeros((n_features, k))
                else:
                    basis = np.asarray(basis, np.float32)
                    if basis.ndim != 2 or basis.shape[0] != n_features:
                        raise ValueError(f"basis must have shape ({n_features}, k), got {basis.shape}")
                    basis_t = torch.as_tensor(basis)
                self.register_buffer("basis", basis_t)
                self.encoder = CoefficientMLP([k, *hidden, latent], "encoder", coef_scale)
                self.decoder = CoefficientMLP([latent, *hidden[::-1], k], "decoder", coef_scale)
            else:
                self.register_buffer("basis", None)
                self.encoder = _mlp([n_features, *hidden, latent])
                self.decoder = _mlp([latent, *hidden[::-1], n_features])

    @property
    def latent_dim(self) -> int:
        """The number of dimensions of the latent space."""
        return int(self.config.latent_dim)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw samples scaled as the network sees them."""
        return (x - self.mean) / self.scale

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized samples scaled back to raw values."""
        return x * self.scale + self.mean

    def encode_normalized(self, xn: torch.Tensor) -> torch.Tensor:
        """Latent codes of normalized samples."""
        if self.config.architecture == "conv":
            return self.encoder(xn)
        flat = xn.flatten(1)
        if self.basis is not None:
            flat = flat @ self.basis
        return self.encoder(flat)

    def decode_normalized(self, z: torch.Tensor) -> torch.Tensor:
        """Normalized samples decoded from latent codes ``z``."""
        out = self.decoder(z)
        if self.config.architecture == "conv":
            return out
        if self.basis is not None:
            out = out @ self.basis.T
        return out.view(-1, *self.sample_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes of raw samples."""
        return self.encode_normalized(self.normalize(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Raw samples decoded from latent codes ``z``."""
        return self.denormalize(self.decode_normalized(z))

    def forward(self, x: torch.Tensor, normalized: bool = False, coefficients: bool = False):
        """Codes and reconstructions of raw samples ``x``; with ``normalized`` the
        reconstructions stay in normalised units (what the training loss compares). With
        ``coefficients`` (basis models), ``x`` holds coordinates in the fixed basis and the
        reconstructions are returned in those coordinates."""
        if coefficients:
            z = self.encoder(x)
            return z, self.decoder(z)
        z = self.encode(x)
        return z, (self.decode_normalized(z) if normalized else self.decode(z))

    @torch.no_grad()
    def basis_coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Coordinates of normalised ``x`` in the fixed basis, and the squared norm of what
        the basis leaves out (constant during training: the basis is fixed)."""
        flat = self.normalize(x).flatten(1)
        coef = flat @ self.basis
        residual = (flat.pow(2).sum(1) - coef.pow(2).sum(1)).clamp_min(0.0)
        return coef, residual


def normalization(X: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, float]:
    """Per-feature mean and one global scale (the RMS of the centred data), accumulated in
    float64 over chunks of ``chunk`` samples (no float64 copy of ``X``)."""
    X = np.asarray(X)
    n = len(X)
    flat = X.reshape(n, -1)
    total = np.zeros(flat.shape[1], np.float64)
    for start in range(0, n, chunk):
        total += flat[start:start + chunk].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = 0.0
    for start in range(0, n, chunk):
        squares += float(np.sum((flat[start:start + chunk] - mean) ** 2))
    scale = float(np.sqrt(squares / flat.size))
    return mean.reshape(X.shape[1:]).astype(np.float32), (scale if scale > 0 else 1.0)


def fit_basis(X: np.ndarray, mean: np.ndarray, scale: float, k: int, seed: int = 0,
              max_samples: int = 3000) -> np.ndarray:
    """An orthonormal basis (D, k) of the leading principal directions of the normalised data,
    estimated (randomised SVD) from at most ``max_samples`` samples drawn with ``seed``."""
    X = np.asarray(X, np.float32).reshape(len(X), -1)
    if len(X) > max_samples:
        X = X[np.sort(np.random.default_rng(seed).choice(len(X), max_samples, replace=False))]
    flat = (X - mean.reshape(1, -1)) / scale
    k = int(min(k, flat.shape[0], flat.shape[1]))
    t = torch.as_tensor(flat)
    # torch.svd_lowrank draws its random test matrix from the global generator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _, _, V = torch.svd_lowrank(t, q=min(k + 10, min(t.shape)), niter=4)
    return np.ascontiguousarray(V[:, :k].numpy())


def build_autoencoder(config: ModelConfig, X: np.ndarray, seed: int = 0) -> Autoencoder:
    """A freshly initialised autoencoder whose normalisation (and basis) come from ``X``."""
    X = np.asarray(X, np.float32)
    mean, scale = normalization(X)
    basis, coef_scale = None, 1.0
    if config.architecture == "basis":
        basis = fit_basis(X, mean, scale, config.basis_size, seed)
        config = config.replace(basis_size=basis.shape[1])  # fewer samples than components
        # normalised samples have a mean squared norm of D, so their coordinates in k
        # orthonormal directions have an RMS of at most sqrt(D / k), reached when the basis
        # holds all of the variance (nearly so for the bodies with 256 components)
        coef_scale = math.sqrt(basis.shape[0] / basis.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Autoencoder(config, X.shape[1:], mean, scale, basis, coef_scale)
