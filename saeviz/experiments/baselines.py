"""What the SAE is compared with, and the data settings the comparisons share.

Every network here uses the SAE's encoder architecture (``ModelConfig``: the same MLP,
conv net or basis MLP, only the size of the output layer differs where the method needs
it) and the SAE's decoder mirrored from it, the same input normalisation, Adam with the
SAE's learning rate, its batch size and its number of epochs over the training set.

``train_autoencoder``
    a plain autoencoder: the library's ``Trainer`` without supervision (the SAE at gamma 0).
``train_vae``
    a variational autoencoder (Kingma and Welling 2014) with a Gaussian decoder whose
    variance is the batch's mean squared error (the maximum-likelihood variance, so that no
    weight between reconstruction and KL term has to be chosen); codes are posterior means.
``train_aae``
    the semi-supervised adversarial autoencoder of Makhzani et al. 2016, section 2.3: the
    encoder outputs a categorical code (softmax over the classes) and a style code; the
    decoder reconstructs from both; per mini-batch a reconstruction phase, a regularisation
    phase (one discriminator pushes the categorical code towards one-hot samples of a uniform
    categorical, another the style code towards a standard normal; then the encoder is
    updated to fool both) and a semi-supervised phase (cross-entropy of the categorical code
    on a mini-batch of labeled samples). Codes are the categorical and the style code
    side by side.
``train_classifier``
    a classification network: the encoder plus a linear output layer, trained with
    cross-entropy on the labeled samples only, for as many optimizer steps as the SAE takes.
``pca_whitened_svm_error``
    a linear SVM on the raw inputs after PCA whitening (fitted on all training inputs).
``spreading_pca_error``
    kNN label spreading (Zhou et al. 2004) on PCA-50 of the raw inputs: a classic
    graph-based semi-supervised peer that needs no network.
``umap_svm_error``
    semi-supervised UMAP (umap-learn, -1 for unlabeled samples) to the SAE's latent size,
    then a linear SVM.

Linear SVMs are the app's ``LatentClassifier`` everywhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import Autoencoder, build_autoencoder
from saeviz.core.method.training import Trainer
from saeviz.experiments import common
from saeviz.experiments.common import ExperimentError, Split

# -- data settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """A dataset, the network for it and how much of its training split to use."""

    name: str
    spec: str
    model: ModelConfig = field(default_factory=ModelConfig)
    max_train: int = 0  # 0: the whole training split
    note: str = ""


DIGITS = Setup(
    "digits", "digits", ModelConfig(),
    note="scikit-learn's 8x8 handwritten digits grouped as in the paper into A = (0, 1, 9), "
         "B = (4, 6, 8), C = (2, 3, 5, 7); MLP encoder 256-128, latent 10 (the library default; the "
         "paper's conv net needs larger images than 8x8: its three 2x2 poolings leave a 1x1 map)")
BODIES = Setup(
    "bodies", "bodies:6000:reduced",
    ModelConfig(architecture="basis", hidden=(2048, 256), latent_dim=30, basis_size=256),
    note="6,000 generated 3D bodies, the paper's count (female/male, random poses; anny body model) at "
         "reduced resolution "
         "(2,006 vertices, 6,018 coordinates); the paper's dense 2048-256 encoder with a 30-dimensional latent "
         "space, behind a fixed 256-component PCA basis of the training meshes (`basis` architecture)")
MNIST = Setup(
    "mnist", "mnist:abc", ModelConfig(architecture="conv", conv_channels=(8, 16, 32), latent_dim=10),
    note="MNIST (official 60,000 / 10,000 split) grouped as in the paper into A = (0, 1, 9), B = (4, 6, 8), "
         "C = (2, 3, 5, 7); the paper's conv net (3x3 convolutions with 8, 16, 32 filters, 2x2 pooling), latent 10")
FASHION = Setup(
    "fashion-mnist", "fashion-mnist:seasons", ModelConfig(architecture="conv", conv_channels=(8, 16, 32), latent_dim=10),
    note="Fashion-MNIST (official 60,000 / 10,000 split) grouped as in the paper into seasons: summer (top, "
         "sandal, dress, shirt), winter (pullover, coat, ankle boot), all-year (sneaker, trouser, bag); the "
         "paper's conv net (8, 16, 32 filters), latent 10")
SETUPS = {"digits": DIGITS, "bodies": BODIES, "mnist": MNIST, "fashion-mnist": FASHION}


def check_sweep(dataset: str, fractions, epochs: int, seeds) -> None:
    """ValueError unless ``dataset`` is a setup, the label ``fractions`` lie in (0, 1], and
    there are epochs and seeds to run (the settings check of the label-fraction sweeps)."""
    if dataset not in SETUPS:
        raise ValueError(f"dataset must be one of {tuple(SETUPS)}, got {dataset!r}")
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], got {fractions}")
    if epochs < 1 or not seeds:
        raise ValueError("epochs must be positive and at least one seed is needed")


def open_sweep(what: str, settings, log) -> tuple[Setup, Split]:
    """The setup and data split of a label-fraction sweep's ``settings`` (``dataset``,
    ``max_train``, ``fractions``, ``epochs``, ``seeds``), with a line to ``log`` saying what runs."""
    setup = SETUPS[settings.dataset]
    split = load_setup(setup, settings.max_train or None)
    log(f"{what} on {setup.name}: {len(split.y_train)} training / {len(split.y_test)} test samples, "
        f"fractions {list(settings.fractions)}, {settings.epochs} epochs, seeds {list(settings.seeds)}")
    return setup, split


def load_setup(setup: Setup, max_train: int | None = None) -> Split:
    """The split of ``setup``, its training part cut to ``max_train`` samples (the dataset's
    own random order, so the cut is a random subset) when given."""
    split = common.load_split(setup.spec)
    n = max_train if max_train is not None else setup.max_train
    if n and n < len(split.y_train):
        split = Split(split.dataset, split.X_train[:n], split.y_train[:n], split.X_test, split.y_test)
    return split


def setup_splits(settings):
    """``(name, setup, split)`` for each of ``settings.datasets`` in turn, its training part cut to
    ``settings.max_train[name]`` samples (0: all of them)."""
    for name in settings.datasets:
        setup = SETUPS[name]
        yield name, setup, load_setup(setup, settings.max_train.get(name) or None)


def describe(setup: Setup, split: Split) -> str:
    return (f"**{setup.name}**: {setup.note}; {len(split.y_train)} training / {len(split.y_test)} held-out "
            f"samples, classes {', '.join(split.class_names)}.")


# -- shared network plumbing ----------------------------------------------------------------------


class _Coder:
    """An ``Autoencoder`` with ``out`` latent units, used through its training inputs.

    For ``basis`` models the training runs in the fixed basis' coordinates as the SAE's
    ``Trainer`` does (the reconstruction error adds the constant residual), so every network
    sees exactly the SAE's inputs and reconstruction loss.
    """

    def __init__(self, config: ModelConfig, X: np.ndarray, out: int, seed: int):
        self.ae: Autoencoder = build_autoencoder(config.replace(latent_dim=int(out)), X, seed=seed)
        self.basis = self.ae.basis is not None
        self.n_features = int(np.prod(self.ae.sample_shape))

    def inputs(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Network inputs for raw samples ``X`` and their constant residual (0 without basis)."""
        x = torch.from_numpy(np.ascontiguousarray(X, np.float32))
        with torch.no_grad():
            if self.basis:
                return self.ae.basis_coefficients(x)
            return self.ae.normalize(x), torch.zeros(len(x))

    def encode(self, c: torch.Tensor) -> torch.Tensor:
        return self.ae.encoder(c) if self.basis else self.ae.encode_normalized(c)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.ae.decoder(z) if self.basis else self.ae.decode_normalized(z)

    def recon_each(self, c_hat: torch.Tensor, c: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Per-sample reconstruction MSE in normalised units (the SAE's loss)."""
        return (((c_hat - c) ** 2).flatten(1).sum(1) + residual) / self.n_features


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    return [torch.from_numpy(order[i:i + batch_size]) for i in range(0, n, batch_size)]


def _labeled_stream(labeled: np.ndarray, batch_size: int, rng: np.random.Generator):
    """Endless mini-batches of labeled indices: shuffled passes over the labeled samples."""
    while True:
        order = labeled[rng.permutation(len(labeled))]
        for i in range(0, len(order), batch_size):
            yield torch.from_numpy(order[i:i + batch_size])


@torch.no_grad()
def _apply(fn, c: torch.Tensor, chunk: int = 1024) -> np.ndarray:
    return torch.cat([fn(c[i:i + chunk]) for i in range(0, len(c), chunk)]).numpy()


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labeled = np.flatnonzero(np.asarray(labels) >= 0)
    if len(np.unique(labels[labeled])) < 2:
        raise ExperimentError("the semi-supervised baselines need labeled samples of at least two classes")
    return labeled


def _semi_supervised_start(labels: np.ndarray, seed: int, train: TrainConfig | None):
    """The training settings (the library's defaults for ``None``), the indices of the labeled
    samples and the labels as a tensor; every global generator seeded with ``seed``."""
    labeled = _check_labels(labels)
    common.seed_everything(seed)
    return train or TrainConfig(), labeled, torch.from_numpy(np.asarray(labels, np.int64))


# -- plain autoencoder --------------------------------------------------------------------------


def train_autoencoder(X: np.ndarray, model: ModelConfig, epochs: int, seed: int,
                      train: TrainConfig | None = None) -> Trainer:
    """The library's autoencoder without supervision: only the reconstruction loss."""
    config = (train or TrainConfig()).replace(seed=int(seed), epochs=int(epochs))
    trainer = Trainer(X, model, config, None)
    for _ in trainer.iter_epochs(epochs):
        pass
    return trainer


# -- VAE ----------------------------------------------------------------------------------------


class VAE:
    """Encoder to a Gaussian posterior (mean and log-variance), decoder from a sample of it."""

    def __init__(self, model: ModelConfig, X: np.ndarray, seed: int):
        d = int(model.latent_dim)
        self.d = d
        self.enc = _Coder(model, X, 2 * d, seed)  # the encoder's output layer gives mean and log-variance
        self.dec = _Coder(model, X, d, seed + 7919)  # the decoder for d latent units
        self.params = list(self.enc.ae.encoder.parameters()) + list(self.dec.ae.decoder.parameters())

    def posterior(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc.encode(c)
        return h[:, :self.d], h[:, self.d:].clamp(-12.0, 8.0)

    def codes(self, X: np.ndarray) -> np.ndarray:
        c, _ = self.enc.inputs(X)
        return _apply(lambda b: self.posterior(b)[0], c)


def train_vae(X: np.ndarray, model: ModelConfig, epochs: int, seed: int,
              train: TrainConfig | None = None) -> VAE:
    train = train or TrainConfig()
    common.seed_everything(seed)
    vae = VAE(model, X, seed)
    c_all, r_all = vae.enc.inputs(X)
    opt = torch.optim.Adam(vae.params, lr=train.lr)
    rng = np.random.default_rng(seed)
    D = vae.enc.n_features
    for _ in range(int(epochs)):
        for idx in _batches(len(X), int(train.batch_size), rng):
            c, r = c_all[idx], r_all[idx]
            mu, logvar = vae.posterior(c)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            mse = vae.dec.recon_each(vae.dec.decode(z), c, r).mean()
            # Gaussian decoder with the maximum-likelihood variance (the batch MSE): the negative
            # log-likelihood per sample is D/2 * log(mse) up to a constant
            nll = 0.5 * D * torch.log(mse + 1e-8)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
            loss = nll + kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return vae


# -- semi-supervised adversarial autoencoder ------------------------------------------------------


def _discriminator(width: int, hidden: int = 256) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


class AAE:
    """Categorical code ``y`` (softmax over ``k`` classes) and style code ``z`` (``d`` units)."""

    def __init__(self, model: ModelConfig, X: np.ndarray, k: int, seed: int):
        self.k, self.d = int(k), int(model.latent_dim)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = _Coder(model, X, self.k + self.d, seed)
            self.d_cat = _discriminator(self.k)
            self.d_style = _discriminator(self.d)

    def heads(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and style code."""
        h = self.net.encode(c)
        return h[:, :self.k], h[:, self.k:]

    def latent(self, c: torch.Tensor) -> torch.Tensor:
        logits, z = self.heads(c)
        return torch.cat([F.softmax(logits, 1), z], 1)

    def codes(self, X: np.ndarray) -> np.ndarray:
        """Categorical and style code side by side, (N, k + d)."""
        c, _ = self.net.inputs(X)
        return _apply(self.latent, c)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The AAE's own prediction: the arg-max of the categorical code."""
        return np.argmax(self.codes(X)[:, :self.k], axis=1)


def train_aae(X: np.ndarray, labels: np.ndarray, n_classes: int, model: ModelConfig, epochs: int, seed: int,
              train: TrainConfig | None = None, adversarial_lr: float = 2e-4) -> AAE:
    """Makhzani et al. 2016, section 2.3, with Adam (the discriminators and the encoder's
    adversarial updates at ``adversarial_lr`` with beta1 = 0.5, as usual for GANs)."""
    train, labeled, y_all = _semi_supervised_start(labels, seed, train)
    aae = AAE(model, X, n_classes, seed)
    c_all, r_all = aae.net.inputs(X)
    enc_params = list(aae.net.ae.encoder.parameters())
    opt_rec = torch.optim.Adam(enc_params + list(aae.net.ae.decoder.parameters()), lr=train.lr)
    opt_disc = torch.optim.Adam(list(aae.d_cat.parameters()) + list(aae.d_style.parameters()),
                                lr=adversarial_lr, betas=(0.5, 0.999))
    opt_gen = torch.optim.Adam(enc_params, lr=adversarial_lr, betas=(0.5, 0.999))
    opt_sup = torch.optim.Adam(enc_params, lr=train.lr)
    rng = np.random.default_rng(seed)
    bs = int(train.batch_size)
    stream = _labeled_stream(labeled, bs, rng)
    bce = nn.BCEWithLogitsLoss()
    for _ in range(int(epochs)):
        for idx in _batches(len(X), bs, rng):
            c, r = c_all[idx], r_all[idx]
            n = len(idx)
            # 1. reconstruction
            rec = aae.net.recon_each(aae.net.decode(aae.latent(c)), c, r).mean()
            opt_rec.zero_grad(set_to_none=True)
            rec.backward()
            opt_rec.step()
            # 2. regularisation: discriminators, then the encoder as generator
            with torch.no_grad():
                logits, z = aae.heads(c)
                y_fake = F.softmax(logits, 1)
            y_real = F.one_hot(torch.randint(0, aae.k, (n,)), aae.k).float()
            z_real = torch.randn(n, aae.d)
            ones, zeros = torch.ones(n, 1), torch.zeros(n, 1)
            d_loss = (bce(aae.d_cat(y_real), ones) + bce(aae.d_cat(y_fake), zeros)
                      + bce(aae.d_style(z_real), ones) + bce(aae.d_style(z), zeros))
            opt_disc.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_disc.step()
            logits, z = aae.heads(c)
            g_loss = bce(aae.d_cat(F.softmax(logits, 1)), ones) + bce(aae.d_style(z), ones)
            opt_gen.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_gen.step()
            # 3. semi-supervised: cross-entropy of the categorical code on labeled samples
            li = next(stream)
            logits, _ = aae.heads(c_all[li])
            sup = F.cross_entropy(logits, y_all[li])
            opt_sup.zero_grad(set_to_none=True)
            sup.backward()
            opt_sup.step()
    return aae


# -- classification network ----------------------------------------------------------------------


class ClassifierNet:
    """The SAE's encoder followed by a linear layer to the class logits."""

    def __init__(self, model: ModelConfig, X: np.ndarray, k: int, seed: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = _Coder(model, X, int(model.latent_dim), seed)
            self.head = nn.Linear(int(model.latent_dim), int(k))
        self.params = list(self.net.ae.encoder.parameters()) + list(self.head.parameters())

    def logits(self, c: torch.Tensor) -> torch.Tensor:
        return self.head(self.net.encode(c))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax of the output layer, (N, k)."""
        c, _ = self.net.inputs(X)
        self.head.eval()
        return _apply(lambda b: F.softmax(self.logits(b), 1), c)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def error(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) != np.asarray(y)))


def train_classifier(X: np.ndarray, labels: np.ndarray, n_classes: int, model: ModelConfig, epochs: int,
                     seed: int, train: TrainConfig | None = None) -> ClassifierNet:
    """Cross-entropy on the labeled samples only, for ``epochs * ceil(len(X) / batch)`` steps:
    the number of optimizer steps the SAE takes on the same data, however few labels there are."""
    train, labeled, y_all = _semi_supervised_start(labels, seed, train)
    clf = ClassifierNet(model, X, n_classes, seed)
    c_all, _ = clf.net.inputs(X)
    opt = torch.optim.Adam(clf.params, lr=train.lr)
    rng = np.random.default_rng(seed)
    bs = int(train.batch_size)
    steps = int(epochs) * math.ceil(len(X) / bs)
    stream = _labeled_stream(labeled, bs, rng)
    for _ in range(steps):
        li = next(stream)
        loss = F.cross_entropy(clf.logits(c_all[li]), y_all[li])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return clf


# -- methods without a network ----------------------------------------------------------------------


def _flat(X: np.ndarray) -> np.ndarray:
    return np.asarray(X, np.float32).reshape(len(X), -1)


def pca_whitened_svm_error(split: Split, labels: np.ndarray, variance: float = 0.99) -> float:
    """Held-out error of a linear SVM on PCA-whitened raw inputs; the PCA (keeping
    ``variance`` of the variance) is fitted on all training inputs, labeled or not."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=variance, whiten=True, svd_solver="full").fit(_flat(split.X_train))
    clf = common.fit_classifier(pca.transform(_flat(split.X_train)), labels)
    return clf.error(pca.transform(_flat(split.X_test)), split.y_test)


def spreading_pca_error(split: Split, labels: np.ndarray, components: int = 50) -> float:
    """Held-out error of kNN label spreading (scikit-learn's ``LabelSpreading``, 10 neighbours,
    alpha 0.2) on the first ``components`` principal components of the raw inputs; the PCA and
    the graph cover all training inputs, labeled or not, and a held-out sample takes the mean
    spread distribution of its 10 nearest training samples."""
    from sklearn.decomposition import PCA

    from saeviz.core.method.code_classifiers import fit_code_classifier

    Xtr, Xte = _flat(split.X_train), _flat(split.X_test)
    pca = PCA(n_components=min(components, *Xtr.shape), random_state=0).fit(Xtr)
    clf = fit_code_classifier(pca.transform(Xtr), labels, "label-spreading")
    return clf.error(pca.transform(Xte), split.y_test)


def require_umap() -> None:
    try:
        import umap  # noqa: F401
    except ImportError as exc:
        raise ExperimentError("the UMAP baseline needs umap-learn: pip install 'saeviz[report]'") from exc


def umap_codes(split: Split, labels: np.ndarray, n_components: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Semi-supervised UMAP of the raw training inputs (``labels``, -1 unlabeled) to
    ``n_components`` dimensions: (training embedding, held-out samples transformed)."""
    import warnings

    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_components=int(n_components), random_state=int(seed), n_jobs=1)
        train = reducer.fit_transform(_flat(split.X_train), y=np.asarray(labels, np.int64))
        test = reducer.transform(_flat(split.X_test))
    return np.asarray(train, np.float64), np.asarray(test, np.float64)


def umap_svm_error(split: Split, labels: np.ndarray, n_components: int, seed: int) -> float:
    train, test = umap_codes(split, labels, n_components, seed)
    return common.fit_classifier(train, labels).error(test, split.y_test)
