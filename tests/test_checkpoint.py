"""Checkpoints inside a run: a run killed after a checkpoint and started again gives the uninterrupted numbers."""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from mgdlcore.models import MLP
from mgdlcore.training import checkpoint
from mgdlcore.training.loop import TrainConfig, half_mse, train


class Stop(Exception):
    pass


def problem():
    x = torch.linspace(0, 1, 64).unsqueeze(1)
    y = torch.sin(2 * math.pi * x)
    net = MLP((1, 16, 16, 1), generator=torch.Generator().manual_seed(0))
    return net, x, y


def fit(cfg, folder=None, stop_at=None):
    net, x, y = problem()
    u = {"u": torch.zeros(())}

    def loss_fn():                          # extra loop state, as the ROF variable u
        u["u"] = u["u"] + 1.0
        return half_mse(y, net(x))

    def cb(epoch):
        if stop_at is not None and epoch == stop_at:
            raise Stop
        with torch.no_grad():
            return {"val": float(half_mse(y[::3], net(x[::3])))}

    def go():
        return train(loss_fn, list(net.parameters()), cfg, callbacks=[cb], state=u)

    if folder is None:
        return go(), net, u
    with checkpoint.checkpointing(folder, every_seconds=0.0):
        return go(), net, u


@pytest.mark.parametrize("optimizer", ["adam", "gd"])
def test_resumed_run_equals_uninterrupted(tmp_path, optimizer):
    cfg = TrainConfig(epochs=120, learning_rate=1e-2 if optimizer == "adam" else 0.1, optimizer=optimizer,
                      eval_every=20, loss_every=3, progress=False)
    ref, ref_net, ref_u = fit(cfg)
    with pytest.raises(Stop):
        fit(cfg, tmp_path, stop_at=60)          # killed at epoch 60: the checkpoint of epoch 40 survives
    saved = torch.load(tmp_path / "train-000.pt", weights_only=True)
    assert saved["done"] == 40
    hist, net, u = fit(cfg, tmp_path)           # a new process would start the same way
    assert hist.loss == ref.loss and hist.loss_epochs == ref.loss_epochs
    assert hist.eval_epochs == ref.eval_epochs and hist.metrics == ref.metrics
    assert float(u["u"]) == float(ref_u["u"]) == 120.0
    for p, q in zip(net.parameters(), ref_net.parameters()):
        assert torch.equal(p, q)
    assert torch.load(tmp_path / "train-000.pt", weights_only=True)["done"] == 120


def test_finished_slot_is_restored_without_training(tmp_path):
    cfg = TrainConfig(epochs=40, learning_rate=1e-2, eval_every=20, progress=False)
    first, net1, _ = fit(cfg, tmp_path)
    calls = []
    net, x, y = problem()

    def loss_fn():
        calls.append(1)
        return half_mse(y, net(x))

    with checkpoint.checkpointing(tmp_path, every_seconds=0.0):
        again = train(loss_fn, list(net.parameters()), cfg,
                      callbacks=[lambda e: {"val": float(half_mse(y[::3], net(x[::3])).detach())}])
    assert calls == [] and again.loss == first.loss
    for p, q in zip(net.parameters(), net1.parameters()):
        assert torch.equal(p, q)


def test_unreadable_checkpoint_is_set_aside(tmp_path, capsys):
    cfg = TrainConfig(epochs=20, learning_rate=1e-2, eval_every=10, progress=False)
    (tmp_path / "train-000.pt").write_bytes(b"not a checkpoint")
    hist, _, _ = fit(cfg, tmp_path)
    assert hist.epochs_run == 20 and (tmp_path / "train-000.pt.unreadable").exists()
    assert "could not be read" in capsys.readouterr().out


def test_stateful_callback_without_state_dict_turns_checkpoints_off(tmp_path):
    class Counter:
        def __init__(self):
            self.n = 0

        def __call__(self, epoch):
            self.n += 1

    net, x, y = problem()
    cfg = TrainConfig(epochs=20, learning_rate=1e-2, eval_every=10, progress=False)
    with checkpoint.checkpointing(tmp_path, every_seconds=0.0):
        train(lambda: half_mse(y, net(x)), list(net.parameters()), cfg, callbacks=[Counter()])
    assert not list(tmp_path.iterdir())


def test_bad_checkpoint_seconds_is_refused(monkeypatch):
    monkeypatch.setenv(checkpoint.ENV_SECONDS, "often")
    with pytest.raises(ValueError, match="MGDL_CHECKPOINT_SECONDS must be a number"):
        checkpoint.checkpoint_seconds()


