"""Where this book differs from the paper and from the authors' code, stated once (issue fidelity defects 4 and 6).

* ``DIFFERENCES``: known differences from the authors' code (``Ronglong-Fang/Why-MGDL-outperforms-SGDL``)
  that change numbers: what they do, what we do (and where), and the likely effect.
* ``ALLOWED_DEVIATIONS``: paper-profile results allowed to differ from the paper's values by more than the
  stated tolerance, each with its reason; :func:`allowed_deviation` is what check cells call.
* :func:`settings_by_source`: every setting the book uses, credited to the paper's text or to the authors' code
  only (built from ``values.SOURCES``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import values


@dataclass(frozen=True)
class Difference:
    """One known difference from the authors' code."""

    id: str
    topic: str
    authors: str      # what the authors' code does
    ours: str         # what we do, and where in mgdlcore
    effect: str       # the likely effect on the numbers
    applies_to: str   # sections / chapters concerned


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "glorot-truncation", "Initialisation of the image networks (Sec. 4, Sec. 5 images)",
        "stax.Dense defaults: W from jax.nn.initializers.glorot_normal(), a truncated normal (fan_avg, cut at two "
        "standard deviations and rescaled to variance 2/(fan_in + fan_out)); b ~ N(0, 0.01^2).",
        "An untruncated normal with the same variance, b ~ N(0, 0.01^2) (models.init_linear_, init='glorot_normal').",
        "Same variance, lighter tails in theirs; with a fixed seed every number differs. Expected within the "
        "spread over seeds, not a systematic shift.", "Tables 1-3, Figure 15"),
    Difference(
        "grade-keys", "Random keys of the MGDL grades",
        "Every grade is initialised from the same key (PRNGKey(0) in the image code, PRNGKey(42) in the synthetic "
        "and eigenvalue code), so grades of equal shape start from identical parameters.",
        "Each grade draws from its own generator, seed*1000 + grade (models.build_grade).",
        "MGDL results differ in realisation; no effect on the law of a single grade. Size of the effect on PSNR "
        "unknown; a seed study bounds it.", "Tables 1-3, Secs. 5-7 (MGDL)"),
    Difference(
        "sec6-starting-weights", "Starting weights of Sec. 6's image runs (Figures 3, 18-20)",
        "One fixed key, jax.random.PRNGKey(42), for every image (Eigenvalue-Analysis-for-SGDL-and-MGDL/"
        "Image-Regression/SGDL/sgdl.py); He-normal weights, zero biases.",
        "He-normal weights and zero biases drawn from torch.Generator().manual_seed(seed); the paper and cpu "
        "profiles run the image pairs at seeds 0, 1 and 2 (experiments.eigenvalues, image_seeds).",
        "At the captions' learning rates GD starts far beyond eta * lambda_max(H) = 2 for any draw (about 10 for "
        "their key 42 on Cameraman, 13 for our seed 0) and survives its first steps or not by the draw: our seed 0 "
        "diverges at epoch 6 on Cameraman and Barbara, our seeds 1 and 2 and their key 42 train, their key 1 "
        "diverges. Verdicts say in how many seeds they hold.", "Sec. 6 images"),
    Difference(
        "coordinate-order", "Order of the pixel coordinates (Sec. 4)",
        "np.meshgrid(coords_y, coords_x) with 'xy' indexing: pixel (i, j) is fed as (j/W, i/H), column first.",
        "(i/H, j/W), row first (data.grid.pixel_grid).",
        "The two input weights swap roles; with a symmetric initialisation only the realisation changes.",
        "Tables 1-3, Secs. 5-6 images"),
    Difference(
        "synthetic-validation", "Synthetic validation set (Secs. 5-7)",
        "nval = 2^10 = 1024 points drawn with jax.random.uniform(PRNGKey(1)); the paper's text says 1000.",
        "1000 points (the paper's text) from numpy default_rng(1) (data.synthetic.N_VAL).",
        "Only validation losses change (used to pick learning rates in Secs. 6-7); training is unaffected.",
        "Secs. 5-7"),
    Difference(
        "synthetic-phases", "Phases of eq. (5) (Secs. 5-7)",
        "jax.random.uniform(PRNGKey(0), (k,), 0, 2 pi); values under JAX's legacy and partitionable threefry in "
        "values.SEC5_AUTHOR_PHASES.",
        "paper profile of Secs. 5 and 7: the authors' phases under the legacy threefry, which we take as the most "
        "likely (JAX's default until 0.5.0 of January 2025; the authors' notebooks ran Python 3.10.13, a 2023 "
        "release, and the paper appeared in July 2025). cpu and smoke profiles and the eigenvalue kind: numpy "
        "default_rng(phase_seed) phases (data.synthetic.phases_for). Phases are recorded with every run.",
        "A different target function: loss levels, thresholds met and learning-rate intervals can move.",
        "Secs. 5-7"),
    Difference(
        "relu-prime-zero", "ReLU'(0)",
        "Image code: stax.Relu, derivative 0 at 0. Synthetic/MSDL training: jnp.maximum(z, 0), which JAX "
        "differentiates as 1/2 at 0; their Hessian code uses relu_grad = where(z >= 0, 1, 0), i.e. 1 at 0.",
        "0 for the image networks (torch.relu); 1 for the synthetic, eigenvalue and MSDL networks "
        "(models.relu_right), in training and Hessian alike.",
        "Matters only where a pre-activation is exactly 0: at x = 0 with zero biases every layer sits on the kink at "
        "the first GD step of eq. (5), so the bias gradients of that step differ (by factors up to 2^4 for (26)). "
        "From there the trajectories part; where GD is chaotic (SGDL at the larger learning rates of Sec. 5) that "
        "moves a final loss as another initial draw would.", "Secs. 5-7"),
    Difference(
        "image-preprocessing", "Resolution chart, Barbara and downsampling (Secs. 5-6 images)",
        "The resolution chart is inverted (np.invert: 1 - f). Eigenvalue code (Sec. 6): Barbara is cut to its "
        "top-right quarter, every image is subsampled img[::2, ::2] without filtering (denoising: again [::4]), then "
        "trained on its even rows and columns. Learning-rate code (Fig. 15): native size, no subsampling.",
        "Paper profile: the same rules (eigenvalues kind: crop, invert, stride; gd_dynamics kind: native size, "
        "inverted chart). Reduced profiles subsample further with the same unfiltered rule (img[::k, ::k]); the "
        "cpu-profile Table 1 runs use an anti-aliased resize (data.images.resize) to 128 px.",
        "Anti-aliasing removes the finest detail that [::k, ::k] aliases into the image: smoother targets, "
        "slightly higher PSNR, possibly different eigenvalues. It affects reduced-profile results only.",
        "Table 1 (cpu profile), Secs. 5-6"),
    Difference(
        "noise-realisation", "Noise of the observed images (Tables 2-3)",
        "noise_level * jax.random.normal(PRNGKey(0), shape), no clipping.",
        "numpy default_rng(noise_seed).standard_normal(shape) * sigma/255, no clipping (physics.noise.degrade).",
        "Same law, different realisation: the observed PSNR and the restored PSNR move by a few hundredths to "
        "tenths of a dB.", "Tables 2-3, Sec. 6 denoising"),
    Difference(
        "rof-sums", "Norms of the ROF objective (Appendix C)",
        "Sums over pixels (np.sum), as the Frobenius and l_{1,1} norms of Appendix C.",
        "Sums (training.objectives.rof_objective); an earlier version of this book used means.",
        "None now; with means, beta and lambda would have weighed differently against the data term.",
        "Tables 2-3, Sec. 6 denoising"),
    Difference(
        "early-stopping", "Stopping rule (Table 1, Figure 15)",
        "The validation loss is recorded every few epochs; the mean of the last records is compared with the "
        "previous mean and training stops when the relative change is small (values.SEC4_EARLY_STOP for Table 1, "
        "values.SEC5_IMAGE_EARLY_STOP for Figure 15). The paper does not mention it.",
        "No early stopping: every run trains for the profile's epochs (training.loop.train).",
        "Where their rule fired, their runs are shorter than ours; ours may train longer (higher train PSNR, "
        "test PSNR either way).", "Table 1, Figure 15"),
    Difference(
        "synthetic-early-stop", "Stopping rule of the synthetic GD runs (Figure 1)",
        "Every 100 epochs the training and validation losses are recorded; every 2,000 epochs the mean of the last "
        "20 validation records is compared with the previous one and training stops when the relative change is "
        "below 1e-6 (rel_error in their main_run.py); in MGDL per grade, so a grade that stops hands its features "
        "to the next one early. Figure 1 plots the last recorded training loss (after 999,901 steps, or at the stop).",
        "No early stopping: 10^6 GD steps per model and per grade; the final loss is the one after the last step "
        "(training.loop.train, training.batched).",
        "Where their rule fired (a plateau), their run is shorter than ours and, for MGDL, later grades start from "
        "other features; final losses near a threshold can land on either side.", "Sec. 5, Figure 1"),
    Difference(
        "eigen-stop-rule", "Stopping MGDL grades on the eigenvalue (Sec. 6 images)",
        "The MGDL image eigenvalue script stops a grade as soon as the smallest eigenvalue of I - eta H drops "
        "below -0.95; the paper does not mention it.",
        "Both: with that rule and without it (analysis.hessian; the eigenvalues chapter shows both).",
        "With the rule, MGDL's eigenvalues stay above -0.95 by construction (a selection effect).",
        "Sec. 6 images"),
    Difference(
        "eigen-first-check", "Which eigenvalue checks a Sec. 6 statement reads",
        "The eigenvalue figures of the authors' scripts leave out each grade's first check, the one taken at "
        "initialisation before the grade's first step; the paper's statements describe those figures.",
        "The claims read every check (paper.claims.eigen); each verdict's evidence also gives the smallest "
        "eigenvalue without the first checks, and the eigenvalues chapter tabulates which outcomes would turn "
        "without them (first_check_readings).",
        "Where a network starts with an eigenvalue of I - eta H below -1 and gradient descent moves it back inside, "
        "our reading counts it and the figures do not: an outcome can rest on the initialisation alone.",
        "Sec. 6"),
    Difference(
        "eigen-denoising-prox", "Prox step of the MGDL eigenvalue denoising runs (Sec. 6)",
        "The prox step (20) reads B g_l of the current grade's output alone.",
        "The prox step reads B of the total image (sum of grades).",
        "Changes u and hence the loss landscape of grades 2-4; size unknown.", "Sec. 6 denoising"),
)


