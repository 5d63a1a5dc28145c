"""The paper's test images, by name, and any grayscale image file.

Images are fetched with pooch from the authors' public repository at a pinned commit and checked
against their sha256. A folder named by the environment variable ``MGDL_DATA_DIR`` is looked in
first (the files there are checked too). Images are returned as float64 arrays on [0, 1].
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch
from PIL import Image, UnidentifiedImageError

REPOSITORY = "Ronglong-Fang/Why-MGDL-outperforms-SGDL"
COMMIT = "24b632dde7f121ad0e5f7d9b15471e886a14fcb5"
BASE_URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/"
DATA_DIR_ENV = "MGDL_DATA_DIR"
FETCH_TIMEOUT_S = 10  # seconds to wait for the server before giving up on a download

_REG = "Comparison-of-SGDL-and-MGDL-for-Image-Reconstruction/Image-Regression/MGDL/image/"
_EIG = "Eigenvalue-Analysis-for-SGDL-and-MGDL/Image-Regression/MGDL/image/"


@dataclass(frozen=True)
class RegisteredImage:
    name: str            # registry name used in notebooks and records
    paper_name: str      # as the paper writes it
    filename: str
    sha256: str | None   # None: no known checksum (the file is not verified)
    source_path: str     # path in the authors' repository at COMMIT

    @property
    def url(self) -> str:
        return BASE_URL + self.source_path


REGISTRY: dict[str, RegisteredImage] = {
    r.name: r
    for r in [
        RegisteredImage("cameraman", "Cameraman", "cameraman.tif",
                        "bae785b3236037abe32914516e758ea108eac0a2f3430f3f4216574bbae6ea51", _REG + "cameraman.tif"),
        RegisteredImage("barbara", "Barbara", "barbara.gif",
                        "1fa41c9edfa436e7ba0d4621d854296ae1b71fee54be1a146e3ff6440394dba1", _REG + "barbara.gif"),
        RegisteredImage("butterfly", "Butterfly", "butterfly.gif",
                        "6112843ab8ab9c4046ac4f3c523cbda4ca05013367291be347679e4b476c5222", _REG + "butterfly.gif"),
        RegisteredImage("pirate", "Pirate", "male.tiff",
                        "20654c370b0197d5c874a686e07c47642abc953790c5d0da23dacfd301f4a18d", _REG + "male.tiff"),
        RegisteredImage("chest", "Chest", "chest.png",
                        "8a533d1f24a42d166abc41f2d2351ff9ffa3107cb6b1a569e2e30318a2c758eb", _REG + "chest.png"),
        RegisteredImage("walnut", "Walnut", "walnut.png", None, _REG + "walnut.png"),
        RegisteredImage("resolution_chart", "Resolution chart", "resolutionchart.tiff",
                        "92ef9dd86f3c0edbbcdad50d63229d6633df560308b60b96cb045e570be02e18", _EIG + "resolutionchart.tiff"),
    ]
}


# a copy of the images beside the repository (where the project's CI places it), used when $MGDL_DATA_DIR is unset
SIBLING_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"


def local_data_dir() -> Path | None:
    """Where local copies of the images are looked for first: ``$MGDL_DATA_DIR``, else ``../shared/data/images``
    beside the repository when that folder exists, else None (download with pooch)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    return SIBLING_DATA_DIR if SIBLING_DATA_DIR.is_dir() else None


class ImageError(ValueError):
    """An image could not be found, verified or read."""


def _sha256(path: Path) -> str:
    return pooch.file_hash(str(path), alg="sha256")


def fetch(name: str) -> Path:
    """Local path of the registered image ``name``: from ``$MGDL_DATA_DIR`` if there, else via pooch."""
    if name not in REGISTRY:
        raise ImageError(f"unknown image {name!r}; known images: {', '.join(REGISTRY)} (or give a path to an image file)")
    entry = REGISTRY[name]
    if entry.sha256 is None:
        warnings.warn(f"image {name!r} has no known sha256: its content is not verified", stacklevel=2)
    data_dir = local_data_dir()
    if data_dir:
        local = Path(data_dir) / entry.filename
        if local.is_file():
            if entry.sha256 is not None and (digest := _sha256(local)) != entry.sha256:
                raise ImageError(f"checksum mismatch for {local.name} in ${DATA_DIR_ENV}: sha256 {digest}, "
                                 f"expected {entry.sha256}")
            return local
    try:
        path = pooch.retrieve(entry.url, known_hash=None if entry.sha256 is None else f"sha256:{entry.sha256}",
                              fname=entry.filename, path=pooch.os_cache("mgdlcore"), progressbar=False,
                              downloader=pooch.HTTPDownloader(timeout=FETCH_TIMEOUT_S))
    except ValueError as err:  # pooch reports a hash mismatch as ValueError
        raise ImageError(f"checksum mismatch for {entry.filename} downloaded from {entry.url}: {err}") from None
    except Exception as err:  # network errors of many kinds
        raise ImageError(f"could not fetch image {name!r} from {entry.url} ({type(err).__name__}); "
                         f"set ${DATA_DIR_ENV} to a folder holding {entry.filename}") from None
    return Path(path)


