"""``StructuringAutoencoder``: the SAE as a scikit-learn estimator.

A thin shell over ``saeviz.core.method.training.Trainer``: ``__init__`` stores parameters only;
``fit`` builds the network and trains; ``partial_fit`` trains one more epoch; learned
attributes end in ``_``. ``y`` holds class labels with ``-1`` for unlabeled samples (the
semi-supervised convention of scikit-learn). After training, a linear SVM on the codes of
the labeled samples classifies (``predict``, ``decision_function``) and gives the paper's
normalised confidence (``predict_proba``); ``classifier`` may choose label spreading over the
codes or a kNN vote instead, and ``self_training`` feeds confident predictions back into the
structural targets as pseudo-labels (both off by default: the paper's method).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from saeviz.core.method.code_classifiers import fit_code_classifier
from saeviz.core.method.config import MDSConfig, ModelConfig, TrainConfig
from saeviz.core.method.self_training import with_self_training
from saeviz.core.method.training import Trainer, decode, encode
from saeviz.core.state.labels import (
    Supervision,
    default_color,
    equal_distances,
    validate_distances,
)

UNLABELED = -1


class StructuringAutoencoder(TransformerMixin, ClassifierMixin, BaseEstimator):
    """Structuring Autoencoder (Rudolph, Wandt, Rosenhahn 2019) with a linear SVM on the codes.

    Parameters
    ----------
    architecture : {"mlp", "conv", "basis"}
        ``conv`` is the paper's image network (needs ``image_shape``); ``basis`` puts a fixed
        orthonormal basis of ``basis_size`` principal directions in front of an MLP.
    hidden_sizes : tuple of int
        Hidden layer sizes of the MLP encoder (the decoder mirrors them).
    latent_dim : int
    gamma : float in [0, 1]
        Weight of the structural loss against the reconstruction loss for labeled samples.
    class_distances : array (K, K) or None
        Desired distances between the classes in latent space; default 1 off the diagonal.
    epochs, batch_size, learning_rate : training settings.
    mds_mode : {"class", "exact"}
    alignment : {"procrustes", "paper"}
    target_scale : float or "auto"
        Latent units per unit of class distance; "auto" is ``2 * sqrt(2 * latent_dim)``
        (see ``TrainConfig.scale_for``).
    image_shape : (H, W) or None
        How rows of ``X`` are reshaped for the conv architecture.
    device : str, default "auto" (CUDA, MPS, then CPU).
    classifier : {"svm", "label-spreading", "knn"}, default "svm"
        What classifies the codes: the paper's linear SVM, kNN label spreading over all
        training codes (labeled and unlabeled), or a distance-weighted vote of the 10 nearest
        labeled codes. ``decision_function`` gives SVM scores, or class probabilities for the
        other two.
    self_training : float in [0, 1], default 0 (off)
        From the second epoch on, unlabeled samples whose prediction by ``classifier`` (fitted
        on the current codes) has at least this confidence get that class as a pseudo-label for
        the epoch's structural targets. Pseudo-labels are recomputed every epoch and never
        become labels: the classifier after training is fitted on ``y`` alone.
        ``n_pseudo_labels_`` is the count of the last epoch.
    pseudo_labeler : {"svm", "label-spreading", "knn"} or None, default None
        The classifier whose predictions become pseudo-labels (None: ``classifier``). With
        ``classifier="svm"`` and ``pseudo_labeler="label-spreading"`` the structure is grown by
        label spreading and read by the paper's linear SVM (the best setting measured on MNIST
        with 1% labels, ``docs/report/mnist_self_training_spreading``).
    pseudo_weight : float in (0, 1], default 1
        The structural weight of a pseudo-label against a given label's (its samples train at
        ``gamma * pseudo_weight``). Smaller keeps the reconstruction nearer a plain
        autoencoder's: 0.25 kept it within about 10% on MNIST with 1% labels (+9.9% over three seeds)
        (``docs/report/mnist_pseudo_weight``).
    structure_span : {"latent", "classes"}, default "latent"
        Which part of a code's offset from its MDS target the structural loss counts:
        ``latent`` (the paper) all of it; ``classes`` only its part within the span of the class
        targets (K - 1 directions), leaving the other latent directions to the reconstruction
        (``docs/report/mnist_structure_span``).
    random_state : int, RandomState or None
    callback : callable(Snapshot) or None, called after every epoch (for live use).
    """

    def __init__(self, architecture="mlp", hidden_sizes=(256, 128), latent_dim=10, gamma=0.5,
                 class_distances=None, epochs=30, batch_size=64, learning_rate=1e-3,
                 mds_mode="class", alignment="procrustes", image_shape=None,
                 conv_channels=(8, 16, 32), basis_size=256, target_scale="auto", device="auto",
                 classifier="svm", self_training=0.0, pseudo_labeler=None, pseudo_weight=1.0,
                 structure_span="latent", random_state=None, callback: Callable | None = None):
        self.architecture = architecture
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.gamma = gamma
        self.class_distances = class_distances
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.mds_mode = mds_mode
        self.alignment = alignment
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.basis_size = basis_size
        self.target_scale = target_scale
        self.device = device
        self.classifier = classifier
        self.self_training = self_training
        self.pseudo_labeler = pseudo_labeler
        self.pseudo_weight = pseudo_weight
        self.structure_span = structure_span
        self.random_state = random_state
        self.callback = callback

    # -- helpers ---------------------------------------------------------------------------
    def _model_config(self) -> ModelConfig:
        return self._configs(0)[0]

    def _configs(self, seed: int) -> tuple[ModelConfig, TrainConfig]:
        model = ModelConfig(architecture=self.architecture, hidden=tuple(int(h) for h in self.hidden_sizes),
                            latent_dim=int(self.latent_dim), conv_channels=tuple(self.conv_channels),
                            basis_size=int(self.basis_size))
        train = TrainConfig(gamma=float(self.gamma), epochs=int(self.epochs), batch_size=int(self.batch_size),
                            lr=float(self.learning_rate), device=self.device, seed=seed,
                            target_scale=0.0 if self.target_scale == "auto" else float(self.target_scale),
                            mds=MDSConfig(mode=self.mds_mode, alignment=self.alignment),
                            classifier=self.classifier, self_training=float(self.self_training),
                            pseudo_labeler=self.pseudo_labeler or "", pseudo_weight=float(self.pseudo_weight),
                            structure_span=self.structure_span)
        return model, train

    def _samples(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        if self.architecture == "conv":
            if self.image_shape is None:
                raise ValueError("the conv architecture needs image_shape=(H, W)")
            h, w = (int(s) for s in self.image_shape)
            if X.shape[1] != h * w:
                raise ValueError(f"image_shape {self.image_shape} needs {h * w} features, X has {X.shape[1]}")
            return X.reshape(len(X), h, w)
        return X

    def _encode_targets(self, y) -> np.ndarray:
        """Class indices for ``y`` (-1 stays unlabeled); sets ``classes_`` on first use."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
        labeled = ~self._is_unlabeled(y)
        if not hasattr(self, "classes_"):
            check_classification_targets(y[labeled] if labeled.any() else np.array([0, 1]))
            self.classes_ = np.unique(y[labeled])
        idx = np.full(len(y), UNLABELED, np.int64)
        if labeled.any():
            pos = np.searchsorted(self.classes_, y[labeled])
            pos = np.clip(pos, 0, len(self.classes_) - 1)
            if np.any(self.classes_[pos] != y[labeled]):
                raise ValueError(f"y contains classes not seen in the first fit: {np.setdiff1d(y[labeled], self.classes_)}")
            idx[labeled] = pos
        return idx

    @staticmethod
    def _is_unlabeled(y: np.ndarray) -> np.ndarray:
        if y.dtype.kind in "iu":
            return y == UNLABELED
        if y.dtype.kind == "f":
            return y == UNLABELED
        return np.zeros(len(y), bool)

    def _supervision(self, labels: np.ndarray) -> Supervision:
        k = len(self.classes_)
        if self.class_distances is None:
            D = equal_distances(k)
        else:
            D = validate_distances(self.class_distances, k)
        return Supervision(labels, tuple(str(c) for c in self.classes_),
                           tuple(default_color(i) for i in range(k)), D, 0)

    # -- scikit-learn API ----------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train from scratch for ``epochs`` epochs. ``y``: labels, -1 for unlabeled, or None."""
        for attr in ("classes_", "trainer_", "classifier_", "model_"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._initialize(X, y)
        return self._train(self.epochs)

    def partial_fit(self, X, y=None, classes=None):
        """Train one more epoch on ``X`` (initialising on the first call).

        ``classes`` (all class labels, as scikit-learn's incremental classifiers take them)
        is only used on the first call; later calls may only use classes seen then.
        """
        if not hasattr(self, "model_"):
            if classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
            self._initialize(X, y)
        else:
            X = validate_data(self, X, reset=False, dtype=np.float32)
            labels = self._encode_targets(np.full(len(X), UNLABELED) if y is None else y)
            self._labels = labels
            self.trainer_ = self._make_trainer(X, self.trainer_config_, model=self.model_,
                                               previous=getattr(self, "trainer_", None))
        return self._train(1)

    def _make_trainer(self, X, train_cfg: TrainConfig, model=None, previous=None) -> Trainer:
        source = self._current_supervision
        pseudo = None
        if train_cfg.self_training > 0:  # pseudo-labels live in the trainer's copy of the labels only
            source = pseudo = with_self_training(source, train_cfg)
        self._pseudo = pseudo
        if previous is not None:  # keep the weights, the optimiser's state and the epoch count
            trainer = previous.fork(source, X=self._samples(X), config=train_cfg, gamma=train_cfg.gamma)
        else:
            trainer = Trainer(self._samples(X), self._model_config(), train_cfg, supervision=source, model=model)
            if model is not None:  # unpickled: the weights and history go on, Adam starts afresh
                trainer.start_from_history(self.history_, self.n_epochs_)
        if pseudo is not None:
            pseudo.attach(trainer)
        return trainer

    def _current_supervision(self):
        return self._supervision(self._labels) if len(self.classes_) else None

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("trainer_", None)  # holds thread primitives; the weights live in model_
        state.pop("_pseudo", None)
        return state

    def _initialize(self, X, y) -> None:
        if y is None:
            X = validate_data(self, X, dtype=np.float32)
            y = np.full(len(X), UNLABELED)
        else:
            X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=False)
        if len(X) < 2:
            raise ValueError(f"got {len(X)} sample; training needs at least 2 samples")
        labels = self._encode_targets(y)
        if len(self.classes_) == 1:
            raise ValueError(f"y labels only one class ({self.classes_[0]!r}); the SAE structures the latent "
                             "space by the distances between at least two classes (pass y=None, or all -1, "
                             "to train a plain autoencoder)")
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        _, self.trainer_config_ = self._configs(seed)
        self._labels = labels
        self.trainer_ = self._make_trainer(X, self.trainer_config_)

    def _train(self, epochs: int):
        for snap in self.trainer_.iter_epochs(epochs):
            if snap.final and self.callback is not None:
                self.callback(snap)
        self.model_ = self.trainer_.model
        self.history_ = list(self.trainer_.history)
        self.n_epochs_ = self.trainer_.epoch
        pseudo = getattr(self, "_pseudo", None)
        self.n_pseudo_labels_ = 0 if pseudo is None else int(pseudo.n_pseudo)
        labeled = self._labels >= 0
        if len(np.unique(self._labels[labeled])) >= 2:
            codes = self.trainer_.latent_codes()
            self.classifier_ = fit_code_classifier(codes, self._labels, self.trainer_config_.classifier,
                                                   random_state=0)
        elif hasattr(self, "classifier_"):
            del self.classifier_
        return self

    def transform(self, X):
        """Latent codes of ``X``, shape (n_samples, latent_dim)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return encode(self.model_, self._samples(X)).astype(np.float64)

    def inverse_transform(self, Z):
        """Decode latent codes back to samples (rows flattened like ``X``)."""
        check_is_fitted(self, "model_")
        Z = np.asarray(Z, np.float32)
        out = decode(self.model_, Z)
        return out.reshape(len(out), -1).astype(np.float64)

    def _classifier(self):
        check_is_fitted(self, "model_")
        if not hasattr(self, "classifier_"):
            raise ValueError("the classifier needs labeled samples of at least two classes in y "
                             "(only one class, or none, was labeled in fit)")
        return self.classifier_

    def decision_function(self, X):
        """Raw linear-SVM scores (class probabilities for ``classifier`` label-spreading or
        knn); shape (n,) for two classes, (n, n_classes) otherwise."""
        scores = self._classifier().decision_function(self.transform(X))
        full = self._expand(scores, fill=-np.inf)
        return full[:, 1] if full.shape[1] == 2 else full

    def predict_proba(self, X):
        """The paper's normalised SVM confidence, scaled to sum to one per sample."""
        return self._expand(self._classifier().predict_proba(self.transform(X)), fill=0.0)

    def predict(self, X):
        clf = self._classifier()
        return self.classes_[clf.predict(self.transform(X))]

    def _expand(self, values: np.ndarray, fill: float) -> np.ndarray:
        """Columns for every class of ``classes_`` (classes without labels get ``fill``)."""
        clf = self.classifier_
        out = np.full((len(values), len(self.classes_)), fill, dtype=np.float64)
        out[:, clf.classes_] = values
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags
