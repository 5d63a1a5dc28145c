"""mgdl-campaign: pending runs of a profile, one line per run, resume, failures reported and survived."""

from mgdlcore.experiments import campaign, regression


def test_campaign_runs_then_resumes(tmp_path, capsys):
    args = ["smoke", "--results", str(tmp_path), "--only", "regression cameraman bi*"]
    assert campaign.main(args) == 0
    out = capsys.readouterr().out
    assert "2 pending run(s)" in out and "regression cameraman bilinear ok" in out
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
    assert campaign.main(["smoke", "--results", str(tmp_path), "--only", "regression cameraman bi*"]) == 1
    captured = capsys.readouterr()
    assert "FAILED regression cameraman bilinear: RuntimeError: boom" in captured.out
    assert "regression cameraman bicubic ok" in captured.out and "1 run(s) failed" in captured.err


def test_bad_arguments_fail_in_one_line(capsys):
    assert campaign.main(["smoke", "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_campaign_on_a_dask_local_cluster(tmp_path, capsys):
    """``--workers 2``: the pending runs go to two Dask worker processes; records land, a second call resumes."""
    args = ["smoke", "--results", str(tmp_path), "--only", "regression cameraman bi*", "--workers", "2"]
    assert campaign.main(args) == 0
    out = capsys.readouterr().out
    assert "2 pending run(s)" in out and "regression cameraman bilinear ok" in out and "[2/2]" in out
    assert len(list((tmp_path / "regression").glob("*.json"))) == 2
    assert campaign.main(args) == 0 and "0 pending run(s)" in capsys.readouterr().out
    assert campaign.main(["smoke", "--workers", "0"]) == 2
