"""A folder of image files as a grayscale image dataset.

Layouts:

* ``folder/*.png`` — unlabelled images;
* ``folder/<class>/*.png`` — one subfolder per class (classes sorted by folder name), which
  sets the ground truth ``y``.

Image files are those ending in .png, .jpg, .jpeg, .bmp, .gif, .tif or .tiff (any case);
other files and hidden entries (names starting with ".", and ``__MACOSX``) are ignored.
Files are read in sorted order, so the dataset is the same on every run.
"""
from __future__ import annotations

import os
import warnings
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps

from saeviz.core.data.dataset import Dataset, make_split
from saeviz.core.errors import DataError
from saeviz.core.io.budget import check_budget
from saeviz.core.io.validate import MAX_IMAGE_SIDE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
# memory per pixel while one image is decoded: up to 4 bytes of RGBA (or 32-bit) pixels, the
# converted pixels and the float32 result
BYTES_PER_PIXEL = 16
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _open(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's size warning: the memory budget decides (see ``read_gray_image``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _png_data_size(width: int, height: int, depth: int, color: int, interlace: int) -> int:
    """Bytes of filtered scanlines a complete PNG image of this header decompresses to."""
    bits = depth * _PNG_CHANNELS.get(color, 4)

    def rows(w: int, h: int) -> int:
        return h * (1 + (w * bits + 7) // 8) if w and h else 0

    if not interlace:
        return rows(width, height)
    return sum(rows(max(0, -(-(width - xs) // dx)), max(0, -(-(height - ys) // dy)))
               for xs, ys, dx, dy in _ADAM7)


def _check_png_complete(path: Path) -> None:
    """Refuse a PNG whose image data stop before the last row (Pillow would fill in zeros)."""
    data = path.read_bytes()  # the header's pixel count was checked against the budget
    if not data.startswith(_PNG_SIGNATURE):
        return
    pos, header, inflate, got, expected = 8, None, zlib.decompressobj(), 0, 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR" and len(body) >= 13:
            w, h = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
            header = (w, h, body[8], body[9], body[12])
            expected = _png_data_size(*header)
        elif kind == b"IDAT" and header is not None:
            try:
                while body and got <= expected:
                    got += len(inflate.decompress(body, 1 << 20))
                    body = inflate.unconsumed_tail
            except zlib.error as exc:
                raise DataError(f"{path}: the image data are corrupt ({exc})") from None
        elif kind == b"IEND":
            break
    if header is not None and got < expected:
        raise DataError(f"{path}: truncated image: the header declares {header[0]}x{header[1]} pixels "
                        f"but the data stop after {100 * got // max(expected, 1)}% of them")


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """Sorted (image files, subfolders) of ``folder``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not _hidden(e.name)), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from exc
    files, dirs = [], []
    for e in entries:
        try:
            os.stat(e.path)  # follows symbolic links
            is_dir, is_file = e.is_dir(), e.is_file()
        except OSError as exc:
            raise DataError(f"{e.path}: cannot be read (a broken symbolic link or a link loop: "
                            f"{exc.strerror or exc})") from exc
        if is_dir:
            dirs.append(Path(e.path))
        elif _is_image_name(e.name):
            if not is_file:
                raise DataError(f"{e.path}: not a regular file")
            files.append(Path(e.path))
    return files, dirs


def scan_image_folder(folder: str | os.PathLike) -> tuple[list[Path], np.ndarray | None, tuple[str, ...]]:
    """The image files of ``folder`` in load order, their classes (or ``None``) and the class names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (or it does not exist)")
    files, dirs = _entries(folder)
    if not dirs:
        if not files:
            raise DataError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        return files, None, ()
    if files:
        raise DataError(f"{folder}: holds both image files (e.g. {files[0].name}) and class "
                        f"subfolders (e.g. {dirs[0].name}); put every image in a class folder "
                        "or remove the subfolders")
    paths: list[Path] = []
    labels: list[int] = []
    for c, d in enumerate(dirs):
        class_files, _ = _entries(d)
        if not class_files:
            raise DataError(f"{d}: class folder without image files")
        paths += class_files
        labels += [c] * len(class_files)
    return paths, np.asarray(labels, dtype=np.int64), tuple(d.name for d in dirs)


def read_gray_image(path: str | os.PathLike) -> np.ndarray:
    """One image file as a float32 ``(H, W)`` array in [0, 1].

    Colour is converted to luminance; transparent pixels are composited onto black; 16-bit
    images are scaled by 1/65535; float images must already lie in [0, 1]. EXIF orientation
    is applied and, for animations, the first frame is used.
    """
    path = Path(path)
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated image is an error, never zero-filled
    try:
        with _open(path) as img:
            w, h = img.size
            check_budget(w * h * BYTES_PER_PIXEL, path, f"decoding its {w}x{h} pixels")
            if img.format == "PNG":
                _check_png_complete(path)
            img = ImageOps.exif_transpose(img)
            mode = img.mode
            if mode.startswith("I;16") or mode in ("I", "F"):
                raw = np.asarray(img)
                alpha = None
            elif "A" in img.getbands() or "transparency" in img.info:
                la = np.asarray(img.convert("RGBA").convert("LA"))
                raw, alpha = la[..., 0], la[..., 1]
            else:
                raw, alpha = np.asarray(img.convert("L")), None
    except (MemoryError, DataError):
        raise
    except Exception as exc:  # Pillow raises many types for corrupt or truncated files
        raise DataError(f"{path}: cannot read the image ({type(exc).__name__}: {exc})") from exc
    if raw.ndim != 2:
        raise DataError(f"{path}: cannot read the image (unsupported mode {mode})")
    if mode.startswith("I;16") or mode == "I":
        if raw.size and (raw.min() < 0 or raw.max() > 65535):
            raise DataError(f"{path}: 32-bit integer image with values outside 0..65535")
        return raw.astype(np.float32) / np.float32(65535)
    if mode == "F":
        gray = raw.astype(np.float32)
        if not np.isfinite(gray).all() or gray.min() < 0 or gray.max() > 1:
            raise DataError(f"{path}: floating-point image with values outside [0, 1]")
        return gray
    gray = raw.astype(np.float32) / np.float32(255)
    if alpha is not None:
        gray *= alpha.astype(np.float32) / np.float32(255)
    return gray


def _resize(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    resized = Image.fromarray(np.ascontiguousarray(gray, dtype=np.float32)).resize(
        (w, h), Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _check_size(size: Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise DataError(f"image size must be a pair (height, width), got {size!r}") from None
    if h <= 0 or w <= 0 or (h, w) != tuple(size):
        raise DataError(f"image size must be two positive integers (height, width), got {size!r}")
    if h > MAX_IMAGE_SIDE or w > MAX_IMAGE_SIDE:
        raise DataError(f"image size {h}x{w} is beyond the largest side of {MAX_IMAGE_SIDE} pixels")
    return h, w


def load_image_folder(folder: str | os.PathLike, size: Sequence[int] | None = None,
                      test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Every image of ``folder`` (see the module documentation) as grayscale float32 in [0, 1].

    All images must share one size, unless ``size=(height, width)`` is given: then each is
    resized (Lanczos) to it. The split is drawn with ``make_split`` (stratified by class).
    """
    folder = Path(folder)
    target = _check_size(size)
    paths, y, class_names = scan_image_folder(folder)
    if target is None:
        try:
            with _open(paths[0]) as first:
                shape = first.size[::-1]
        except Exception:  # reported with the file's name when it is read below
            shape = None
    else:
        shape = target
    if shape is not None:
        check_budget(4 * len(paths) * shape[0] * shape[1], folder,
                     f"{len(paths):,} images of {shape[1]}x{shape[0]} pixels")
    X: np.ndarray | None = None
    for i, p in enumerate(paths):
        gray = read_gray_image(p)
        if target is not None and gray.shape != target:
            gray = _resize(gray, target)
        if X is None:
            X = np.empty((len(paths), *gray.shape), dtype=np.float32)
        elif gray.shape != X.shape[1:]:
            raise DataError(f"{p}: image is {gray.shape[1]}x{gray.shape[0]} (width x height) but "
                            f"{paths[0].name} is {X.shape[2]}x{X.shape[1]}; all images must share "
                            "one size, or give a size to resize them to")
        X[i] = gray
    assert X is not None  # scan_image_folder never returns an empty list
    train_idx, test_idx = make_split(len(X), y, test_fraction=test_fraction, seed=seed)
    source = {"loader": "images", "path": os.path.abspath(folder),
              "size": list(target) if target else None,
              "test_fraction": float(test_fraction), "seed": int(seed)}
    return Dataset(name=folder.resolve().name or str(folder), X=X, kind="image", y=y,
                   class_names=class_names, train_idx=train_idx, test_idx=test_idx, source=source)


__all__ = ["load_image_folder", "read_gray_image", "scan_image_folder", "IMAGE_SUFFIXES"]
