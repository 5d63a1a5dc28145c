"""Execute the book's notebooks in parallel into the cache the book build reads (``python -m mgdlcore.report.book_cache``).

``jupyter-book build`` executes notebooks one after another. With ``execute_notebooks: cache`` (``_config.yml``) it
first looks each notebook up in a jupyter-cache (``_build/.jupyter_cache``) by the hash of its code cells, and runs
only those it does not find. This module empties that cache and fills it by executing every notebook of ``_toc.yml``
with jupyter-cache's parallel executor (one process per core, each notebook in its own folder, as the build does),
so ``make book`` still executes every page at build time, on all cores. A notebook that fails here is left out of
the cache: the build then executes it again and reports its error.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_EXECUTE = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]   # the build's own settings
CACHE = ROOT / _EXECUTE["cache"]
TIMEOUT = int(_EXECUTE["timeout"])      # seconds per notebook


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The ``.ipynb`` files ``_toc.yml`` lists, in its order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    if "root" in toc:
        files.insert(0, toc["root"])
    return [p for f in files if (p := root / f"{f}.ipynb").is_file()]


def fill(notebooks: list[Path], cache_path: Path = CACHE, timeout: int = TIMEOUT) -> dict[str, list[str]]:
    """Empty ``cache_path`` and cache the executed ``notebooks``; ``{"succeeded", "excepted", "errored"}`` URIs."""
    from jupyter_cache import get_cache
    from jupyter_cache.executors import load_executor

    shutil.rmtree(cache_path, ignore_errors=True)
    cache = get_cache(str(cache_path))
    for nb in notebooks:
        cache.add_nb_to_project(str(nb))
    logger = logging.getLogger("book_cache")
    executor = load_executor("local-parallel", cache, logger=logger)
    result = executor.run_and_cache(timeout=timeout, allow_errors=False)
    return {"succeeded": list(result.succeeded), "excepted": list(result.excepted), "errored": list(result.errored)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="cache folder (default: _build/.jupyter_cache)")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds per notebook")
    args = parser.parse_args(argv)
    if args.timeout < 1:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    notebooks = toc_notebooks()
    out = fill(notebooks, args.cache, args.timeout)
    print(f"book_cache: {len(out['succeeded'])} of {len(notebooks)} notebooks executed and cached in {args.cache}"
          + (f"; left to the build (failed here): {', '.join(Path(u).name for u in out['excepted'] + out['errored'])}"
             if out["excepted"] or out["errored"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
