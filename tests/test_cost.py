"""The cost model's eigenvalue checks: how many a tracked run computes, what they add to its estimate, and their
figures fitted to tracked records."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from mgdlcore.analysis import spectra
from mgdlcore.analysis.hessian import IterationEigenvalues
from mgdlcore.experiments import cost, eigenvalues, gd_dynamics, stability
from mgdlcore.experiments.runner import Context
from mgdlcore.structures import get_structure


def _counting_spectrum(monkeypatch) -> list:
    """Replace ``analysis.spectra.spectrum`` (every dense or Lanczos check goes through it) by a counter."""
    calls = []

    def fake(net, loss_of_net, lr, k=10, method="dense", **kwargs):
        calls.append(sum(p.numel() for p in net.parameters() if p.requires_grad))
        return IterationEigenvalues((0.5,) * k, (0.5,) * k, 0, 0, calls[-1])

    monkeypatch.setattr(spectra, "spectrum", fake)
    return calls


def test_checks_are_those_the_trainers_compute(monkeypatch):
    """A check at epoch 0, at every multiple of the interval and after the last epoch, per SGDL model and per MGDL
    grade; Adam has none at epoch 0; lr_bound adds the sharpness at initialisation. Counted by running the kinds
    with the eigenvalue solve replaced by a counter."""
    calls = _counting_spectrum(monkeypatch)
    ctx = Context(device=torch.device("cpu"), progress=False)
    for config in (eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=25, eval_every=10),
                   eigenvalues.make_config("synthetic", "SGDL", "smoke", device="cpu", epochs=20, eval_every=10),
                   gd_dynamics.make_config("msdl", 1, "MGDL", 0.01, "smoke", tracked=True, device="cpu", epochs=25,
                                           eval_every=5, track_every=10),
                   gd_dynamics.make_config("optimizer", 1, "SGDL", 0.001, "smoke", tracked=True, device="cpu",
                                           optimizer="adam", epochs=20, eval_every=5, track_every=10)):
        calls.clear()
        (eigenvalues if type(config).KIND == "eigenvalues" else gd_dynamics).compute(config, ctx)
        assert cost.checks(config).count == len(calls) > 0, config.long_label()
    assert len(calls) == 2                                             # Adam: epochs 10 and 20, not 0

    sharpness = []
    monkeypatch.setattr(stability, "sharpness", lambda net, f, t: sharpness.append(1) or 1.0)
    lr_bound = stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=20, track_every=10, n_bisect=1)
    stability.compute(lr_bound, ctx)
    assert cost.checks(lr_bound).count == len(sharpness) == 4         # at init, then epochs 0, 10 and 20


def test_checks_of_the_paper_tracks():
    """The paper-profile eigen tracks of eq. (5): 101 dense checks of SGDL (26) (3,265 parameters), 101 per grade of
    MGDL (30) (97, then 1,089 trainable parameters), 1,024 points; none for an untracked run."""
    sgdl = eigenvalues.make_config("synthetic", "SGDL", "paper", setting=1, device="cpu")
    mgdl = eigenvalues.make_config("synthetic", "MGDL", "paper", setting=1, device="cpu")
    assert sgdl.eig_method == mgdl.eig_method == "dense"
    assert cost.checks(sgdl) == cost.Checks(101, 101 * (1024 * 3265.0 ** 2 + 3265.0 ** 3))
    assert cost.checks(mgdl) == cost.Checks(404, 101 * (1024 * 97.0 ** 2 + 97.0 ** 3)
                                            + 3 * 101 * (1024 * 1089.0 ** 2 + 1089.0 ** 3))
    untracked = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "paper", device="cpu")
    assert cost.checks(untracked) == cost.Checks(0, 0.0)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_tracked_run_costs_its_checks_more(device):
    models = cost.fit([])
    tracked = eigenvalues.make_config("synthetic", "SGDL", "paper", setting=1, device="cpu")
    bare = gd_dynamics.make_config("learning_rate", 1, "SGDL", tracked.learning_rate, "paper", device="cpu",
                                   phases=tracked.phases, epochs=tracked.epochs)
    assert cost.work(bare) == cost.work(tracked)                     # the same training
    rate, setup = cost.CHECK_DEFAULTS[device]
    extra = 101 * setup + cost.checks(tracked).flops / rate
    more = cost.seconds(models, device, tracked) - cost.seconds(models, device, bare)
    assert extra > 0 and more == pytest.approx(extra)


def test_fit_recovers_known_check_figures():
    """Synthetic records of a made-up machine (training as ``DeviceModel``, checks as ``CheckModel``): the fit gives
    back both; too few tracked records, or only adopted, diverged or batched ones, leave the defaults."""
    machine = cost.DeviceModel(2e10, 4e-4, 3.0, "")
    eager = cost.EagerModel(*cost.EAGER_DEFAULTS["cpu gd eager"], "")     # MSDL trains eager on the CPU
    checker = cost.CheckModel(3e9, 2.0, "", *cost.LANCZOS_EAGER_DEFAULTS["cpu"])   # Lanczos products at defaults

    def trainer(config):
        return eager if cost.model_key("cpu", config) == "cpu gd eager" else machine

    def record(config, **provenance):
        seconds = trainer(config).seconds(cost.work(config)) + checker.seconds(cost.checks(config))
        return SimpleNamespace(config=config.to_dict(), diverged=False, provenance={"seconds": seconds, **provenance})

    untracked = [gd_dynamics.make_config("learning_rate", s, m, 0.01, "smoke", device="cpu", epochs=n)
                 for s, m, n in ((1, "SGDL", 100), (1, "MGDL", 20000), (2, "SGDL", 5000), (2, "MGDL", 300000))]
    tracked = [eigenvalues.make_config("synthetic", "SGDL", "smoke", device="cpu", epochs=2000, eval_every=100),
               eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=50000, eval_every=1000),
               eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=300, eval_every=10),
               gd_dynamics.make_config("msdl", 1, "MSDL", 0.01, "smoke", tracked=True, device="cpu", epochs=4000,
                                       eval_every=100, track_every=500),
               gd_dynamics.make_config("msdl_variants", 1, "MSDL", 0.004, "smoke", tracked=True, device="cpu",
                                       structure="msdl-deep", activation="srelu", eigen_method="lanczos",
                                       epochs=3000, eval_every=100, track_every=500)]
    assert cost.checks(tracked[-1]).ops > 0                                 # a Lanczos track among them
    plain = [record(c) for c in untracked]
    models = cost.fit(plain + [record(c) for c in tracked])
    got = models["cpu checks"]
    assert abs(got.rate / checker.rate - 1) < 1e-3 and abs(got.setup / checker.setup - 1) < 1e-3, got
    assert got.source == "fitted to 5 tracked cpu records" and models["cuda checks"].source == "defaults"
    assert models["cpu gd"].rate == pytest.approx(machine.rate, rel=1e-3)   # tracked records leave training alone
    for c in tracked:
        want = trainer(c).seconds(cost.work(c)) + checker.seconds(cost.checks(c))
        assert cost.seconds(models, "cpu", c) == pytest.approx(want, rel=1e-3)
    excluded = [record(tracked[0], adopted={"commit": "x"}), record(tracked[1], batch={"size": 2}),
                record(tracked[2], seconds_complete=False), SimpleNamespace(**{**vars(record(tracked[3])),
                                                                              "diverged": True})]
    assert cost.fit(plain + [record(c) for c in tracked[:3]] + excluded)["cpu checks"] == cost.CheckModel(
        *cost.CHECK_DEFAULTS["cpu"], "defaults", *cost.LANCZOS_EAGER_DEFAULTS["cpu"])


def test_lanczos_checks_are_priced_by_the_operations_of_their_products():
    """A Lanczos check is ``lanczos_products`` Hessian-vector products, each the operations and elements that one
    product of ``analysis.hessian.hvp_function`` runs (several steps' worth: forward-over-reverse); the CPU prices
    them by those, a GPU by those and their FLOPs; dense checks have none."""
    step = {a: cost.eager_step(("msdl", "msdl-deep", a), 1024) for a in ("relu", "srelu", "bspline2")}
    hvp = {a: cost.eager_hvp(("msdl", "msdl-deep", a), 1024) for a in ("relu", "srelu", "bspline2")}
    assert hvp["relu"][0] < hvp["srelu"][0] < hvp["bspline2"][0]
    assert all(hvp[a][0] > 3 * step[a][0] and hvp[a][1] > 2 * step[a][1] for a in hvp)
    assert cost.eager_hvp(("msdl", "msdl-deep", "srelu"), 2048)[1] > hvp["srelu"][1]   # elements grow with points

    deep, = (c for c in gd_dynamics.configs("paper", ("msdl_variants",), settings=[1], device="cpu")
             if c.track_every and (c.structure, c.activation) == ("msdl-deep", "srelu"))
    assert deep.eigen_method == "lanczos" and cost.lanczos_products(deep) == cost.LANCZOS_PRODUCTS_SYNTHETIC
    products = 101 * cost.LANCZOS_PRODUCTS_SYNTHETIC
    c = cost.checks(deep)
    assert (c.count, c.flops, c.ops, c.elements) == (101, 0.0, products * hvp["srelu"][0], products * hvp["srelu"][1])
    assert c.lanczos_flops == products * 12.0 * 1024 * cost._layer_sum((1, *get_structure("msdl-deep").hidden, 1)) \
        * len(get_structure("msdl-deep").scales)
    lr_bound = stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=20, track_every=10, n_bisect=1)
    assert cost.lanczos_products(lr_bound) == cost.LANCZOS_PRODUCTS and cost.checks(lr_bound).ops > 0

    models = cost.fit([])
    bare = replace(deep, track_every=None)
    assert cost.work(bare) == cost.work(deep)
    for device in ("cpu", "cuda"):
        m = models[f"{device} checks"]
        per_op, per_element, _ = cost.LANCZOS_EAGER_DEFAULTS[device]
        by_flops = device == "cuda"               # the CPU's elements term stands for the products' arithmetic
        want = (101 * m.setup + c.ops * per_op + c.elements * per_element
                + (c.lanczos_flops / m.rate if by_flops else 0.0))
        assert cost.seconds(models, device, deep) - cost.seconds(models, device, bare) == pytest.approx(want)
    assert models["cpu checks"].seconds(c) > 3600                   # hours of checks, not minutes


def test_lr_bound_work_counts_its_probes_and_earlier_grades(monkeypatch):
    """An ``lr_bound`` record trains at most ``stability_runs`` networks of its size (probes and the tracked run),
    and a grade's record trains the earlier grades once first; the count bounds what ``stability.compute`` trains."""
    sgdl = stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=20, track_every=10, n_bisect=2)
    grade3 = stability.make_config(1, "MGDL", "smoke", device="cpu", grade=3, epochs=20, track_every=10,
                                   n_bisect=2)
    runs = cost.stability_runs(sgdl)
    assert runs == 7 and cost.work(sgdl).epochs == runs * 20
    assert cost.work(grade3).epochs == runs * 20 + 2 * grade3.base_epochs
    s = get_structure(grade3.structure)                 # lr_bound's probes train eager: priced by their steps
    step = [cost.eager_step(("mlp", s.grade_widths(g), "relu"), 1024)[0] for g in (1, 2, 3)]
    assert cost.work(grade3).ops == runs * 20 * step[2] + grade3.base_epochs * (step[0] + step[1])
    trained = []
    real = stability.train
    monkeypatch.setattr(stability, "train", lambda *a, **k: trained.append(1) or real(*a, **k))
    stability.compute(sgdl, Context(device=torch.device("cpu"), progress=False))
    assert 0 < len(trained) <= runs


