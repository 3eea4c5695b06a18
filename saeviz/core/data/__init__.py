"""Datasets: the ``Dataset`` type and its loaders; ``load_dataset`` is the entry point."""
from saeviz.core.data.arrays import load_npz
from saeviz.core.data.dataset import Dataset, make_split, reveal_labels
from saeviz.core.data.digits import (
    BASE_CLASSES,
    DECOMPOSITIONS,
    Decomposition,
    decompose,
    load_digits,
)
from saeviz.core.data.idx import load_mnist_folder, read_idx
from saeviz.core.data.images import load_image_folder, read_gray_image
from saeviz.core.data.registry import (
    DATASETS,
    LOADERS,
    get_loader,
    load_dataset,
    register_loader,
)

__all__ = [
    "Dataset", "make_split", "reveal_labels",
    "load_dataset", "DATASETS", "LOADERS", "get_loader", "register_loader",
    "DECOMPOSITIONS", "Decomposition", "BASE_CLASSES", "decompose",
    "load_digits", "read_idx", "load_mnist_folder", "load_npz", "load_image_folder",
    "read_gray_image",
]
