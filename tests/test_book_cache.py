"""mgdlcore.report.book_cache: the book's notebooks executed in parallel into the cache the build reads."""

import nbformat
import yaml
from jupyter_cache import get_cache

from mgdlcore.report import book_cache

ROOT = book_cache.ROOT


def test_every_notebook_of_the_toc_is_listed():
    toc = (ROOT / "_toc.yml").read_text()
    listed = book_cache.toc_notebooks()
    assert listed and all(p.suffix == ".ipynb" and p.is_file() for p in listed)
    named = {line.split("file:")[1].strip() for line in toc.splitlines() if "file:" in line}
    expected = {f for f in named if (ROOT / f"{f}.ipynb").is_file()}
    assert {str(p.relative_to(ROOT).with_suffix("")) for p in listed} == expected
    assert "chapters/claims" in expected and "api" not in expected      # api is Markdown, not a notebook


def test_the_book_reads_the_cache_make_book_fills_and_removes():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]
    assert config["execute_notebooks"] == "cache"
    book = (ROOT / "Makefile").read_text().split("\nbook:")[1].split("\n\n")[0]
    fill, build = book.index("mgdlcore.report.book_cache"), book.index("jupyter-book build")
    assert fill < build and f"rm -rf {config['cache']}" in book[build:]


def _notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_executed_notebooks_are_found_by_the_build_and_failed_ones_are_not(tmp_path):
    good = _notebook(tmp_path / "good.ipynb", "print(6 * 7)")
    bad = _notebook(tmp_path / "bad.ipynb", "raise RuntimeError('broken page')")
    cache_path = tmp_path / "cache"
    (cache_path / "stale").mkdir(parents=True)        # whatever was there before is removed
    out = book_cache.fill([good, bad], cache_path, timeout=120)
    assert [p.split("/")[-1] for p in out["succeeded"]] == ["good.ipynb"]
    assert [p.split("/")[-1] for p in out["excepted"]] == ["bad.ipynb"]
    assert not (cache_path / "stale").exists()
    cache = get_cache(str(cache_path))
    # the build's lookup (myst-nb's cache mode): by the notebook as read from its file
    _, merged = cache.merge_match_into_notebook(nbformat.read(good, as_version=4))
    assert "42" in merged.cells[0].outputs[0]["text"]
    try:
        cache.match_cache_notebook(nbformat.read(bad, as_version=4))
        found = True
    except KeyError:
        found = False
    assert not found, "a notebook that failed must be left to the build, which executes it again and reports it"