def test_eager_and_fused_runs_are_priced_as_the_trainers_run_them(monkeypatch):
    """``cost.fused_on_cpu`` (hence the model key "cpu gd" or "cpu gd eager") says what ``training.train`` is
    handed: fused steps for SGDL and MGDL with ReLU, none for MSDL, other activations and lr_bound's probes.
    Checked by running each kind with ``train`` wrapped to note whether it got a fused epoch."""
    from mgdlcore.training import grades

    fused = []

    def noting(real):
        def wrapped(*args, fast_epoch=None, **kwargs):
            fused.append(fast_epoch is not None)
            return real(*args, fast_epoch=fast_epoch, **kwargs)
        return wrapped

    monkeypatch.setattr(grades, "train", noting(grades.train))
    monkeypatch.setattr(stability, "train", noting(stability.train))
    ctx = Context(device=torch.device("cpu"), progress=False)
    short = dict(device="cpu", epochs=4, eval_every=2)
    configs = [gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "smoke", **short),
               gd_dynamics.make_config("learning_rate", 2, "MGDL", 0.01, "smoke", **short),
               gd_dynamics.make_config("msdl", 1, "MSDL", 0.01, "smoke", **short),
               gd_dynamics.make_config("msdl_variants", 1, "MSDL", 0.01, "smoke", structure="msdl-deep",
                                       activation="srelu", **short),
               gd_dynamics.make_config("activation", 1, "SGDL", 0.01, "smoke", activation="gelu", **short),
               eigenvalues.make_config("synthetic", "MGDL", "smoke", device="cpu", epochs=4, eval_every=2),
               stability.make_config(1, "SGDL", "smoke", device="cpu", epochs=4, track_every=2, n_bisect=1)]
    seen = set()
    for config in configs:
        fused.clear()
        (stability if type(config).KIND == "stability" else
         eigenvalues if type(config).KIND == "eigenvalues" else gd_dynamics).compute(config, ctx)
        assert fused and all(f == cost.fused_on_cpu(config) for f in fused), (config.long_label(), fused)
        key = cost.model_key("cpu", config)
        assert key == ("cpu gd" if fused[0] else "cpu gd eager") and cost.model_key("cuda", config) == "cuda gd"
        assert (cost.work(config).ops > 0) == (key == "cpu gd eager")
        seen.add(key)
    assert seen == {"cpu gd", "cpu gd eager"}


