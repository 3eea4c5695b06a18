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

from .config import ModelConfig


def _mlp(sizes: list[int], last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


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
        return self.head(self.features(x.unsqueeze(1)).flatten(1))


class ConvDecoder(nn.Module):
    """The encoder mirrored: linear map, then per level upsampling and a 3x3 convolution."""

    def __init__(self, encoder: ConvEncoder, channels, latent_dim: int):
        super().__init__()
        channels = list(channels)
        self.shape0 = (channels[-1], *encoder.sizes[-1])
        self.head = nn.Sequential(nn.Linear(latent_dim, encoder.flat), nn.ReLU())
        layers: list[nn.Module] = []
        outs = channels[-2::-1] + [1]
        c_in = channels[-1]
        for i, c_out in enumerate(outs):
            size = encoder.sizes[-2 - i]
            layers.append(nn.Upsample(size=size, mode="nearest"))
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            c_in = c_out
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(self.head(z).view(-1, *self.shape0)).squeeze(1)


class Autoencoder(nn.Module):
    """``encode`` raw samples to codes and ``decode`` codes back to raw samples."""

    def __init__(self, config: ModelConfig, sample_shape, mean: np.ndarray | None = None,
                 scale: float = 1.0, basis: np.ndarray | None = None):
        """``mean``/``basis`` of None give zero buffers of the right shape (to be loaded)."""
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
            width = n_features
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
                width = k
            else:
                self.register_buffer("basis", None)
            self.encoder = _mlp([width, *hidden, latent])
            self.decoder = _mlp([latent, *hidden[::-1], width])

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.mean

    def encode_normalized(self, xn: torch.Tensor) -> torch.Tensor:
        if self.config.architecture == "conv":
            return self.encoder(xn)
        flat = xn.flatten(1)
        if self.basis is not None:
            flat = flat @ self.basis
        return self.encoder(flat)

    def decode_normalized(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        if self.config.architecture == "conv":
            return out
        if self.basis is not None:
            out = out @ self.basis.T
        return out.view(-1, *self.sample_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_normalized(self.normalize(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
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


def normalization(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-feature mean and one global scale (the RMS of the centred data)."""
    X = np.asarray(X, np.float64)
    mean = X.mean(axis=0)
    scale = float(np.sqrt(np.mean((X - mean) ** 2)))
    return mean.astype(np.float32), (scale if scale > 0 else 1.0)


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
    basis = None
    if config.architecture == "basis":
        basis = fit_basis(X, mean, scale, config.basis_size, seed)
        config = config.replace(basis_size=basis.shape[1])  # fewer samples than components
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Autoencoder(config, X.shape[1:], mean, scale, basis)
