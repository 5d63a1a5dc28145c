"""Every number of Fang & Xu (2025) that the book uses, in one place, each with its source.

Keys are registry image names (``mgdlcore.data.images.REGISTRY``). A value comes either from the paper's text
(section, table or figure given in the comment and in ``SOURCES``) or only from the authors' published code
(``Ronglong-Fang/Why-MGDL-outperforms-SGDL``); ``SOURCES`` says which, so that chapters credit each setting to
its source. No other module of ``mgdlcore`` or any chapter may hold a copy of these numbers: import them from here.
"""

from __future__ import annotations

PAPER = "paper"
AUTHORS_CODE = "authors' code"
BOOK = "this book"  # a choice of the book, not a value of the paper or of the authors' code

# ---------------------------------------------------------------------------------------------------------------
# Section 4, Tables 1-3
# ---------------------------------------------------------------------------------------------------------------

# Table 1: image regression, (TrPSNR, TePSNR) in dB
TABLE1 = {
    "cameraman": {"SGDL": (27.05, 24.79), "MGDL": (31.80, 25.21)},
    "barbara": {"SGDL": (23.14, 22.75), "MGDL": (24.36, 23.84)},
    "butterfly": {"SGDL": (26.22, 24.87), "MGDL": (28.23, 27.06)},
    "pirate": {"SGDL": (24.20, 24.34), "MGDL": (27.40, 26.45)},
    "chest": {"SGDL": (34.77, 34.56), "MGDL": (39.44, 38.50)},
    "walnut": {"SGDL": (19.94, 20.05), "MGDL": (21.83, 21.31)},
}

# Table 2: image denoising, PSNR (dB) by noise level sigma (on the 0-255 scale)
TABLE2 = {
    "butterfly": {"SGDL": {10: 27.53, 20: 26.73, 30: 26.05, 40: 25.54, 50: 24.65, 60: 24.30},
                  "MGDL": {10: 31.67, 20: 28.39, 30: 27.09, 40: 26.37, 50: 25.84, 60: 25.21}},
    "pirate": {"SGDL": {10: 25.13, 20: 25.02, 30: 24.63, 40: 24.47, 50: 24.01, 60: 23.82},
               "MGDL": {10: 29.36, 20: 27.74, 30: 27.20, 40: 26.25, 50: 25.77, 60: 25.32}},
    "chest": {"SGDL": {10: 36.20, 20: 35.34, 30: 34.30, 40: 33.55, 50: 33.51, 60: 32.90},
              "MGDL": {10: 38.58, 20: 36.89, 30: 35.48, 40: 34.61, 50: 33.94, 60: 33.06}},
}

# Table 3: image deblurring, PSNR (dB) by blur standard deviation (noise 3/255)
TABLE3 = {
    "butterfly": {"SGDL": {3: 25.43, 5: 24.20, 7: 22.70}, "MGDL": {3: 27.06, 5: 25.19, 7: 23.65}},
    "pirate": {"SGDL": {3: 24.72, 5: 23.79, 7: 23.13}, "MGDL": {3: 26.47, 5: 24.95, 7: 23.98}},
    "chest": {"SGDL": {3: 35.40, 5: 34.61, 7: 33.69}, "MGDL": {3: 38.24, 5: 36.51, 7: 35.14}},
}

# Sec. 4 text: the MGDL - SGDL gains in test PSNR (dB) the paper states for each table, (smallest, largest)
SEC4_GAIN_RANGES = {"regression": (0.42, 3.94), "denoising": (0.16, 4.23), "deblurring": (0.85, 2.84)}
SEC4_NOISE_LEVELS = (10, 20, 30, 40, 50, 60)  # Sec. 4 "Image denoising": sigma on the 0-255 scale
SEC4_BLUR_LEVELS = (3, 5, 7)                   # Sec. 4 "Image deblurring": Gaussian kernel standard deviations
SEC4_DEBLUR_NOISE = 3                          # Sec. 4 "Image deblurring": noise sigma = 3 (0-255 scale)
SEC4_PSNR_TOLERANCE_DB = 0.5                   # the book's tolerance against the tables (not a paper value)
# Sec. 4 / Fig. 5: SGDL predictions are shown at these iterations of the Cameraman run (10^4 iterations in all)
SEC4_FIG5_ITERATIONS = (9800, 9850, 9900, 9950)