def test_eager_steps_count_what_a_step_runs():
    """Operations and elements of one eager step grow with depth and with the activation's pieces, and an eager
    run's work is its steps times its epochs (MSDL; each MGDL grade's own step)."""
    relu, srelu, bspline = (cost.eager_step(("msdl", "msdl-deep", a), 1024) for a in ("relu", "srelu", "bspline2"))
    assert relu[0] < srelu[0] < bspline[0] and relu[1] < srelu[1] < bspline[1]
    shallow = cost.eager_step(("msdl", "msdl", "relu"), 1024)
    assert shallow[0] < relu[0] and shallow[1] < relu[1]
    assert cost.eager_step(("msdl", "msdl", "relu"), 2048)[1] > shallow[1]          # elements grow with the points
    deep = gd_dynamics.make_config("msdl_variants", 1, "MSDL", 0.01, "smoke", device="cpu", structure="msdl-deep",
                                   activation="srelu", epochs=300)
    assert (cost.work(deep).ops, cost.work(deep).elements) == (300 * srelu[0], 300 * srelu[1])
    gelu = gd_dynamics.make_config("activation", 1, "MGDL", 0.01, "smoke", device="cpu", activation="gelu",
                                   epochs=10)
    s = get_structure(gelu.structure)
    per_grade = [cost.eager_step(("mlp", s.grade_widths(g), "gelu"), 1024)[0] for g in range(1, s.n_grades + 1)]
    assert cost.work(gelu).ops == 10 * sum(per_grade)


