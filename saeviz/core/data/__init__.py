"""Datasets: the ``Dataset`` type and its loaders; ``load_dataset`` is the entry point."""
from .arrays import load_npz
from .dataset import Dataset, make_split, reveal_labels
from .digits import BASE_CLASSES, DECOMPOSITIONS, Decomposition, decompose, load_digits
from .idx import load_mnist_folder, read_idx
from .images import load_image_folder, read_gray_image
from .registry import DATASETS, LOADERS, get_loader, load_dataset, register_loader

__all__ = [
    "Dataset", "make_split", "reveal_labels",
    "load_dataset", "DATASETS", "LOADERS", "get_loader", "register_loader",
    "DECOMPOSITIONS", "Decomposition", "BASE_CLASSES", "decompose",
    "load_digits", "read_idx", "load_mnist_folder", "load_npz", "load_image_folder",
    "read_gray_image",
]
