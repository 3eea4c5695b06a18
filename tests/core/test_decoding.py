"""Decoding latent codes for display (``saeviz.core.display.decoding``): path frames, decoded
points with their nearest samples, and image frames of animations."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from saeviz.core.display.decoding import (
    DecodeContext,
    decode_frame,
    decode_point,
    image_frame,
)
from saeviz.core.display.mesh_ops import vertex_normals
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.config import ModelConfig
from saeviz.core.method.models import build_autoencoder
from saeviz.core.method.training import decode


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=2)


@pytest.fixture(scope="module")
def mesh_model(sphere):
    rng = np.random.default_rng(0)
    V = np.asarray(sphere.vertices, np.float32)
    X = V[None] * (1.0 + 0.1 * rng.normal(size=(40, 1, 1))).astype(np.float32)
    return build_autoencoder(ModelConfig(hidden=(16,), latent_dim=3), X, seed=0).eval()


def test_decode_frame_gives_the_decoded_mesh_its_normals_and_probabilities(mesh_model, sphere):
    ctx = DecodeContext()
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(30, 3))
    labels = (codes[:, 0] > 0).astype(int)
    clf = LatentClassifier().fit(codes, labels)
    z = np.array([0.5, -0.2, 0.1], np.float32)
    frame = decode_frame(ctx, mesh_model, 0.25, z, sphere.faces, clf)
    np.testing.assert_allclose(frame.sample, decode(mesh_model, z[None])[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(frame.normals, vertex_normals(frame.sample, sphere.faces), atol=1e-5)
    np.testing.assert_allclose(frame.proba, clf.predict_proba(z[None].astype(np.float64))[0])
    assert frame.t == 0.25 and list(frame.classes) == [0, 1] and frame.seconds >= 0
    assert 0 < frame.decode_seconds and 0 < frame.normals_seconds  # where the time went
    assert frame.decode_seconds + frame.normals_seconds <= frame.seconds
    # the same model and faces reuse the decoder and the normals; a new model does not
    decoder, normals = ctx.decoder(mesh_model), ctx.normals(sphere.faces, len(sphere.vertices))
    decode_frame(ctx, mesh_model, 0.5, z, sphere.faces, None)
    assert ctx.decoder(mesh_model) is decoder and ctx.normals(sphere.faces, len(sphere.vertices)) is normals
    other = build_autoencoder(ModelConfig(hidden=(16,), latent_dim=3),
                              np.asarray(sphere.vertices, np.float32)[None].repeat(4, 0), seed=1).eval()
    assert ctx.decoder(other) is not decoder
    plain = decode_frame(ctx, mesh_model, 1.0, z, None, None)
    assert plain.normals is None and plain.proba is None and plain.classes is None


def test_decode_point_lists_the_nearest_codes_first(mesh_model):
    codes = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.2, 0.1, 0.0]])
    z = np.array([0.1, 0.0, 0.0], np.float32)
    point = decode_point(DecodeContext(), mesh_model, z, codes, k=3)
    assert list(point.nearest) == [0, 3, 1]
    np.testing.assert_allclose(point.distances, [0.1, np.hypot(0.1, 0.1), 0.9], atol=1e-7)
    np.testing.assert_allclose(point.sample, decode(mesh_model, z[None])[0], rtol=1e-5, atol=1e-5)
    none = decode_point(DecodeContext(), mesh_model, z, None)
    assert none.nearest.size == 0 and none.distances.size == 0


def test_image_frame_scales_by_whole_pixels_and_adds_a_caption():
    a = np.array([[0.0, 0.5], [1.0, 2.0]])
    f = image_frame(a, 0.0, 1.0, size=8)
    assert f.shape == (8, 8, 3) and f.dtype == np.uint8
    assert (f[:4, :4] == 0).all() and (f[:4, 4:] == 127).all() and (f[4:, :] == 255).all()  # clipped above 1
    captioned = image_frame(a, 0.0, 1.0, size=40, caption="t = 0.50")
    assert captioned.shape == (40 + 14, 40, 3)
    strip = captioned[40:]
    assert (strip == 255).mean() > 0.5 and (strip < 200).any()  # white strip with dark text
    flat = image_frame(np.full((2, 2), 3.0), 3.0, 3.0, size=2)  # an empty range maps to black
    assert (flat == 0).all()