def test_fit_recovers_an_eager_machine():
    """Records of eager runs made by a known :class:`cost.EagerModel` give it back; fewer than ``MIN_RECORDS`` leave
    the defaults."""
    machine = cost.EagerModel(8e-6, 5e-10, 2.0, "")
    runs = [gd_dynamics.make_config("msdl_variants", 1, "MSDL", 0.01, "smoke", device="cpu", structure=st,
                                    activation=a, epochs=n)
            for st, a, n in (("msdl", "relu", 500), ("msdl", "bspline2", 3000), ("msdl-deep", "srelu", 20000),
                             ("msdl-deep", "relu", 100), ("msdl-deep", "bspline2", 7000))]
    recs = [SimpleNamespace(config=c.to_dict(), diverged=False, provenance={"seconds": machine.seconds(cost.work(c))})
            for c in runs]
    got = cost.fit(recs)["cpu gd eager"]
    for name in ("per_op", "per_element", "setup"):
        assert getattr(got, name) == pytest.approx(getattr(machine, name), rel=1e-3), (name, got)
    assert got.source == "fitted to 5 cpu gd eager records"
    assert cost.fit(recs[:3])["cpu gd eager"] == cost.EagerModel(*cost.EAGER_DEFAULTS["cpu gd eager"], "defaults")