KILLED_RUN = textwrap.dedent("""
    import sys
    from mgdlcore.experiments.regression import make_config
    from mgdlcore.experiments.runner import run
    config = make_config("cameraman", "MGDL", "smoke", device="cpu", epochs=int(sys.argv[2]), eval_every=50)
    run(config, results_dir=sys.argv[1], profile="smoke", progress=False)
""")


@pytest.mark.skipif(not os.environ.get("MGDL_DATA_DIR"), reason="needs the test images ($MGDL_DATA_DIR)")
def test_killed_campaign_run_resumes_with_the_same_record(tmp_path):
    """A process killed (SIGKILL) mid-run; the next run of the same config resumes from the checkpoint of the
    second grade and writes the record an uninterrupted run writes; the checkpoint folder is removed."""
    from mgdlcore.experiments.regression import make_config
    from mgdlcore.experiments.runner import CHECKPOINTS, run

    epochs = 1500
    env = {**os.environ, checkpoint.ENV_SECONDS: "0", "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(killed), str(epochs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(killed.glob(f"{CHECKPOINTS}/*/train-001.pt")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    grade2 = list(killed.glob(f"{CHECKPOINTS}/*/train-001.pt"))
    assert grade2, "no checkpoint of grade 2 appeared"
    assert torch.load(grade2[0], weights_only=True)["done"] < epochs      # killed inside grade 2
    config = make_config("cameraman", "MGDL", "smoke", device="cpu", epochs=epochs, eval_every=50)
    torch.set_num_threads(1)
    resumed = run(config, results_dir=killed, profile="smoke", progress=False)
    fresh = run(config, results_dir=tmp_path / "fresh", profile="smoke", progress=False)
    assert resumed.metrics == {**fresh.metrics}
    assert [g["loss"] for g in resumed.series["grades"]] == [g["loss"] for g in fresh.series["grades"]]
    assert not list((killed / CHECKPOINTS).iterdir())
    # the record's seconds count the killed segment up to its last checkpoint, not the last segment alone
    assert resumed.provenance["segments"] == 2 and "seconds_complete" not in resumed.provenance
    assert "segments" not in fresh.provenance


def test_segments_count_earlier_time_up_to_the_last_checkpoint(tmp_path):
    from mgdlcore.experiments import segments

    folder = tmp_path / "run"
    first = segments.begin(folder, now=1000.0)
    assert first == segments.Segments(0.0, 1, True) and segments.provenance_fields(first) == {}
    save = folder / "train-000.pt"
    save.write_bytes(b"x")
    os.utime(save, (1100.0, 1100.0))                 # last checkpoint 100 s after the start; killed later
    (folder / "train-000.pt.unreadable").write_bytes(b"x")
    os.utime(folder / "train-000.pt.unreadable", (5000.0, 5000.0))   # not a checkpoint: not counted
    second = segments.begin(folder, now=2000.0)
    assert second == segments.Segments(100.0, 2, True)
    os.utime(save, (2030.0, 2030.0))
    assert segments.begin(folder, now=3000.0) == segments.Segments(130.0, 3, True)
    # checkpoints from a start that left no segments file: the earlier time is unknown, and the record says so
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "train-000.pt").write_bytes(b"x")
    seg = segments.begin(orphan, now=10.0)
    assert not seg.complete and segments.provenance_fields(seg) == {"seconds_complete": False}
    # a run that stops with an error keeps a folder with checkpoints, and leaves nothing where it had none
    segments.abandon(orphan)
    assert (orphan / "train-000.pt").is_file()
    fresh = tmp_path / "ck" / "never-saved"
    segments.begin(fresh, now=1.0)
    segments.abandon(fresh)
    assert not (tmp_path / "ck").exists()


def test_record_seconds_include_earlier_segments(tmp_path, monkeypatch):
    from mgdlcore.experiments import gd_dynamics, runner, segments

    monkeypatch.setattr(segments, "begin", lambda folder: segments.Segments(1000.0, 3, False))
    config = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "smoke", device="cpu", epochs=5)
    rec = runner.run(config, results_dir=tmp_path, profile="smoke", progress=False)
    assert 1000.0 <= rec.provenance["seconds"] < 1100.0
    assert rec.provenance["segments"] == 3 and rec.provenance["seconds_complete"] is False
