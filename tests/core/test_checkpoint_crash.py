"""A checkpoint save killed (SIGKILL) at any moment leaves the last complete save loadable,
with exactly the weights that were saved."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from saeviz.core.io.checkpoint import load_checkpoint

WRITER = r"""
import sys, numpy as np
from saeviz.core.io.checkpoint import save_checkpoint
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.models import build_autoencoder
path = sys.argv[1]
X = np.random.default_rng(0).random((64, 300)).astype(np.float32)
for generation in range(1, 10**6):
    model = build_autoencoder(ModelConfig(hidden=(512, 256), latent_dim=8), X, seed=generation)
    save_checkpoint(path, model, train_config=TrainConfig(), metrics={"generation": generation})
    print(generation, flush=True)
"""


def expected_state(generation: int):
    from saeviz.core.method.config import ModelConfig
    from saeviz.core.method.models import build_autoencoder
    X = np.random.default_rng(0).random((64, 300)).astype(np.float32)
    return build_autoencoder(ModelConfig(hidden=(512, 256), latent_dim=8), X, seed=generation).state_dict()


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.13, 0.31, 0.57])
def test_killed_save_leaves_the_last_complete_one(tmp_path, delay):
    path = tmp_path / "model.safetensors"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # one complete save exists
    assert first.strip() == "1"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    ckpt = load_checkpoint(path)
    generation = ckpt.metrics["generation"]
    assert generation >= 1
    for key, value in expected_state(generation).items():
        assert torch.equal(ckpt.model.state_dict()[key], value), key
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != path.name]
    assert all(name.startswith(".model.safetensors.") for name in leftovers)  # at most a temp file
