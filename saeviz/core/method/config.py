"""Frozen settings of the model, the training and the MDS step, with a JSON round trip."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ARCHITECTURES = ("mlp", "conv", "basis")
MDS_MODES = ("class", "exact")
ALIGNMENTS = ("procrustes", "paper")
CLASSIFIERS = ("svm", "label-spreading", "knn")  # see saeviz.core.method.code_classifiers
STRUCTURE_SPANS = ("latent", "classes")  # where the structural loss acts, see TrainConfig


def _tupled(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class _JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
        return cls(**{k: _tupled(v) for k, v in data.items()})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ModelConfig(_JsonMixin):
    """Architecture of the autoencoder.

    ``mlp``: fully connected encoder with ``hidden`` sizes, mirrored decoder.
    ``conv``: the paper's image network, 3x3 convolutions with ``conv_channels`` filters,
    ReLU and 2x2 pooling, mirrored decoder (transposed convolutions).
    ``basis``: an MLP behind a fixed orthonormal linear basis (``basis_size`` components
    computed once from the training data) on both sides, for very wide inputs (meshes).
    """

    architecture: str = "mlp"
    hidden: tuple[int, ...] = (256, 128)
    latent_dim: int = 10
    conv_channels: tuple[int, ...] = (8, 16, 32)
    basis_size: int = 256

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if int(self.latent_dim) < 1:
            raise ValueError(f"latent_dim must be at least 1, got {self.latent_dim}")
        if any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}")
        if not self.conv_channels or any(int(c) < 1 for c in self.conv_channels):
            raise ValueError(f"conv_channels must be positive, got {self.conv_channels}")
        if int(self.basis_size) < 1:
            raise ValueError(f"basis_size must be positive, got {self.basis_size}")


@dataclass(frozen=True)
class MDSConfig(_JsonMixin):
    """How the structural targets are computed each epoch.

    ``class``: the class-level weighted SMACOF (fast; exploits that dissimilarities only
    depend on the two classes). ``exact``: SMACOF over every labeled sample, in tiles.
    ``alignment``: ``procrustes`` (orthogonal Procrustes, Schoenemann 1966) or ``paper``
    (the paper's pseudo-inverse map with singular values set to 1).
    """

    mode: str = "class"
    max_iter: int = 300
    eps: float = 1e-6
    tile: int = 1024
    alignment: str = "procrustes"

    def __post_init__(self) -> None:
        if self.mode not in MDS_MODES:
            raise ValueError(f"MDS mode must be one of {MDS_MODES}, got {self.mode!r}")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        if int(self.max_iter) < 1 or int(self.tile) < 1:
            raise ValueError("max_iter and tile must be positive")


@dataclass(frozen=True)
class TrainConfig(_JsonMixin):
    """Optimisation settings. ``gamma`` balances structure (1) against reconstruction (0).

    ``classifier`` reads the codes: ``svm`` (the paper's linear SVM), ``label-spreading``
    or ``knn`` (``saeviz.core.method.code_classifiers``). ``self_training`` above 0 is the
    confidence from which the predictions of ``pseudo_labeler`` (one of the same classifiers;
    "" for ``classifier`` itself) join the structural targets as pseudo-labels every epoch
    (``saeviz.core.method.self_training``); 0 is the paper's method. On MNIST A/B/C with 600
    labels, label spreading as the pseudo-labeler kept its pseudo-labels right where the linear
    SVM's went wrong early and stayed wrong (``docs/report/mnist_self_training_spreading``).

    ``structure_span`` says which part of a code's offset from its target the structural loss
    counts: ``latent`` (the paper) all of it; ``classes`` only its part within the span of the
    class targets (the K - 1 directions in which the classes' targets differ), so the
    directions that carry no class distance stay free for the reconstruction
    (``saeviz.core.method.structure.class_span``).
    """

    gamma: float = 0.5
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    device: str = "auto"
    seed: int = 0
    snapshot_every: int = 0  # batches between live snapshots inside an epoch (0: epoch end only)
    target_scale: float = 0.0  # latent units per unit of class distance (0: auto, see below)
    mds: MDSConfig = field(default_factory=MDSConfig)
    classifier: str = "svm"
    self_training: float = 0.0  # confidence threshold of pseudo-labels (0: off)
    pseudo_labeler: str = ""    # classifier whose predictions become pseudo-labels ("": classifier)
    pseudo_weight: float = 1.0  # a pseudo-label's structural weight, relative to a given label's
    structure_span: str = "latent"  # "latent": the paper's structural MSE; "classes": see above

    def scale_for(self, latent_dim: int) -> float:
        """Latent units per unit of class distance.

        The loss fixes the scale of the targets but not that of the codes, and the decoder can
        undo any scaling: with targets much closer together than the codes' natural spread,
        the network shrinks every code instead of separating the classes (measured on digits,
        10% labels, MLP 256/128, latent 10, 30 epochs: held-out SVM error 0.23 at scale 1,
        0.15 at 3, 0.07 at 10 and 30, plain autoencoder 0.21). ``auto`` (0) maps a class
        distance of 1 to twice the RMS distance between unit-variance codes,
        ``2 * sqrt(2 * latent_dim)`` (8.9 for a 10-dim latent space).
        """
        if self.target_scale > 0:
            return float(self.target_scale)
        return 2.0 * (2.0 * int(latent_dim)) ** 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")
        if int(self.epochs) < 0:
            raise ValueError(f"epochs must be non-negative, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not float(self.lr) > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if not float(self.target_scale) >= 0:
            raise ValueError(f"target_scale must be non-negative (0: auto), got {self.target_scale}")
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {self.classifier!r}")
        if self.pseudo_labeler and self.pseudo_labeler not in CLASSIFIERS:
            raise ValueError(f"pseudo_labeler must be one of {CLASSIFIERS} or '' (the classifier's), "
                             f"got {self.pseudo_labeler!r}")
        if not 0.0 <= float(self.self_training) <= 1.0:
            raise ValueError(f"self_training (a confidence threshold, 0: off) must lie in [0, 1], "
                             f"got {self.self_training}")
        if not 0.0 < float(self.pseudo_weight) <= 1.0:
            raise ValueError(f"pseudo_weight must lie in (0, 1], got {self.pseudo_weight}")
        if self.structure_span not in STRUCTURE_SPANS:
            raise ValueError(f"structure_span must be one of {STRUCTURE_SPANS}, got {self.structure_span!r}")
        if isinstance(self.mds, dict):
            object.__setattr__(self, "mds", MDSConfig.from_dict(self.mds))

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, the MDS settings nested."""
        data = super().to_dict()
        data["mds"] = self.mds.to_dict()
        return data