@dataclass(frozen=True)
class AllowedDeviation:
    """A paper-profile result allowed to differ from the paper's value beyond the tolerance, and why."""

    table: str           # "table1", "table2", "table3"
    image: str
    method: str          # "SGDL" or "MGDL"
    level: int | None    # noise / blur level (None for Table 1)
    reason: str


# Empty: no paper-profile result has been found to deviate for a reason we can state. An entry needs its reason.
ALLOWED_DEVIATIONS: tuple[AllowedDeviation, ...] = ()

_TABLES = {"table1": values.TABLE1, "table2": values.TABLE2, "table3": values.TABLE3}


def allowed_deviation(table: str, image: str, method: str, level: int | None = None) -> str | None:
    """The reason a paper-profile value of ``table`` may deviate from the paper's, or None (it may not).

    ``table``: "table1" | "table2" | "table3"; ``level``: the noise or blur level (None for Table 1).
    """
    if table not in _TABLES:
        raise ValueError(f"unknown table {table!r}; accepted: {', '.join(_TABLES)}")
    if image not in _TABLES[table]:
        raise ValueError(f"{table} has no image {image!r}; accepted: {', '.join(_TABLES[table])}")
    if method not in ("SGDL", "MGDL"):
        raise ValueError(f"method must be 'SGDL' or 'MGDL', got {method!r}")
    for d in ALLOWED_DEVIATIONS:
        if (d.table, d.image, d.method, d.level) == (table, image, method, level):
            return d.reason
    return None