# Settings of Sec. 4 that the paper's text does not give; they come from the authors' code only.
SEC4_REGRESSION_EPOCHS = 10_000       # authors' code: Adam epochs per SGDL model and per MGDL grade (Table 1)
SEC4_REGRESSION_LR = 1e-3             # authors' code: Adam learning rate of Table 1
SEC4_RESTORATION_EPOCHS = 20_000      # authors' code: Adam epochs per model / grade (Tables 2-3)
SEC4_ROF_ALPHA = 0.99                 # authors' code: relaxation alpha of the prox step (20)
# authors' code (Table 1 and Fig. 15 scripts), not in the paper: the validation loss is recorded every
# "record_every" epochs; every record_every * window epochs the mean of the last "window" records is compared with
# the previous mean and training stops when the relative change is below "rel_change".
SEC4_EARLY_STOP = {"record_every": 10, "window": 20, "rel_change": 1e-4}   # Table 1 scripts
SEC5_IMAGE_EARLY_STOP = {"record_every": 10, "window": 20, "rel_change": 1e-6}  # Figure 15 scripts

# ---------------------------------------------------------------------------------------------------------------
# Section 5, Figures 1 and 15 (learning rate)
# ---------------------------------------------------------------------------------------------------------------

# Sec. 5 "Synthetic data regression", eq. (5): frequencies. The text prints kappa = [1, 5, 5, 10] for M = 3, a
# typesetting slip for (1, 5.5, 10) = the authors' np.linspace(1, 10, 3).
SEC5_KAPPAS = {1: (1.0, 5.5, 10.0), 2: (1.0, 8.25, 15.5, 22.75, 30.0)}
SEC5_N_TRAIN = 1024        # Sec. 5: equally spaced training points on [0, 1]
SEC5_N_VAL = 1000          # Sec. 5: uniformly sampled validation points (the authors' code draws 1024)
SEC5_SYNTHETIC_EPOCHS = 1_000_000          # Sec. 5: GD epochs (per SGDL model, per MGDL grade)
SEC5_SYNTHETIC_LR_RANGE = (0.001, 0.5)     # Sec. 5: learning rates "selected from the interval [0.001, 0.5]"
SEC5_IMAGE_EPOCHS = 100_000                # Sec. 5 "Image regression": GD epochs
SEC5_IMAGE_LR_RANGE = (0.001, 1.0)         # Sec. 5 "Image regression": learning-rate interval
SEC5_IMAGES = ("resolution_chart", "cameraman", "barbara", "pirate")  # Figure 15
SEC5_IMAGES_SGDL_FAILS_NEAR_1 = ("cameraman", "pirate")  # Sec. 5: "SGDL fails to train ... near 1"

# Sec. 5, Figure 1: loss thresholds per synthetic setting
SEC5_THRESHOLDS = {1: 1e-3, 2: 1e-2}
# Sec. 5, Figure 1: learning-rate intervals on which the final training loss is below the threshold.
# Keys (setting, method); "interval" None where the paper states none.
SEC5_INTERVALS = {
    (1, "SGDL"): {"threshold": 1e-3, "interval": (0.03, 0.08), "note": "fails to converge for eta > 0.3"},
    (1, "MGDL"): {"threshold": 1e-3, "interval": (0.01, 0.3), "note": ""},
    (2, "SGDL"): {"threshold": 1e-2, "interval": None, "note": "fails to converge for eta > 0.006, best at 0.005"},
    (2, "MGDL"): {"threshold": 1e-2, "interval": (0.08, 0.3), "note": ""},
}
# Sec. 5: learning rates above which SGDL "fails to converge", per setting
SEC5_SGDL_FAILS_ABOVE = {1: 0.3, 2: 0.006}
SEC5_SGDL_BEST_LR_SETTING2 = 0.005  # Sec. 5: SGDL "performs best at eta = 0.005" in setting 2

# ---------------------------------------------------------------------------------------------------------------
# Section 6, Figures 2-3 and 16-24 (eigenvalues of I - eta H)
# ---------------------------------------------------------------------------------------------------------------

SEC6_STABLE_INTERVAL = (-1.0, 1.0)  # Sec. 6 after Theorem 5: all eigenvalues of I - eta H in (-1, 1)
SEC6_N_EIGEN = 10                   # Sec. 6 / Fig. 2: the ten smallest and ten largest eigenvalues are tracked
SEC6_TRACK_EVERY = 10_000           # Figs. 2, 16: eigenvalues every 10^4 epochs (figure axes; authors' code)

