"""Values printed in the paper, for side-by-side tables. Keys are registry image names."""

from __future__ import annotations

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
