"""Class transitions on the bodies dataset: does the sex change while the pose stays?

    python -m benchmarks.morph_quality [--quick] [--count N] [--labels F] [--gamma G]
                                       [--latent D] [--epochs E] [--seed S] [--json PATH]

Trains an SAE (architecture ``basis``, the paper's 2048/256 hidden layers) on reduced-
resolution bodies with a fraction of the training labels revealed, then morphs every test
body toward the other sex along the vector between the class centers (section 3.7 of the
paper): ``z + t (c_target - c_source)`` for t = 0, 0.1, ..., 1, and reports

* class: the linear SVM of the codes (fitted on the labeled training codes) applied to the
  *re-encoded* decoded morphs, ``encode(decode(z + t d))``: its probability of the target sex
  along t (mean per step) and the fraction of bodies for which it never decreases. (On the
  latent path itself the SVM's score is linear in t, so monotone by construction; re-encoding
  the decoded mesh tests what the decoder actually produced.)
* pose: joints estimated from each mesh as skinning-weighted vertex means (the anny model's
  weights restricted to the reduced vertices), compared between the decoded body at t = 0 and
  at t = 1: mean joint shift and mean bone-direction change, each also relative to the same
  numbers between random pairs of decoded test bodies (different people in different poses)
  and between random female-male pairs. Joint shifts include the change of body size that a
  sex change brings; bone directions much less so.
* twins: 200 new female bodies and their male twins (the same phenotype but the sex, in the
  same pose) from the body model: the pose measures between twins (what a sex change alone
  does to them), and between each female's morph (t = 1) and her true male twin.

The body model is read from ``$ANNY_CACHE_DIR`` (else the saeviz cache); datasets come from
``load_bodies``'s cache. ``--quick``: 400 bodies, 5 epochs (a smoke run).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from saeviz.core.data import bodies
from saeviz.core.data.dataset import reveal_labels
from saeviz.core.method.classify import LatentClassifier
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.morph import (
    class_centers,
    decode_codes,
    morph_path,
    pose_change,
)
from saeviz.core.method.training import Trainer, encode
from saeviz.core.state.labels import LabelStore

STEPS = np.round(np.linspace(0.0, 1.0, 11), 2)


def _load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def skinning(ops, index):
    """Skinning weights (V, J) of the dataset's vertices and the joint tree of the posed rig."""
    W = ops.weights.numpy().astype(np.float64)
    return (W if index is None else W[index]), list(ops.parents)