def _real_shape(config) -> tuple[int, int]:
    """The shape the kind's own code trains ``config`` on, read from the image file."""
    kind = type(config).KIND
    if kind == "eigenvalues":
        return eigenvalues.config_image(config).shape
    if kind == "gd_dynamics":
        return gd_dynamics.load_config_image(config).shape
    from mgdlcore.data.images import load_identified
    return load_identified(config.image, config.image_sha256, config.image_path, size=config.size).shape


def _image_configs() -> list:
    from mgdlcore.experiments.profiles import all_configs

    return [c for p in ("paper", "cpu") for c in all_configs(p, device="cpu")
            if getattr(c, "image", None) in cost.NATIVE_SHAPES and hasattr(c, "image_path")]


def test_native_shapes_are_those_of_the_image_files(data_dir):
    from mgdlcore.data.images import REGISTRY, fetch, read_grayscale

    assert set(cost.NATIVE_SHAPES) == {n for n, r in REGISTRY.items() if r.sha256 is not None}
    for name, shape in cost.NATIVE_SHAPES.items():
        assert read_grayscale(fetch(name)).shape == shape, name


def test_estimated_shapes_are_those_the_runs_train_on(data_dir):
    seen = {}
    for config in _image_configs():
        d = config.to_dict()
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in d.items()))
        rule = (type(config).KIND, config.image, *(d.get(k) for k in ("size", "crop", "stride", "resample")))
        if rule not in seen:
            seen[rule] = cost._shape(type(config).KIND, frozen)
            assert seen[rule] == _real_shape(config), rule
    assert len({r[0] for r in seen}) >= 4   # regression, restoration, eigenvalues, gd_dynamics at least


