import numpy as np
import pytest
from PIL import Image

from mgdlcore.data import images
from mgdlcore.data.images import REGISTRY, ImageError, fetch, image_label, load_image


def test_unknown_name_lists_known_images():
    with pytest.raises(ImageError, match="unknown image 'lena'; known images: cameraman, barbara"):
        load_image("lena")


@pytest.mark.parametrize("name, shape", [("cameraman", (256, 256)), ("butterfly", (512, 512)),
                                         ("resolution_chart", (256, 256))])
def test_registered_images_load_verified(data_dir, name, shape):
    img = load_image(name)
    assert img.shape == shape and img.dtype == np.float64 and 0 <= img.min() < img.max() <= 1


def test_resize_caps_longer_side(data_dir):
    assert load_image("chest", size=128).shape == (128, 128)
    assert load_image("cameraman", size=512).shape == (256, 256)  # never upsampled


def test_checksum_mismatch_in_data_dir(tmp_path, monkeypatch):
    (tmp_path / "cameraman.tif").write_bytes(b"not the cameraman")
    monkeypatch.setenv("MGDL_DATA_DIR", str(tmp_path))
    with pytest.raises(ImageError, match="checksum mismatch for cameraman.tif"):
        fetch("cameraman")


def test_missing_file_falls_back_to_pooch_with_pinned_url_and_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(tmp_path))
    seen = {}

    def fake_retrieve(url, known_hash, fname, path, progressbar, downloader):
        seen.update(url=url, known_hash=known_hash, fname=fname)
        raise ConnectionError("offline")

    monkeypatch.setattr(images.pooch, "retrieve", fake_retrieve)
    with pytest.raises(ImageError, match="could not fetch image 'pirate'"):
        fetch("pirate")
    assert images.COMMIT in seen["url"] and seen["url"].endswith("/male.tiff")
    assert seen["known_hash"] == "sha256:" + REGISTRY["pirate"].sha256


def test_walnut_warns_that_it_is_unverified(tmp_path, monkeypatch):
    monkeypatch.setenv("MGDL_DATA_DIR", str(tmp_path))
    Image.fromarray(np.full((6, 5), 7, np.uint8)).save(tmp_path / "walnut.png")
    with pytest.warns(UserWarning, match="no known sha256"):
        assert fetch("walnut") == tmp_path / "walnut.png"


def test_user_grayscale_file(tmp_path):
    arr = (np.arange(37 * 31) % 256).astype(np.uint8).reshape(37, 31)
    path = tmp_path / "mine.png"
    Image.fromarray(arr).save(path)
    np.testing.assert_allclose(load_image(str(path)), arr / 255.0)
    assert image_label(str(path)) == "mine" and image_label("barbara") == "barbara"


def test_user_colour_file_is_converted_with_warning(tmp_path):
    rgb = np.zeros((9, 11, 3), np.uint8)
    rgb[..., 0] = 200
    path = tmp_path / "red.png"
    Image.fromarray(rgb).save(path)
    with pytest.warns(UserWarning, match="colour image .* converted to gray"):
        gray = load_image(str(path))
    assert gray.shape == (9, 11)
    assert gray[0, 0] == pytest.approx(round(200 * 299 / 1000) / 255)


def test_non_image_and_missing_files(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(ImageError, match="notes.txt is not a readable image file"):
        load_image(str(bad))
    with pytest.raises(ImageError, match="does not exist"):
        load_image(str(tmp_path / "nothere.png"))