def same_pose_twins(ops, index, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` new female bodies and their male twins: the same phenotype except the sex (anny's
    gender mirrored), in the same random pose (anatomical angles; no contact check)."""
    from saeviz.core.data.poses import pose_rotations, sample_pose_angles

    rng = np.random.default_rng(seed)
    female = ops.sample_shapes(rng, np.zeros(n, np.int64))
    male = female.copy()
    g = ops.phenotype_labels.index("gender")
    male[:, g] = 1.0 - female[:, g]
    angles = torch.as_tensor(sample_pose_angles(rng, n, 1)[:, 0], dtype=torch.float32)
    out = []
    with torch.inference_mode():
        for shapes in (female, male):
            state = ops.rest(shapes)
            rot = pose_rotations(angles, ops.rig, state["heads"])
            V = ops.vertices(state, rot, ops.transforms(state, rot)).numpy()
            out.append(np.ascontiguousarray(V if index is None else V[:, index]))
    return out[0], out[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--labels", type=float, default=0.1, help="fraction of training labels revealed")
    parser.add_argument("--gamma", type=float, default=0.5)
    parser.add_argument("--latent", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    count = args.count or (400 if args.quick else 2000)
    epochs = args.epochs or (5 if args.quick else 20)
    torch.set_num_threads(args.threads)
    root = bodies._cache_root(args.cache_dir)

    t0 = time.perf_counter()
    ds = bodies.load_bodies(count=count, seed=args.seed, resolution="reduced", cache_dir=root)
    train, test = ds.train_idx, ds.test_idx
    X = ds.X[train]
    labels = reveal_labels(ds.y[train], np.arange(len(train)), args.labels, args.seed)
    print(f"{count} reduced bodies ({ds.X.shape[1]} vertices): {len(train)} training "
          f"({int((labels >= 0).sum())} labeled), {len(test)} test; "
          f"loaded in {time.perf_counter() - t0:.1f} s", flush=True)

    model_cfg = ModelConfig(architecture="basis", hidden=(2048, 256), latent_dim=args.latent, basis_size=256)
    train_cfg = TrainConfig(gamma=args.gamma, epochs=epochs, batch_size=64, lr=1e-3, device="cpu", seed=args.seed)
    store = LabelStore(len(train), ds.class_names, labels=labels)
    trainer = Trainer(X, model_cfg, train_cfg, supervision=store)
    t = time.perf_counter()
    c = time.process_time()
    trainer.fit()
    h = trainer.history[-1]
    print(f"trained {epochs} epochs in {time.perf_counter() - t:.0f} s wall, {time.process_time() - c:.0f} s CPU "
          f"({args.threads} threads; load average {_load_average()}); last epoch: reconstruction RMSE "
          f"{h['rmse']:.4f} m, structural loss {h['struct_loss']:.4f}", flush=True)
    model = trainer.model.eval()

    codes = trainer.latent_codes()
    centers = class_centers(codes, labels, 2)
    clf = LatentClassifier().fit(codes, labels)
    z_test = encode(model, ds.X[test])
    y_test = ds.y[test]
    test_error = clf.error(z_test, y_test)
    print(f"SVM test error on codes of test bodies: {100 * test_error:.1f}%", flush=True)

    ops = bodies._load_anny(root, None)
    index = None if ds.X.shape[1] == ops.n_vertices else bodies.reduced_vertex_index(cache_dir=root)[0]
    W, parents = skinning(ops, index)
    recon = decode_codes(model, z_test)
    rng = np.random.default_rng(args.seed)
    n = len(test)
    i, j = rng.integers(0, n, 4 * n), rng.integers(0, n, 4 * n)
    keep = i != j
    random_pairs = pose_change(recon[i[keep]], recon[j[keep]], W, parents)
    f_idx, m_idx = np.flatnonzero(y_test == 0), np.flatnonzero(y_test == 1)
    a, b = rng.choice(f_idx, 2 * n), rng.choice(m_idx, 2 * n)
    sex_pairs = pose_change(recon[a], recon[b], W, parents)
    recon_vs_data = pose_change(recon, ds.X[test], W, parents)

    # New female bodies with male twins in the same pose: what a pure sex change does to the
    # pose measures, and how close the morph of each female comes to her male twin.
    twin_f, twin_m = same_pose_twins(ops, index, 200, args.seed + 12345)
    twins = pose_change(twin_f, twin_m, W, parents)
    zf = encode(model, twin_f)
    twin_morph = decode_codes(model, np.stack([morph_path(z, centers[0], centers[1], 1.0) for z in zf]))
    twin_recon = decode_codes(model, zf)
    morph_vs_twin = pose_change(twin_morph, twin_m, W, parents)
    recon_vs_female = pose_change(twin_recon, twin_f, W, parents)

    results: dict = {"count": count, "vertices": int(ds.X.shape[1]), "labels": args.labels,
                     "gamma": args.gamma, "latent": args.latent, "epochs": epochs,
                     "test_error": test_error, "rmse": h["rmse"],
                     "random_pairs": vars(random_pairs), "female_male_pairs": vars(sex_pairs),
                     "reconstruction_vs_data": vars(recon_vs_data),
                     "same_pose_sex_twins": vars(twins), "twin_morph_vs_male_twin": vars(morph_vs_twin),
                     "twin_reconstruction_vs_female": vars(recon_vs_female), "directions": {}}
    names = ds.class_names
    for source, target in ((0, 1), (1, 0)):
        idx = np.flatnonzero(y_test == source)
        Z = np.stack([morph_path(z, centers[source], centers[target], STEPS) for z in z_test[idx]])  # (B, T, d)
        flat = Z.reshape(-1, Z.shape[-1])
        decoded = decode_codes(model, flat)
        col = int(np.flatnonzero(clf.classes_ == target)[0])
        p_reenc = clf.predict_proba(encode(model, decoded))[:, col].reshape(len(idx), len(STEPS))
        p_path = clf.predict_proba(flat)[:, col].reshape(len(idx), len(STEPS))
        monotone = np.all(np.diff(p_reenc, axis=1) >= -1e-9, axis=1)
        meshes = decoded.reshape(len(idx), len(STEPS), *decoded.shape[1:])
        morph = pose_change(meshes[:, 0], meshes[:, -1], W, parents)
        sex_after = clf.predict(encode(model, meshes[:, -1]))
        d = {
            "bodies": int(len(idx)),
            "p_target_reencoded_mean": p_reenc.mean(axis=0).tolist(),
            "p_target_latent_mean": p_path.mean(axis=0).tolist(),
            "monotone_fraction": float(monotone.mean()),
            "classified_as_target_at_t1": float(np.mean(sex_after == target)),
            "pose_change": vars(morph),
            "joint_shift_vs_random": morph.joint_shift / random_pairs.joint_shift,
            "bone_angle_vs_random": morph.bone_angle / random_pairs.bone_angle,
            "joint_shift_vs_female_male": morph.joint_shift / sex_pairs.joint_shift,
            "bone_angle_vs_female_male": morph.bone_angle / sex_pairs.bone_angle,
        }
        results["directions"][f"{names[source]}->{names[target]}"] = d
        print(f"\n{names[source]} -> {names[target]} ({len(idx)} test bodies), t = {STEPS[0]:g} .. {STEPS[-1]:g}:")
        print("  p(" + names[target] + ") of the re-encoded morph: "
              + " ".join(f"{p:.2f}" for p in d["p_target_reencoded_mean"]))
        print("  p(" + names[target] + ") on the latent path:     "
              + " ".join(f"{p:.2f}" for p in d["p_target_latent_mean"]))
        print(f"  never decreasing (re-encoded) for {100 * d['monotone_fraction']:.1f}% of the bodies; "
              f"classified {names[target]} at t = 1: {100 * d['classified_as_target_at_t1']:.1f}%")
        print(f"  pose change t=0 -> t=1: joints move {1000 * morph.joint_shift:.1f} mm "
              f"({100 * d['joint_shift_vs_random']:.1f}% of random pairs, "
              f"{100 * d['joint_shift_vs_female_male']:.1f}% of random female-male pairs); "
              f"bones turn {morph.bone_angle:.1f} deg ({100 * d['bone_angle_vs_random']:.1f}% / "
              f"{100 * d['bone_angle_vs_female_male']:.1f}%)")
    print(f"\nreference: random pairs of decoded test bodies: joints {1000 * random_pairs.joint_shift:.1f} mm, "
          f"bones {random_pairs.bone_angle:.1f} deg; random female-male pairs: "
          f"{1000 * sex_pairs.joint_shift:.1f} mm, {sex_pairs.bone_angle:.1f} deg; "
          f"reconstruction vs. data: {1000 * recon_vs_data.joint_shift:.1f} mm, {recon_vs_data.bone_angle:.1f} deg")
    print(f"same person, other sex, same pose (200 new twins): joints {1000 * twins.joint_shift:.1f} mm, "
          f"bones {twins.bone_angle:.1f} deg (what the sex change alone does to these measures)")
    print(f"their female morphed to male (t = 1) vs. the true male twin: joints "
          f"{1000 * morph_vs_twin.joint_shift:.1f} mm, bones {morph_vs_twin.bone_angle:.1f} deg; the female's "
          f"reconstruction vs. herself: {1000 * recon_vs_female.joint_shift:.1f} mm, {recon_vs_female.bone_angle:.1f} deg")
    print(f"load average at the end: {_load_average()}")
    if args.json:
        from saeviz.core.io.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