# Learning rates of the tracked runs, keyed (case, method). Cases: "setting1", "setting2" (synthetic, Figs. 2 and
# 16), the four images of Figs. 3 and 18-20, and "denoising" (Figs. 21-24, from the authors' code only).
SEC6_LEARNING_RATES = {
    ("setting1", "SGDL"): 0.08, ("setting1", "MGDL"): 0.06,                  # Figure 2 caption
    ("setting2", "SGDL"): 0.005, ("setting2", "MGDL"): 0.2,                  # Figure 16 caption
    ("resolution_chart", "SGDL"): 0.02, ("resolution_chart", "MGDL"): 0.2,   # Figure 3 caption
    ("cameraman", "SGDL"): 0.1, ("cameraman", "MGDL"): 0.2,                  # Figure 18 caption
    ("barbara", "SGDL"): 0.08, ("barbara", "MGDL"): 0.2,                     # Figure 19 caption
    ("butterfly", "SGDL"): 0.05, ("butterfly", "MGDL"): 0.05,                # Figure 20 caption
    ("denoising", "SGDL"): 1e-5, ("denoising", "MGDL"): 5e-5,                # authors' code (paper: none)
}
SEC6_IMAGES = ("resolution_chart", "cameraman", "barbara", "butterfly")  # Sec. 6 "Image regression"
# Sec. 6 "Image denoising": Figures 21-24, (image, noise level) cases
SEC6_DENOISING_CASES = (("butterfly", 10), ("butterfly", 30), ("barbara", 10), ("barbara", 30))
# The authors' denoising penalties of the eigenvalue runs (beta, lambda) per method (authors' code; paper: none)
SEC6_DENOISING_PENALTIES = {"SGDL": (1e-2, 1e-1), "MGDL": (1e-3, 1e-4)}
SEC6_DENOISING_ALPHA = 0.99  # authors' code: relaxation of the prox step (20) in the eigenvalue runs
# Sec. 6 "Image regression": SGDL oscillates only slightly for the first this many epochs, per image
SEC6_SGDL_SLIGHT_OSCILLATION_EPOCHS = {"resolution_chart": 130_000, "cameraman": 50_000, "barbara": 80_000,
                                       "butterfly": 200_000}
# Sec. 6, setting 2 (Fig. 16): SGDL eigenvalues all in (-1, 1) for the first 2x10^5 epochs; the oscillations
# become stronger after 6x10^5 epochs
SEC6_SETTING2_SGDL_STABLE_UNTIL = 200_000
SEC6_SETTING2_SGDL_STRONGER_AFTER = 600_000
# Sec. 6, setting 1 (Fig. 2): SGDL loss oscillates moderately in the first 10^5 epochs, more strongly after
SEC6_SETTING1_SGDL_MODERATE_UNTIL = 100_000

# ---------------------------------------------------------------------------------------------------------------
# Section 7, Figures 25-28 (MSDL)
# ---------------------------------------------------------------------------------------------------------------

# Learning rates of the tracked MSDL and MGDL runs, keyed (setting, method) (Figures 25 and 26 captions)
SEC7_TRACKED_LR = {(1, "MSDL"): 0.004, (1, "MGDL"): 0.06, (2, "MSDL"): 0.006, (2, "MGDL"): 0.2}
SEC7_MSDL_SCALES = (1, 2, 4, 8)   # Appendix D: scale coefficients of the four subnetworks
SEC7_MSDL_SUBNET = (8, 4)         # Appendix D: each subnetwork [1] -> [8] x 4 -> [1] (width, hidden layers)
# The MSDL run the authors kept as their best (their MSDL analysis notebook lists it from results/BEST by file name):
# eta = 0.004, which is Figure 25's (setting 1) MSDL rate, 10^6 GD epochs, final training and validation loss
SEC7_AUTHORS_MSDL_RUN = {"setting": 1, "learning_rate": 0.004, "epochs": 1_000_000, "train_loss": 1.1212e-2,
                         "val_loss": 1.2908e-2}

# ---------------------------------------------------------------------------------------------------------------
# Values of the authors' code the paper does not print (issue on the paper's setting)
# ---------------------------------------------------------------------------------------------------------------

