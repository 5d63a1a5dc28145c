"""What would decide the undecided claims: the runs each reads, their stacked time, the greedy order, --claim."""

import pytest

from mgdlcore.experiments import campaign
from mgdlcore.experiments.cost import batch_seconds
from mgdlcore.experiments.profiles import all_configs
from mgdlcore.paper import claims as C
from mgdlcore.paper.claims import deciding as D


@pytest.fixture(scope="module")
def paper():
    return all_configs("paper", device="cpu")


def test_a_claim_reads_the_runs_its_queries_match_and_a_conjunction_those_of_its_parts(paper):
    barbara = D.runs_read(C.claim("S6.denoising.barbara10.SGDL.near"), paper, "paper")
    assert sorted((c.method, c.image, c.noise_level) for c in barbara) == [("MGDL", "barbara", 10), ("SGDL", "barbara", 10)]
    # T1.all's own query reads every regression run, the classical references too; its parts read SGDL and MGDL only
    t1 = D.runs_read(C.claim("T1.all"), paper, "paper")
    assert t1 and {c.method for c in t1} == {"SGDL", "MGDL"}
    assert t1 == D.runs_of([C.claim(p) for p in C.claim("T1.all").parts], paper, "paper")


def test_stacked_time_counts_a_sweep_once_and_other_runs_alone(paper):
    sweep = [c for c in paper if c.task == "learning_rate" and c.subject() == "setting1" and c.method == "SGDL"
             and c.seed == 0 and c.phase_seed is None and c.phases is not None][:5]
    single = [c for c in paper if c.task == "eigenvalues"][:2]
    assert len(sweep) == 5 and len({c.learning_rate for c in sweep}) == 5
    seconds = {c.key: 10.0 * (i + 1) for i, c in enumerate(sweep + single)}
    costs = D.Costs(sweep + single, seconds, "cuda")
    assert costs(c.key for c in sweep) == pytest.approx(batch_seconds([10, 20, 30, 40, 50], "cuda"))
    assert costs(c.key for c in single) == pytest.approx(60 + 70)
    assert costs([sweep[0].key, sweep[0].key]) == pytest.approx(10)            # a run counts once
    members = {k: v / 2 for k, v in seconds.items()}                           # e.g. MSDL's stacked scales on a GPU
    costs = D.Costs(sweep + single, seconds, "cuda", members)
    assert costs(c.key for c in sweep) == pytest.approx(batch_seconds([5, 10, 15, 20, 25], "cuda"))
    assert costs([sweep[0].key]) == pytest.approx(10)                          # trained alone: as alone
    assert costs(c.key for c in single) == pytest.approx(60 + 70)


def _eigen_order(paper, names: list[str], denoising: float, image: float):
    """``(steps, without, todo)`` of the greedy order of the claims ``names`` (no record: every one undecided) over
    the paper profile's eigenvalue runs, each denoising run taking ``denoising`` seconds and each image run
    ``image``."""
    claims = [C.claim(n) for n in names]
    verdicts = {c.id: c.evaluate(records=[]) for c in claims}
    todo = [c for c in paper if c.task == "eigenvalues"]
    seconds = {c.key: (denoising if c.case == "denoising" else image) for c in todo}
    return (*D.decision_order(claims, verdicts, todo, "paper", D.Costs(todo, seconds, "cpu")), todo)


def test_the_greedy_order_takes_the_cheapest_addition_and_counts_shared_runs_once(paper):
    names = ["S6.barbara.SGDL.near", "S6.barbara.oscillation", "S6.denoising.butterfly30.SGDL.near", "T1.walnut.gain"]
    steps, without, todo = _eigen_order(paper, names, 100.0, 1000.0)
    assert [s.claim for s in steps] == ["S6.denoising.butterfly30.SGDL.near", "S6.barbara.SGDL.near",
                                        "S6.barbara.oscillation"]
    # the image pair at the profile's three seeds; the oscillation claim reads the same runs
    assert [s.added for s in steps] == [200.0, 6000.0, 0.0]
    assert [s.new_runs for s in steps] == [2, 6, 0] and steps[-1].cumulative == 6200.0
    assert [claim for claim, _ in without] == ["T1.walnut.gain"]               # no listed run: Walnut is not fetched
    order = D.run_order(steps, todo)
    assert {(c.subject(), c.method) for c in order[:2]} == {("butterfly-denoising30", "SGDL"),
                                                            ("butterfly-denoising30", "MGDL")}
    assert {c.subject() for c in order[2:8]} == {"barbara"} and {c.case for c in order[2:8]} == {"image"}
    assert {c.seed for c in order[2:8]} == {0, 1, 2}
    assert sorted(c.key for c in order) == sorted(c.key for c in todo)
    assert [c.key for c in order[8:]] == [c.key for c in todo if c.key not in {x.key for x in order[:8]}]
    text = D.decision_markdown(steps, without, "cpu")
    assert "| 3 | `S6.barbara.oscillation` | 6 (0) | 1.7 h | 0 s | 1.7 h |" in text
    assert "- `T1.walnut.gain`: no paper-profile record" in text