@dataclass(frozen=True)
class SettingSource:
    """A value the book uses, credited to its source."""

    name: str
    value: object
    source: str       # values.PAPER or values.AUTHORS_CODE
    where: str


def settings_by_source() -> list[SettingSource]:
    """Every named value of ``mgdlcore.paper.values`` with its source (paper text or authors' code only)."""
    return [SettingSource(name, getattr(values, name), src, where) for name, (src, where) in values.SOURCES.items()]


# ----------------------------------------------------------------------------------------------------- rendering

def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def render_differences() -> str:
    """``DIFFERENCES`` as Markdown: one entry per topic (a list reads better than a five-column table)."""
    return "\n\n".join(f"**{d.topic}** (concerns {d.applies_to})\n\n"
                         f"- *The authors' code:* {d.authors}\n- *This book:* {d.ours}\n- *Likely effect:* {d.effect}"
                         for d in DIFFERENCES)


def render_allowed() -> str:
    """``ALLOWED_DEVIATIONS`` as a Markdown table, or a sentence when there is none."""
    if not ALLOWED_DEVIATIONS:
        return "No deviation of a paper-profile result from the paper's values is allowed at present."
    return _table(("table", "image", "method", "level", "reason"),
                  [(d.table, d.image, d.method, "" if d.level is None else d.level, d.reason)
                   for d in ALLOWED_DEVIATIONS])


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 90 else text[:87] + "..."


def render_sources(source: str | None = None) -> str:
    """The values the book uses with their source (paper text, authors' code, or the book), as a Markdown table."""
    rows = [(f"`{s.name}`", _short(s.value), s.source, s.where) for s in settings_by_source()
            if source is None or s.source == source]
    return _table(("name in mgdlcore.paper.values", "value", "source", "where"), rows)
