"""mgdl-campaign: pending runs of a profile, one line per run, resume, failures reported and survived."""

from mgdlcore.experiments import campaign, regression
from mgdlcore.structures import get_structure


def test_campaign_runs_then_resumes(tmp_path, capsys):
    args = ["smoke", "--results", str(tmp_path), "--only", "regression cameraman bi* size=32"]
    assert campaign.main(args) == 0
    out = capsys.readouterr().out
    assert "2 pending run(s)" in out and "regression cameraman bilinear size=32 ok" in out
    assert len(list((tmp_path / "regression").glob("*.json"))) == 2
    assert campaign.main(args) == 0
    assert "0 pending run(s)" in capsys.readouterr().out
    assert campaign.main([*args, "--plan"]) == 0


def test_a_failing_run_is_reported_and_the_others_go_on(tmp_path, capsys, monkeypatch):
    real = regression.interpolate_training_grid

    def flaky(image, method):
        if method == "bilinear":
            raise RuntimeError("boom")
        return real(image, method)

    monkeypatch.setattr(regression, "interpolate_training_grid", flaky)
    assert campaign.main(["smoke", "--results", str(tmp_path), "--only", "regression cameraman bi* size=32"]) == 1
    captured = capsys.readouterr()
    assert "FAILED regression cameraman bilinear size=32: RuntimeError: boom" in captured.out
    assert "regression cameraman bicubic size=32 ok" in captured.out and "1 run(s) failed" in captured.err