def test_the_campaign_runs_only_what_the_named_claims_read(tmp_path, capsys, monkeypatch):
    args = ["paper", "--results", str(tmp_path), "--device", "cpu", "--plan"]
    assert campaign.main([*args, "--claim", "S6.denoising.barbara*"]) == 0
    out = capsys.readouterr().out
    assert "4 of them read by 4 undecided claim(s) matching S6.denoising.barbara*" in out
    planned = [line for line in out.splitlines() if line.startswith("  eigenvalues")]
    assert len(planned) == 4 and all("barbara-denoising" in line for line in planned)
    assert campaign.main([*args, "--claim", "S6.denoising.barbara10.*", "--by-claim"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | `S6.denoising.barbara10." in out and "| 2 | `S6.denoising.barbara10." in out
    assert "| 3 |" not in out
    # --order claims: first the pair that decides claims for the least time (here Barbara at noise 30, which the
    # profile lists last), each pair's two runs one after the other
    def estimates(todo, results):
        return {}, [(1.0, 1.0, 1.0) if c.subject() == "barbara-denoising30" else (100.0, 100.0, 100.0)
                    for c, _ in todo]

    monkeypatch.setattr(campaign, "estimates", estimates)
    monkeypatch.setattr(campaign, "print_plan", lambda todo, results, batch=False: print(
        "\n".join(f"  {c.long_label()}" for c, _ in todo)))
    assert campaign.main([*args, "--order", "claims", "--claim", "S6.denoising.*"]) == 0
    planned = [line.split()[1] for line in capsys.readouterr().out.splitlines() if line.startswith("  eigenvalues")]
    assert planned[:2] == ["barbara-denoising30"] * 2 and len(planned) == 8
    assert all(planned[i] == planned[i + 1] for i in range(0, 8, 2))


def test_the_claims_page_plan_is_the_commands(tmp_path, capsys, monkeypatch):
    # an empty results folder: every claim undecided; prices by the run's subject so that the order is not trivial
    def estimates(todo, results):
        return {}, [(float(len(c.subject())), 2.0 * len(c.subject()), 2.0 * len(c.subject())) for c, _ in todo]

    monkeypatch.setattr(campaign, "estimates", estimates)
    assert campaign.main(["paper", "--results", str(tmp_path), "--device", "cpu", "--plan", "--by-claim"]) == 0
    printed = capsys.readouterr().out
    steps, without = campaign.decision_plan("paper", tmp_path, device="cpu")
    text = D.decision_markdown(steps, without, "cpu")
    assert len(steps) > 20 and text in printed
    gpu = D.decision_markdown(*campaign.decision_plan("paper", tmp_path, device="cuda"), "cuda")
    assert gpu != text and "on one GPU" in gpu


def test_the_greedy_order_counts_the_claims_a_run_decides_per_second(paper):
    """Two claims on the Barbara pair at 300 s come before one claim on the Butterfly pair at 200 s (2 / 300 s
    against 1 / 200 s); the cheapest addition alone would take the Butterfly first."""
    names = ["S6.denoising.butterfly30.SGDL.near", "S6.barbara.SGDL.near", "S6.barbara.oscillation"]
    steps, _, _ = _eigen_order(paper, names, 100.0, 50.0)
    assert [s.claim for s in steps] == ["S6.barbara.SGDL.near", "S6.barbara.oscillation",
                                        "S6.denoising.butterfly30.SGDL.near"]
    assert [s.added for s in steps] == [300.0, 0.0, 200.0]
    steps, _, _ = _eigen_order(paper, names, 100.0, 120.0)                      # 2 / 720 s < 1 / 200 s
    assert steps[0].claim == "S6.denoising.butterfly30.SGDL.near"