# Phases phi_j of eq. (5) as the authors draw them: jax.random.uniform(PRNGKey(0), (k,), 0, 2 pi), under JAX's
# legacy threefry (default before JAX 0.5) and the partitionable threefry (default since).
SEC5_AUTHOR_PHASES = {
    "legacy": {1: (6.065293, 1.977203, 3.977444), 2: (3.609693, 0.626346, 2.470299, 5.618288, 3.748338)},
    "partitionable": {1: (5.954368, 6.148599, 2.087849), 2: (5.954368, 6.148599, 2.087849, 2.944731, 3.580716)},
}

# ---------------------------------------------------------------------------------------------------------------
# Sec. 6 settings the paper's text does not give (authors' eigenvalue scripts)
# ---------------------------------------------------------------------------------------------------------------
SEC6_SYNTHETIC_EPOCHS = 1_000_000   # Figs. 2, 16 axes; authors' code opt.epoch (per SGDL model / MGDL grade)
SEC6_IMAGE_EPOCHS = 500_000         # authors' code: image eigenvalue runs (Figs. 3, 18-20), eigenvalues every 10^4
SEC6_DENOISING_EPOCHS = 100_000     # authors' code: denoising eigenvalue runs (Figs. 21-24)
SEC6_DENOISING_TRACK_EVERY = {"SGDL": 2_000, "MGDL": 5_000}  # authors' code: eigenvalue interval, denoising
SEC6_AUTHORS_STOP_BELOW = -0.95     # authors' MGDL image script: a grade stops once its smallest eigenvalue < this

# ---------------------------------------------------------------------------------------------------------------
# Where each value comes from: name -> (source, location)
# ---------------------------------------------------------------------------------------------------------------

