"""saeviz: explore and structure the latent space of autoencoders.

``from saeviz import StructuringAutoencoder`` gives the scikit-learn estimator; the method
lives in the Qt-free ``saeviz.core``; the desktop app in ``saeviz.app``.
"""
__version__ = "0.1.0"
__all__ = ["StructuringAutoencoder", "__version__"]


def __getattr__(name):  # imported lazily so that `saeviz --help` starts fast
    if name == "StructuringAutoencoder":
        from saeviz.estimator import StructuringAutoencoder
        return StructuringAutoencoder
    raise AttributeError(f"module 'saeviz' has no attribute {name!r}")