def test_bad_arguments_fail_in_one_line(capsys):
    assert campaign.main(["smoke", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_campaign_on_a_dask_local_cluster(tmp_path, capsys):
    """``--workers 1 --runs-per-worker 2``: the pending runs go to two threads of a Dask worker process; records
    land, a second call resumes."""
    args = ["smoke", "--results", str(tmp_path), "--only", "regression cameraman bi* size=32", "--workers", "1",
            "--runs-per-worker", "2"]
    assert campaign.main(args) == 0
    out = capsys.readouterr().out
    assert "2 pending run(s)" in out and "regression cameraman bilinear size=32 ok" in out and "[2/2]" in out
    assert len(list((tmp_path / "regression").glob("*.json"))) == 2
    assert campaign.main(args) == 0 and "0 pending run(s)" in capsys.readouterr().out
    assert campaign.main(["smoke", "--workers", "0"]) == 2
    assert campaign.main(["smoke", "--runs-per-worker", "2"]) == 2
    assert "--runs-per-worker must be >= 1 and needs --workers" in capsys.readouterr().err


def test_cost_model_counts_flops_and_recovers_a_known_machine():
    from types import SimpleNamespace

    from mgdlcore.experiments import cost, gd_dynamics

    sgdl = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "smoke", device="cpu", epochs=100)
    # (26): [1] -> [32] x 4 -> [1]; 6 FLOPs per multiply-add and point (forward, two backward products); 5 layers
    assert cost.work(sgdl) == cost.Work(6.0 * 1024 * (32 + 3 * 32 * 32 + 32) * 100, 100, 500)
    mgdl = gd_dynamics.make_config("learning_rate", 1, "MGDL", 0.01, "smoke", device="cpu", epochs=10)
    assert cost.work(mgdl).epochs == 40 and cost.work(mgdl).layer_epochs == 80   # four grades of (30), 2 layers each
    msdl = gd_dynamics.make_config("msdl", 1, "MSDL", 0.01, "smoke", device="cpu", epochs=10)
    structure = get_structure(msdl.structure)                            # every scale's subnetwork runs its layers
    assert cost.work(msdl).layer_epochs == 10 * len(structure.scales) * (len(structure.hidden) + 1)
    # the approximation study: structures from its fields; SGDL (the grades unrolled) trains every grade's epochs
    from mgdlcore.experiments.approximation import ApproximationConfig
    approx = ApproximationConfig(method="MGDL", target="sine", n_train=256, width=8, n_grades=3, epochs=10)
    assert cost.work(approx) == cost.Work(sum(6.0 * 256 * w * 10 for w in (1 * 8 + 8 * 1, 8 * 8 + 8 * 1,
                                                                           8 * 8 + 8 * 1)), 30, 60)
    unrolled = ApproximationConfig(method="SGDL", target="sine", n_train=256, width=8, n_grades=3, epochs=10)
    assert cost.work(unrolled) == cost.Work(6.0 * 256 * (8 + 8 * 8 * 2 + 8) * 30, 30, 4 * 30)
    surface = ApproximationConfig(method="MGDL", target="surface", n_train=16, n_dense=33, width=8, n_grades=2,
                                  epochs=5)
    assert cost.work(surface).flops == 6.0 * 16 ** 2 * ((2 * 8 + 8) + (8 * 8 + 8)) * 5
    interp = regression.make_config("cameraman", "bicubic", "smoke")
    assert cost.work(interp) == cost.Work(0.0, 0)
    rate, overhead, setup = 2e10, 4e-4, 3.0                             # a made-up machine
    machine = cost.DeviceModel(rate, overhead, setup, "")
    runs = [sgdl, mgdl, *(gd_dynamics.make_config("learning_rate", 2, m, 0.1, "smoke", device="cpu", epochs=n)
                          for m, n in (("SGDL", 5000), ("MGDL", 20000), ("SGDL", 300000)))]
    recs = [SimpleNamespace(config=c.to_dict(), diverged=False, provenance={"seconds": machine.seconds(cost.work(c))})
            for c in runs]
    model = cost.fit(recs)
    gd = model["cpu gd"]                                                 # these runs are plain GD
    for got, want in ((gd.rate, rate), (gd.overhead, overhead), (gd.setup, setup)):
        assert abs(got / want - 1) < 1e-3
    assert model["cuda"].source == "benchmark defaults"                # no GPU records: the benchmark's figures
    # an adopted record keeps the seconds its older code took: it does not calibrate the model
    slow = [SimpleNamespace(config=r.config, diverged=False,
                            provenance={"seconds": 10 * r.provenance["seconds"], "adopted": {"commit": "x"}})
            for r in recs]
    refit = cost.fit(recs + slow)
    assert refit["cpu gd"] == model["cpu gd"] and cost.fit(slow)["cpu gd"].source == "benchmark defaults"
    # a machine far from the benchmark's figures: the fit stays within FIT_RANGE of them
    odd = [SimpleNamespace(config=r.config, diverged=False, provenance={"seconds": 1e-3 * r.provenance["seconds"]})
           for r in recs]
    assert cost.fit(odd)["cpu gd"].rate <= 100 * cost.BENCHMARK_DEFAULTS["cpu gd"][0]


def test_plain_gd_and_adam_runs_are_fitted_apart():
    """On a GPU plain GD replays CUDA graphs and Adam runs eager: each calibrates its own model, and an estimate
    uses the model of its config's optimiser."""
    from types import SimpleNamespace

    from mgdlcore.experiments import cost, gd_dynamics

    graphed, eager = cost.DeviceModel(5e12, 5e-4, 10.0, ""), cost.DeviceModel(1e13, 3e-3, 10.0, "")
    gd_runs = [gd_dynamics.make_config("learning_rate", 1, m, 0.01, "smoke", device="cpu", epochs=n)
               for m, n in (("SGDL", 1000), ("MGDL", 3000), ("SGDL", 100000), ("MGDL", 200000))]
    adam_runs = [regression.make_config(im, m, "smoke", device="cpu", epochs=n, size=sz)
                 for im, m, n, sz in (("cameraman", "SGDL", 500, 64), ("cameraman", "MGDL", 2000, 128),
                                      ("barbara", "SGDL", 20000, 256), ("butterfly", "MGDL", 5000, 512))]
    recs = [SimpleNamespace(config={**c.to_dict(), "device": "cuda"}, diverged=False,       # made on a GPU
                            provenance={"seconds": m.seconds(cost.work(c))})
            for runs, m in ((gd_runs, graphed), (adam_runs, eager)) for c in runs]
    models = cost.fit(recs)
    assert abs(models["cuda gd"].overhead / 5e-4 - 1) < 1e-3 and abs(models["cuda"].overhead / 3e-3 - 1) < 1e-3
    assert cost.model_key("cuda", gd_runs[0]) == "cuda gd" and cost.model_key("cuda", adam_runs[0]) == "cuda"
    assert cost.seconds(models, "cuda", gd_runs[2]) == models["cuda gd"].seconds(cost.work(gd_runs[2]))
    assert cost.model_key("cpu", gd_runs[0].to_dict()) == cost.model_key("cpu", gd_runs[0]) == "cpu gd"


def test_plan_gives_cpu_and_gpu_estimates_and_runs_go_cheapest_first(tmp_path, capsys):
    args = ["smoke", "--results", str(tmp_path), "--only", "regression cameraman * size=32 epochs=60",
            "--only", "regression cameraman bi* size=32"]
    assert campaign.main([*args, "--plan"]) == 0
    out = capsys.readouterr().out
    assert "cpu, ~" in out and "gpu" in out and "estimated total" in out and "# regression: 4 run(s)" in out
    assert "# cost model cpu checks: " in out and "eigenvalue checks counted" in out
    assert campaign.main(args) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    order = [ln.split()[3] for ln in lines]
    assert set(order[:2]) == {"bilinear", "bicubic"} and set(order[2:]) == {"SGDL", "MGDL"}


def test_batched_sweeps_on_two_dask_workers(tmp_path, capsys):
    """``--batch --workers 2``: each learning-rate sweep is one job on a LocalCluster of two worker processes; one
    record per config, each saying it was trained in a batch; a second call finds nothing pending."""
    import json

    args = ["smoke", "--results", str(tmp_path), "--only", "learning_rate setting1 [SM]GDL learning_rate=* epochs=60",
            "--only", "learning_rate setting1 [SM]GDL learning_rate=* epochs=60 phases=partitionable",
            "--batch", "--workers", "2", "--device", "cpu"]
    assert campaign.main(args) == 0
    out = capsys.readouterr().out
    # the profile's phases and the sensitivity study's partitionable ones (seed 0 both): 2 draws x 2 methods
    assert "12 pending run(s)" in out and "4 group(s) trained together" in out and "[4/4]" in out
    recs = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json")]
    assert len(recs) == 12 and {r["provenance"]["batch"] for r in recs} == {3}
    assert campaign.main(args) == 0 and "0 pending run(s)" in capsys.readouterr().out


def test_plan_for_a_gpu_on_a_machine_without_one(tmp_path, capsys, monkeypatch):
    """``--plan --device cuda`` without a GPU lists the configs a GPU would run (device cuda, their own keys); a run
    without --plan still stops in one line."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["smoke", "--results", str(tmp_path), "--only", "regression cameraman * size=32 epochs=60"]
    assert campaign.main([*args, "--plan", "--device", "cuda"]) == 0
    out = capsys.readouterr().out
    assert "2 pending run(s)" in out and "for a CUDA GPU (planned on a machine without one)" in out
    on_gpu = campaign.pending("smoke", tmp_path, args[-1:], planned_for="cuda")
    on_cpu = campaign.pending("smoke", tmp_path, args[-1:], device="cpu")
    assert {c.device for c, _ in on_gpu} == {"cuda"} and len(on_gpu) == len(on_cpu) == 2
    assert not {c.key for c, _ in on_gpu} & {c.key for c, _ in on_cpu}
    assert campaign.main([*args, "--device", "cuda"]) == 2
    assert "has no CUDA GPU" in capsys.readouterr().err


def test_a_label_names_phases_other_than_the_authors_legacy_draw():
    """The paper profile's phases (the authors' legacy draw) go unnamed; the partitionable draw and any other are
    named, so that the two sweeps of one setting read apart in a plan."""
    import dataclasses

    from mgdlcore.experiments import gd_dynamics
    from mgdlcore.paper.values import SEC5_AUTHOR_PHASES

    base = gd_dynamics.configs("paper", ("learning_rate",), settings=(1,), images=[], device="cpu")[0]
    label = {name: dataclasses.replace(base, phases=list(SEC5_AUTHOR_PHASES[name][1])).long_label()
             for name in ("legacy", "partitionable")}
    assert "phases=" not in label["legacy"] and label["partitionable"].endswith(" phases=partitionable")
    assert dataclasses.replace(base, phases=[0.1, 0.2, 0.3]).long_label().endswith(" phases=custom")