def read_grayscale(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a 2-D float64 array on [0, 1]; colour images are converted to gray with a warning."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image file {str(path)!r} does not exist; give a registry name ({', '.join(REGISTRY)}) "
                         "or a path to an image file")
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                mode = img.mode
            if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA"):
                rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
                if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
                    warnings.warn(f"{path.name} is a colour image ({mode}); converted to gray (ITU-R 601-2 luma)",
                                  stacklevel=2)
                arr = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
            elif mode in ("L", "1"):
                arr = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
            elif mode.startswith("I;16"):
                arr = np.asarray(img, dtype=np.float64) / 65535.0
            elif mode in ("I", "F"):
                arr = np.asarray(img, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
            else:
                raise ImageError(f"{path.name}: unsupported image mode {mode!r}; accepted: grayscale or colour images")
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ImageError(f"{path.name} is not a readable image file ({type(err).__name__}); "
                         "accepted: PNG, TIFF, GIF, JPEG, BMP and other formats Pillow reads") from None
    if arr.ndim != 2:
        raise ImageError(f"{path.name}: expected a 2-D grayscale image, got shape {arr.shape}")
    return arr


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Downsample so that the longer side is ``size`` (aspect ratio kept, anti-aliased); smaller images are kept."""
    h, w = image.shape
    if max(h, w) <= size:
        return image
    from skimage.transform import resize as _resize

    scale = size / max(h, w)
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    return _resize(image, shape, anti_aliasing=True, order=1, mode="reflect")


def load_image(name_or_path: str | os.PathLike, *, size: int | None = None) -> np.ndarray:
    """A registry name or an image path -> float64 array on [0, 1]; ``size`` caps the longer side (see ``resize``)."""
    key = str(name_or_path)
    if key in REGISTRY:
        path = fetch(key)
    elif os.sep in key or "." in Path(key).name or Path(key).exists():
        path = Path(key)
    else:
        raise ImageError(f"unknown image {key!r}; known images: {', '.join(REGISTRY)} (or give a path to an image file)")
    image = read_grayscale(path)
    if size is not None:
        image = resize(image, size)
    return image


def image_label(name_or_path: str | os.PathLike) -> str:
    """Short label of an image for records and tables: the registry name, or the file stem of a user's image."""
    key = str(name_or_path)
    return key if key in REGISTRY else Path(key).stem


MIN_SIDE = 16  # smallest image side the experiments accept (the training grid takes every other pixel)


def image_identity(name_or_path: str | os.PathLike) -> tuple[str, str | None, str | None]:
    """``(label, sha256, path)`` of an image for a config, checked before any work starts.

    A registry image is labelled by its name (``path`` None: it is fetched by name); a user's file is labelled
    ``file:<file name>`` so that it never collides with a registry image, and identified by the sha256 of its
    content, so that a changed file is a new experiment.
    """
    key = str(name_or_path)
    if key in REGISTRY:
        return key, REGISTRY[key].sha256, None
    if key.startswith("file:"):
        raise ImageError(f"{key!r} is a label, not a path; give the path of the image file")
    path = Path(key)
    if not path.is_file():
        raise ImageError(f"unknown image {key!r}; known images: {', '.join(REGISTRY)} (or give a path to an image file)")
    return f"file:{path.name}", _sha256(path), str(path.resolve())


def load_identified(label: str, sha256: str | None, path: str | None, *, size: int | None = None) -> np.ndarray:
    """The image a config names (``image_identity``'s output), checked against its sha256 and its size."""
    if label in REGISTRY:
        image = read_grayscale(fetch(label))
    else:
        if path is None:
            raise ImageError(f"{label}: a user's image needs its path on this machine (the config holds only its hash)")
        if sha256 is not None and _sha256(Path(path)) != sha256:
            raise ImageError(f"{label}: the file at {path} changed since the config was made (sha256 differs)")
        image = read_grayscale(path)
    if min(image.shape) < MIN_SIDE:
        raise ImageError(f"{label}: image of shape {image.shape} is too small; each side must be >= {MIN_SIDE} pixels")
    if size is not None:
        image = resize(image, size)
        if min(image.shape) < MIN_SIDE:
            raise ImageError(f"{label}: downsampled to {image.shape}, a side below {MIN_SIDE} pixels; use a larger size")
    return image