def test_estimates_read_no_image(monkeypatch):
    from mgdlcore.data import images

    fetched = []
    monkeypatch.setattr(images, "fetch", lambda name: fetched.append(name) or images.Path("/nonexistent"))
    cost._shape.cache_clear()
    models = cost.fit([])
    configs = [c for c in _image_configs() if getattr(c, "epochs", 0)]
    from mgdlcore.experiments.regression import make_config
    walnut = make_config("walnut", "MGDL", "paper", device="cpu")             # a registry image of unknown size
    for config in [*configs[:: max(1, len(configs) // 40)], walnut]:
        assert cost.seconds(models, "cuda", config) > 0
    cost._shape.cache_clear()
    assert fetched == []


def test_a_batch_calibrates_the_model_once_as_its_members_run_alone():
    """A stacked sweep's records all carry the batch's wall time: the fit takes it once, as one member alone
    (``single_seconds``, the inverse of ``batch_seconds``), and gives the machine back; repeats and the members of
    one batch do not make up for too few different runs."""
    machine = cost.DeviceModel(3e12, 5e-5, 15.0, "")
    sweeps = [(1, "SGDL", 1000), (1, "MGDL", 30000), (2, "SGDL", 200000), (2, "MGDL", 5000)]
    recs = []
    for setting, method, epochs in sweeps:
        members = [gd_dynamics.make_config("learning_rate", setting, method, lr, "smoke", device="cpu",
                                           epochs=epochs) for lr in (0.001, 0.01, 0.1)]
        wall = cost.batch_seconds([machine.seconds(cost.work(c)) for c in members], "cuda")
        recs += [SimpleNamespace(config={**c.to_dict(), "device": "cuda"}, diverged=i == 2,    # one diverged
                                 provenance={"seconds": wall, "batch": len(members)}) for i, c in enumerate(members)]
    got = cost.fit(recs)["cuda gd"]
    for name in ("rate", "overhead", "setup"):
        assert getattr(got, name) == pytest.approx(getattr(machine, name), rel=1e-3), (name, got)
    assert got.source == "fitted to 4 cuda gd records"
    assert cost.single_seconds(cost.batch_seconds([7.0] * 5, "cpu"), 5, "cpu") == pytest.approx(7.0)
    three = [r for r in recs if r.config["epochs"] != 5000]
    assert cost.fit(three + three)["cuda gd"].source == "benchmark defaults"
    alone = [gd_dynamics.make_config("learning_rate", 1, m, 0.01, "smoke", device="cpu", epochs=n, seed=seed)
             for m, n in (("SGDL", 1000), ("MGDL", 3000)) for seed in (0, 1)]    # two runs, each at two seeds
    repeats = [SimpleNamespace(config={**c.to_dict(), "device": "cuda"}, diverged=False,
                               provenance={"seconds": machine.seconds(cost.work(c))}) for c in alone]
    assert cost.fit(repeats)["cuda gd"].source == "benchmark defaults"


def _msdl_batches(machine, device: str, epochs) -> list:
    """Records of stacked MSDL sweeps (two learning rates each) on ``device`` that took what ``machine`` gives for
    their members' work in the batch (``stacked_work``)."""
    recs = []
    for n in epochs:
        members = [gd_dynamics.make_config("msdl", 1, "MSDL", lr, "smoke", device="cpu", epochs=n)
                   for lr in (0.001, 0.01)]
        wall = cost.batch_seconds([machine.seconds(cost.stacked_work(c)) for c in members], "cuda")
        recs += [SimpleNamespace(config={**c.to_dict(), "device": device}, diverged=False,
                                 provenance={"seconds": wall, "batch": len(members)}) for c in members]
    return recs


def test_an_msdl_batch_calibrates_a_gpu_by_the_work_of_its_stacked_scales():
    """MSDL's stacked model runs its scales as one batched layer too: on a GPU a member's step launches the kernels
    of one subnetwork (``stacked_work``: the layer-epochs over the scales, the FLOPs kept), so its batches calibrate
    the GPU's model by that work and the plan prices its sweeps by it (``member_seconds``); on the CPU, where MSDL's
    eager steps are priced by their operations, its batches calibrate nothing."""
    machine = cost.DeviceModel(3e12, 5e-5, 15.0, "")
    config = gd_dynamics.make_config("msdl", 1, "MSDL", 0.01, "paper", device="cpu")
    alone, stacked = cost.work(config), cost.stacked_work(config)
    assert stacked.flops == alone.flops and stacked.epochs == alone.epochs
    assert stacked.layer_epochs == pytest.approx(alone.layer_epochs / 4)          # four scales
    sgdl = gd_dynamics.make_config("learning_rate", 1, "SGDL", 0.01, "paper", device="cpu")
    assert cost.stacked_work(sgdl) == cost.work(sgdl)
    sweeps = [(1, "SGDL", 1000), (1, "MGDL", 30000), (2, "SGDL", 200000)]
    recs = []
    for setting, method, epochs in sweeps:
        members = [gd_dynamics.make_config("learning_rate", setting, method, lr, "smoke", device="cpu",
                                           epochs=epochs) for lr in (0.001, 0.01)]
        wall = cost.batch_seconds([machine.seconds(cost.work(c)) for c in members], "cuda")
        recs += [SimpleNamespace(config={**c.to_dict(), "device": "cuda"}, diverged=False,
                                 provenance={"seconds": wall, "batch": 2}) for c in members]
    assert cost.fit(recs)["cuda gd"].source == "benchmark defaults"             # three runs: too few
    got = cost.fit(recs + _msdl_batches(machine, "cuda", (100_000, 400_000)))["cuda gd"]
    assert got.source == "fitted to 5 cuda gd records"
    for name in ("rate", "overhead", "setup"):
        assert getattr(got, name) == pytest.approx(getattr(machine, name), rel=1e-3), (name, got)
    models = {**cost.fit([]), "cuda gd": machine}
    assert cost.member_seconds(models, "cuda", config) == pytest.approx(machine.seconds(stacked))
    assert cost.seconds(models, "cuda", config) == pytest.approx(machine.seconds(alone))
    assert cost.member_seconds(models, "cpu", config) == cost.seconds(models, "cpu", config)
    cpu = cost.fit(_msdl_batches(machine, "cpu", (1000, 2000, 3000, 4000, 5000)))
    assert cpu["cpu gd eager"].source == "defaults"
