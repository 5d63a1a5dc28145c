import pytest

from mgdlcore.models import build_grade, build_network
from mgdlcore.structures import STRUCTURES, MGDLStructure, get_structure


def n_params(widths):
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


@pytest.mark.parametrize("name, expected", [("26", 3265), ("27", 7249), ("28", n_params((2,) + (128,) * 8 + (1,)))])
def test_sgdl_parameter_counts(name, expected):
    net = build_network(get_structure(name))
    assert sum(p.numel() for p in net.parameters()) == expected


def test_mgdl_grades_read_previous_last_hidden_layer():
    s = get_structure("32")
    assert isinstance(s, MGDLStructure) and s.n_grades == 4
    assert s.grade_widths(1) == (2, 128, 128, 1)
    assert s.grade_widths(2) == (128, 128, 128, 1)
    assert get_structure("30").grade_widths(3) == (32, 32, 1)
    # (31) grade 1 has 193 parameters and later grades 2401, as in the authors' code
    assert sum(p.numel() for p in build_grade(get_structure("31"), 1).parameters()) == 193
    assert sum(p.numel() for p in build_grade(get_structure("31"), 2).parameters()) == 2401


def test_describe_mentions_frozen_layers():
    text = get_structure("33").describe()
    assert "grade 4: [2] -> [128]_F -> [128]_F" in text and text.count("_F") == 3 * (0 + 1 + 2 + 3)


def test_unknown_structure_lists_accepted():
    with pytest.raises(ValueError, match="accepted: 26, 27"):
        get_structure("99")
    assert get_structure("(28)") is STRUCTURES["28"]


def test_grade_out_of_range():
    with pytest.raises(ValueError, match="grade must be in 1..4"):
        get_structure("30").grade_widths(5)
