"""``mgdl-sweep``: run a chapter over a grid of parameters with papermill, resumably.

One executed notebook and one set of records per point (image x level). A point whose records all exist in
``--results-dir`` and whose executed notebook exists is skipped, so an interrupted sweep resumes where it stopped;
a point whose records exist but whose notebook does not is re-executed, which only reads the records back.

Examples (from the repository root)::

    mgdl-sweep denoising --images butterfly --profile cpu
    mgdl-sweep deblurring --images butterfly,pirate,chest --levels 3,5,7 --profile cpu --threads 1
    python -m mgdlcore.sweep denoising --dry-run

The executed notebooks go to ``<notebooks-dir>/<task>/<image>-<level>-<profile>.ipynb``; their image outputs are
stripped unless ``--keep-images`` (the records and ``.npz`` arrays hold everything the figures need).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..experiments.restoration import LEVELS, RESTORATION_PROFILES, TASKS, point_complete

CHAPTERS = {"denoising": "03_denoising.ipynb", "deblurring": "04_deblurring.ipynb"}
LEVEL_PARAMETER = {"denoising": "noise_level", "deblurring": "blur_sigma"}
DEFAULT_IMAGES = ("butterfly", "pirate", "chest")


def _csv(kind):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        try:
            return [kind(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of {kind.__name__}: {text!r}") from None
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgdl-sweep", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=TASKS, help="which chapter to run")
    p.add_argument("--images", type=_csv(str), default=list(DEFAULT_IMAGES),
                   help="comma-separated registry names or image paths (default: butterfly,pirate,chest)")
    p.add_argument("--levels", type=_csv(float), default=None,
                   help="noise levels (0-255 scale) or blur sigmas; default: the paper's "
                        "(10,...,60 for denoising; 3,5,7 for deblurring)")
    p.add_argument("--profile", choices=tuple(RESTORATION_PROFILES), default="cpu")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results-dir", default="results", help="where the records go (default: results)")
    p.add_argument("--notebooks-dir", default="results/sweeps", help="executed notebooks (default: results/sweeps)")
    p.add_argument("--chapters-dir", default="chapters", help="folder of the chapter notebooks (default: chapters)")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP/MKL threads of each notebook's kernel (default: torch's own choice)")
    p.add_argument("--keep-images", action="store_true", help="keep image outputs in the executed notebooks")
    p.add_argument("--dry-run", action="store_true", help="list the points and whether each would run")
    return p


def notebook_name(task: str, image: str, level: float, profile: str) -> str:
    tag = "noise" if task == "denoising" else "blur"
    stem = Path(image).stem if (os.sep in image or "." in image) else image
    return f"{stem}-{tag}{level:g}-{profile}.ipynb"


def strip_outputs(path: Path, *, keep_images: bool = False, rel_paths: tuple[str, str] | None = None) -> None:
    """Drop image outputs (unless ``keep_images``) and write repository-relative paths into papermill metadata."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if not keep_images:
        for cell in nb.cells:
            if cell.get("cell_type") != "code":
                continue
            kept = []
            for out in cell.get("outputs", []):
                data = out.get("data")
                if data and any(k.startswith("image/") for k in data):
                    for k in [k for k in data if k.startswith("image/")]:
                        del data[k]
                    if not data:
                        continue
                kept.append(out)
            cell["outputs"] = kept
    pm = nb.metadata.get("papermill")
    if pm is not None and rel_paths is not None:
        pm["input_path"], pm["output_path"] = rel_paths
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    task = args.task
    levels = args.levels if args.levels is not None else list(LEVELS[task])
    chapters = Path(args.chapters_dir)
    chapter = chapters / CHAPTERS[task]
    if not chapter.is_file():
        print(f"mgdl-sweep: chapter {chapter} not found; run from the repository root or pass --chapters-dir",
              file=sys.stderr)
        return 2
    out_dir = Path(args.notebooks_dir) / task
    points = [(im, lv) for im in args.images for lv in levels]
    data_dir = os.environ.get("MGDL_DATA_DIR")
    if data_dir and not os.path.isabs(data_dir):  # the kernels run in the chapters folder
        os.environ["MGDL_DATA_DIR"] = str(Path(data_dir).resolve())
    if args.threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    failures, ran, skipped = [], 0, 0
    for i, (image, level) in enumerate(points, 1):
        out = out_dir / notebook_name(task, image, level, args.profile)
        done = point_complete(task, image, level, args.profile, seed=args.seed, results_dir=args.results_dir)
        status = "skip (records and notebook exist)" if done and out.is_file() else (
            "notebook only (records exist)" if done else "run")
        print(f"[{i}/{len(points)}] {task} {image} {LEVEL_PARAMETER[task]}={level:g} {args.profile}: {status}",
              flush=True)
        if args.dry_run or status.startswith("skip"):
            skipped += status.startswith("skip")
            continue
        import papermill as pm

        out.parent.mkdir(parents=True, exist_ok=True)
        params = {"image": image, LEVEL_PARAMETER[task]: float(level), "profile": args.profile,
                  "device": args.device, "seed": args.seed,
                  "results_dir": os.path.relpath(Path(args.results_dir).resolve(), chapters.resolve())}
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(chapter), str(out), parameters=params, cwd=str(chapters), kernel_name="python3",
                                progress_bar=False)
        except Exception as err:  # a failed point must not stop the sweep
            failures.append((image, level, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"))
            print(f"    failed: {failures[-1][2]}", flush=True)
            continue
        finally:
            if out.is_file():
                strip_outputs(out, keep_images=args.keep_images,
                              rel_paths=(f"chapters/{CHAPTERS[task]}", out.name if out.is_absolute() else out.as_posix()))
        ran += 1
        print(f"    done in {time.perf_counter() - t0:.0f} s -> {out}", flush=True)
    print(f"mgdl-sweep: {ran} executed, {skipped} skipped, {len(failures)} failed, {len(points)} points")
    for image, level, msg in failures:
        print(f"  failed: {image} {level:g}: {msg}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