SOURCES = {
    "TABLE1": (PAPER, "Sec. 4, Table 1"),
    "TABLE2": (PAPER, "Sec. 4, Table 2"),
    "TABLE3": (PAPER, "Sec. 4, Table 3"),
    "SEC4_GAIN_RANGES": (PAPER, "Sec. 4 text under each task"),
    "SEC4_NOISE_LEVELS": (PAPER, "Sec. 4 'Image denoising'"),
    "SEC4_BLUR_LEVELS": (PAPER, "Sec. 4 'Image deblurring'"),
    "SEC4_DEBLUR_NOISE": (PAPER, "Sec. 4 'Image deblurring'"),
    "SEC4_FIG5_ITERATIONS": (PAPER, "Sec. 4, Figure 5"),
    "SEC4_REGRESSION_EPOCHS": (AUTHORS_CODE, "Table 1 scripts (the paper's Fig. 5 only implies ~10^4 iterations)"),
    "SEC4_REGRESSION_LR": (AUTHORS_CODE, "Table 1 scripts (Adam)"),
    "SEC4_RESTORATION_EPOCHS": (AUTHORS_CODE, "Tables 2-3 scripts"),
    "SEC4_ROF_ALPHA": (AUTHORS_CODE, "Tables 2-3 scripts, prox step (20)"),
    "SEC4_PSNR_TOLERANCE_DB": (BOOK, "tolerance of the book's checks against Tables 1-3"),
    "SEC4_EARLY_STOP": (AUTHORS_CODE, "Table 1 scripts (smoothed validation loss; not in the paper)"),
    "SEC5_IMAGE_EARLY_STOP": (AUTHORS_CODE, "Figure 15 scripts (smoothed validation loss; not in the paper)"),
    "SEC5_KAPPAS": (PAPER, "Sec. 5, eq. (5) (setting 1 corrected from the authors' code)"),
    "SEC5_N_TRAIN": (PAPER, "Sec. 5"),
    "SEC5_N_VAL": (PAPER, "Sec. 5 (authors' code: 1024)"),
    "SEC5_SYNTHETIC_EPOCHS": (PAPER, "Sec. 5"),
    "SEC5_SYNTHETIC_LR_RANGE": (PAPER, "Sec. 5"),
    "SEC5_IMAGE_EPOCHS": (PAPER, "Sec. 5 'Image regression'"),
    "SEC5_IMAGE_LR_RANGE": (PAPER, "Sec. 5 'Image regression'"),
    "SEC5_IMAGES": (PAPER, "Sec. 5, Figure 15"),
    "SEC5_IMAGES_SGDL_FAILS_NEAR_1": (PAPER, "Sec. 5, Figure 15"),
    "SEC5_THRESHOLDS": (PAPER, "Sec. 5, Figure 1"),
    "SEC5_INTERVALS": (PAPER, "Sec. 5, Figure 1"),
    "SEC5_SGDL_FAILS_ABOVE": (PAPER, "Sec. 5, Figure 1"),
    "SEC5_SGDL_BEST_LR_SETTING2": (PAPER, "Sec. 5, Figure 1"),
    "SEC5_AUTHOR_PHASES": (AUTHORS_CODE, "PRNGKey(0) phases of eq. (5)"),
    "SEC6_STABLE_INTERVAL": (PAPER, "Sec. 6, after Theorem 5"),
    "SEC6_N_EIGEN": (PAPER, "Sec. 6, Figure 2"),
    "SEC6_TRACK_EVERY": (AUTHORS_CODE, "eigenvalue scripts (Figs. 2, 16 axes)"),
    "SEC6_LEARNING_RATES": (PAPER, "captions of Figs. 2, 3, 16, 18-20 (denoising: authors' code)"),
    "SEC6_IMAGES": (PAPER, "Sec. 6 'Image regression'"),
    "SEC6_DENOISING_CASES": (PAPER, "Figures 21-24"),
    "SEC6_DENOISING_PENALTIES": (AUTHORS_CODE, "eigenvalue denoising scripts"),
    "SEC6_DENOISING_ALPHA": (AUTHORS_CODE, "eigenvalue denoising scripts"),
    "SEC6_SGDL_SLIGHT_OSCILLATION_EPOCHS": (PAPER, "Sec. 6 'Image regression'"),
    "SEC6_SETTING2_SGDL_STABLE_UNTIL": (PAPER, "Sec. 6, Figure 16"),
    "SEC6_SETTING2_SGDL_STRONGER_AFTER": (PAPER, "Sec. 6, Figure 16"),
    "SEC6_SETTING1_SGDL_MODERATE_UNTIL": (PAPER, "Sec. 6, Figure 2"),
    "SEC6_SYNTHETIC_EPOCHS": (PAPER, "Sec. 6, Figure 2 ('up to 10^6 epochs')"),
    "SEC6_IMAGE_EPOCHS": (AUTHORS_CODE, "image eigenvalue scripts"),
    "SEC6_DENOISING_EPOCHS": (AUTHORS_CODE, "denoising eigenvalue scripts"),
    "SEC6_DENOISING_TRACK_EVERY": (AUTHORS_CODE, "denoising eigenvalue scripts"),
    "SEC6_AUTHORS_STOP_BELOW": (AUTHORS_CODE, "MGDL image eigenvalue script (not in the paper)"),
    "SEC7_TRACKED_LR": (PAPER, "captions of Figures 25-26"),
    "SEC7_MSDL_SCALES": (PAPER, "Appendix D"),
    "SEC7_MSDL_SUBNET": (PAPER, "Appendix D"),
    "SEC7_AUTHORS_MSDL_RUN": (AUTHORS_CODE, "MSDL analysis notebook, the run kept in results/BEST (setting 1 "
                                            "inferred from Figure 25's learning rate)"),
}

# ---------------------------------------------------------------------------------------------------------------
# Sec. 4, Tables 2-3 (denoising, deblurring): settings the paper's text does not give; from the authors' code only
# (Image-Denoising / Image-Deblurring main_run.py). Added with the restoration port.
# ---------------------------------------------------------------------------------------------------------------
SEC4_RESTORATION_LR = 1e-3          # authors' code: lr_params, Adam learning rate for Theta in (21)
SEC4_ROF_BETA = 0.1                 # authors' code: beta, weight of the penalty ||u - B N||^2 (Appendix C)
SEC4_ROF_LAMBDA = 0.01              # authors' code: lambd, TV weight lambda (Appendix C)
SEC4_RESTORATION_EVAL_EVERY = 100   # authors' code: opt.interval, PSNR recorded every 100 epochs (Figs. 8-14)

SOURCES.update({
    "SEC4_RESTORATION_LR": (AUTHORS_CODE, "Tables 2-3 scripts (Adam)"),
    "SEC4_ROF_BETA": (AUTHORS_CODE, "Tables 2-3 scripts, objective of Appendix C"),
    "SEC4_ROF_LAMBDA": (AUTHORS_CODE, "Tables 2-3 scripts, objective of Appendix C"),
    "SEC4_RESTORATION_EVAL_EVERY": (AUTHORS_CODE, "Tables 2-3 scripts (PSNR curves of Figs. 8-14)"),
})
