"""The training state machine and the session's training lifecycle (Qt-free)."""
import numpy as np
import pytest

from saeviz.core.data.dataset import Dataset
from saeviz.core.errors import DataError
from saeviz.core.method.config import ModelConfig, TrainConfig
from saeviz.core.method.training import Trainer
from saeviz.core.state.session import Session, SessionDefaults
from saeviz.core.state.training_state import (
    IDLE,
    PAUSED,
    STOPPING,
    TRAINING,
    TrainingState,
    TransitionError,
)


def recorder(state: TrainingState) -> list:
    events = []
    state.changed.connect(lambda new, old: events.append(("changed", old, new)))
    state.started.connect(lambda: events.append(("started",)))
    state.finished.connect(lambda: events.append(("finished",)))
    return events


def test_a_run_goes_through_its_states_and_says_so():
    st = TrainingState()
    events = recorder(st)
    assert st.state == IDLE and not st.active
    st.start()
    st.pause()
    st.resume()
    st.stop()
    st.finish()
    assert st.state == IDLE
    assert events == [("changed", IDLE, TRAINING), ("started",),
                      ("changed", TRAINING, PAUSED), ("changed", PAUSED, TRAINING),
                      ("changed", TRAINING, STOPPING), ("changed", STOPPING, IDLE), ("finished",)]
    # a run that ends by itself, and one stopped while paused
    st.start()
    st.finish()
    st.start()
    st.pause()
    st.stop()
    assert st.active and st.state == STOPPING
    st.finish()
    assert events[-1] == ("finished",) and events.count(("started",)) == 3


@pytest.mark.parametrize("path, refused", [
    ((), PAUSED), ((), STOPPING), ((), IDLE),                 # nothing runs
    ((TRAINING,), TRAINING),                                  # a second run
    ((TRAINING, STOPPING), TRAINING), ((TRAINING, STOPPING), PAUSED),  # a stop is final
    ((TRAINING, PAUSED), PAUSED),
])
def test_refused_transitions_change_nothing_and_emit_nothing(path, refused):
    st = TrainingState()
    for state in path:
        st.to(state)
    before = st.state
    events = recorder(st)
    assert not st.can(refused)
    with pytest.raises(TransitionError, match=f"from {before} to {refused}"):
        st.to(refused)
    assert st.state == before and events == []


def test_unknown_states_are_refused():
    st = TrainingState()
    with pytest.raises(TransitionError, match="unknown training state"):
        st.to("running")
    assert st.state == IDLE


def session_with_data() -> Session:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 120)
    X = (rng.normal(size=(120, 10)) + y[:, None]).astype(np.float32)
    s = Session(SessionDefaults(model=ModelConfig(hidden=(16,), latent_dim=3),
                                train=TrainConfig(epochs=1, batch_size=40), label_fraction=0.3))
    s.set_dataset(Dataset("blobs", X, "vector", y=y, class_names=("a", "b", "c")))
    return s


def test_the_session_hands_the_trainer_out_and_takes_it_back():
    s = Session()
    with pytest.raises(DataError, match="open a dataset"):
        s.begin_training()
    s = session_with_data()
    events = recorder(s.training_state)
    start = s.begin_training()
    assert s.training and s.training_state.state == TRAINING
    assert start.trainer is None and start.model is None and start.model_config == s.model_config
    with pytest.raises(TransitionError):
        s.begin_training()  # one run at a time
    with pytest.raises(AttributeError):
        s.training = False  # derived from the state machine only
    trainer = Trainer(s.X, start.model_config, s.run_config(), s.labels).fit(1)
    s.set_training_state(STOPPING)
    assert s.finish_training(trainer) is False  # no mid-epoch weights to prefer
    assert not s.training and s.trainer is trainer and s.model is not None and s.epoch == 1
    assert [e[0] for e in events] == ["changed", "started", "changed", "changed", "finished"]
    # the next run continues the trainer: the session gives it to the run and keeps none
    again = s.begin_training()
    assert again.trainer is trainer and s.trainer is None and again.history == ()
    s.finish_training(None)  # the run could not be built: nothing to take back
    assert not s.training and s.trainer is None


def test_a_training_session_refuses_what_needs_an_idle_one():
    s = session_with_data()
    s.begin_training()
    with pytest.raises(RuntimeError):
        s.reset_model()
    with pytest.raises(ValueError):
        s.set_training_state(IDLE)  # ending takes the trainer back: finish_training


def test_each_setting_has_its_own_event():
    s = session_with_data()
    seen = []
    s.model_config_changed.connect(lambda: seen.append("model"))
    s.train_config_changed.connect(lambda: seen.append("train"))
    s.label_fraction_changed.connect(lambda: seen.append("fraction"))
    s.set_train_config(s.train_config.replace(gamma=0.25 if s.train_config.gamma != 0.25 else 0.75))
    s.set_model_config(s.model_config.replace(latent_dim=4))
    s.set_label_fraction(0.2)
    s.set_label_fraction(0.2)  # no change, no event
    s.reveal(0.4)
    assert seen == ["train", "model", "fraction", "fraction"]
    with pytest.raises(DataError):
        s.set_label_fraction(1.5)
