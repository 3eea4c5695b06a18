"""Decoding latent codes for display, on a worker thread: points of a morph path and
arbitrary points of the latent view.

A ``DecodeContext`` keeps the ``CodeDecoder`` of the newest model (and, for meshes, the
``VertexNormals`` of the newest topology) so that repeated decodes of one worker reuse them.
``decode_frame`` decodes one point of a morph path, with its vertex normals and the latent
classifier's class probabilities; ``decode_point`` decodes one code and finds the samples whose
codes are nearest to it. ``image_frame`` turns a decoded image into an RGB frame of an
animation, with a caption.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from saeviz.core.display.mesh_ops import VertexNormals
from saeviz.core.display.thumbnails import gray8
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.morph import CodeDecoder, nearest_codes

__all__ = ["IMAGE_FRAME_SIZE", "DecodeContext", "DecodedPoint", "MorphFrame", "decode_frame",
           "decode_point", "image_frame"]

IMAGE_FRAME_SIZE = 256  # pixels on the longer side of image frames


@dataclass(frozen=True)
class MorphFrame:
    """One decoded point of a path: ``t`` along it, the code, the sample, its vertex normals
    (meshes, else None), the classifier's probabilities in ``classes`` order (None without a
    classifier) and the seconds the whole frame took, of which ``decode_seconds`` decoding and
    ``normals_seconds`` the normals."""

    t: float
    code: np.ndarray
    sample: np.ndarray
    normals: np.ndarray | None
    proba: np.ndarray | None
    classes: np.ndarray | None
    seconds: float
    decode_seconds: float = 0.0
    normals_seconds: float = 0.0


@dataclass(frozen=True)
class DecodedPoint:
    """A decoded latent point and the samples whose codes are nearest to it: ``nearest`` are
    positions in the training split, nearest first, at ``distances``."""

    code: np.ndarray
    sample: np.ndarray
    nearest: np.ndarray
    distances: np.ndarray
    seconds: float


class DecodeContext:
    """Decoder and normal calculator of the newest model and topology, for one worker thread."""

    def __init__(self):
        self._model = None
        self._decoder: CodeDecoder | None = None
        self._faces = None
        self._normals: VertexNormals | None = None

    def decoder(self, model) -> CodeDecoder:
        """The ``CodeDecoder`` of ``model`` (made again only when the model object changes)."""
        if model is not self._model:
            self._decoder = CodeDecoder(model)
            self._model = model
        return self._decoder

    def normals(self, faces: np.ndarray, n_vertices: int) -> VertexNormals:
        """The ``VertexNormals`` of ``faces`` over ``n_vertices`` vertices (kept while they stay)."""
        if faces is not self._faces or self._normals is None or self._normals.n_vertices != n_vertices:
            self._normals = VertexNormals(faces, n_vertices)
            self._faces = faces
        return self._normals


def decode_frame(ctx: DecodeContext, model, t: float, code: np.ndarray, faces: np.ndarray | None,
                 classifier: LatentClassifier | None) -> MorphFrame:
    """Decode the code at ``t`` of a path; normals when ``faces`` are given and the sample is a
    mesh, class probabilities when a fitted ``classifier`` is."""
    t0 = time.perf_counter()
    sample = ctx.decoder(model).decode(code)
    t1 = time.perf_counter()
    normals = None
    if faces is not None and sample.ndim == 2 and sample.shape[1] == 3:
        normals = ctx.normals(faces, sample.shape[0]).normals(sample)
    t2 = time.perf_counter()
    proba = classes = None
    if classifier is not None:
        proba = classifier.predict_proba(np.asarray(code, np.float64)[None])[0]
        classes = classifier.classes_
    return MorphFrame(float(t), np.asarray(code), sample, normals, proba, classes, time.perf_counter() - t0,
                      t1 - t0, t2 - t1)


def decode_point(ctx: DecodeContext, model, code: np.ndarray, codes: np.ndarray | None,
                 k: int = 5) -> DecodedPoint:
    """Decode ``code`` and find the ``k`` rows of ``codes`` nearest to it (none without codes)."""
    t0 = time.perf_counter()
    sample = ctx.decoder(model).decode(code)
    if codes is not None and len(codes):
        nearest, dist = nearest_codes(codes, code, k)
    else:
        nearest, dist = np.empty(0, np.int64), np.empty(0)
    return DecodedPoint(np.asarray(code), sample, nearest, dist, time.perf_counter() - t0)


def image_frame(sample: np.ndarray, lo: float, hi: float, size: int = IMAGE_FRAME_SIZE,
                caption: str | None = None) -> np.ndarray:
    """A grayscale image sample as an RGB frame about ``size`` px wide (whole-pixel scaling),
    with ``caption`` on a white strip below it."""
    from PIL import Image, ImageDraw

    u8 = gray8(sample, lo, hi)
    h, w = u8.shape
    k = max(1, int(size // max(h, w)))
    img = Image.fromarray(np.repeat(np.repeat(u8, k, axis=0), k, axis=1)).convert("RGB")
    if caption:
        bar = 14
        canvas = Image.new("RGB", (img.width, img.height + bar), (255, 255, 255))
        canvas.paste(img, (0, 0))
        ImageDraw.Draw(canvas).text((3, img.height + 1), caption, fill=(40, 40, 40))
        img = canvas
    return np.asarray(img)
