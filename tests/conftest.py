import os

import pytest

# Keep the suite predictable on small CI machines.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def digits():
    from saeviz.core.data import load_dataset
    return load_dataset("digits")


@pytest.fixture(scope="session")
def anny_cache(request, tmp_path_factory):
    """Where the anny body model is built (about two minutes, once): ``$ANNY_CACHE_DIR`` when
    set, else pytest's cache folder; shared by every test of the session."""
    if os.environ.get("ANNY_CACHE_DIR"):
        yield os.environ["ANNY_CACHE_DIR"]
        return
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("saeviz-anny-model") if cache is not None else tmp_path_factory.mktemp("anny-model")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANNY_CACHE_DIR", str(folder))
        yield str(folder)
