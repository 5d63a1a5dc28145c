import numpy as np

from mgdlcore.data.grid import pixel_grid, regression_data, split_masks


def test_split_sizes_on_odd_shape(odd_image):
    m = split_masks(odd_image.shape)
    assert m["train"].sum() == 19 * 16 and m["val"].sum() == 18 * 15 and m["test"].all()
    assert not (m["train"] & m["val"]).any()
    assert m["train"][0, 0] and m["train"][2, 4] and not m["train"][1, 0] and m["val"][1, 1]


def test_coordinates_on_half_open_unit_square(odd_image):
    g = pixel_grid(odd_image.shape)
    assert g.shape == (37, 31, 2) and g.min() == 0 and g.max() < 1
    assert g[5, 3, 0] == 5 / 37 and g[5, 3, 1] == 3 / 31


def test_regression_data_pairs_coordinates_with_pixels(odd_image):
    d = regression_data(odd_image)
    assert d.n("train") == 304 and d.n("test") == odd_image.size
    x, y = d.x["train"].numpy(), d.y["train"].numpy()[:, 0]
    i, j = np.rint(x[:, 0] * 37).astype(int), np.rint(x[:, 1] * 31).astype(int)
    np.testing.assert_allclose(y, odd_image[i, j], rtol=1e-6)
    np.testing.assert_allclose(d.as_image(d.y["test"]), odd_image, rtol=1e-6)
