"""The network structures of the paper, Appendix D, eqs. (26)-(33), and the MSDL network of Sec. 7.

A structure is a named value, never a copied literal: ``get_structure("28")`` gives SGDL
``[2] -> [128] x 8 -> [1]`` and ``get_structure("32")`` the four-grade MGDL whose grades each add
two trainable hidden layers of 128 units on top of the frozen hidden layers of the previous grades.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SGDLStructure:
    """A single ReLU network ``[input_dim] -> hidden[0] -> ... -> hidden[-1] -> [output_dim]``."""

    name: str
    input_dim: int
    hidden: tuple[int, ...]
    output_dim: int = 1

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.input_dim, *self.hidden, self.output_dim)

    def describe(self) -> str:
        return f"({self.name}) SGDL " + _arrow(self.input_dim, self.hidden, self.output_dim)


@dataclass(frozen=True)
class MGDLStructure:
    """A multi-grade network: ``grades[l]`` lists the trainable hidden widths added by grade ``l+1``.

    Grade 1 is ``[input_dim] -> grades[0] -> [output_dim]``; grade ``l > 1`` reads the frozen last hidden
    layer of grade ``l-1`` (Sec. 3, "[n]_F" in Appendix D) and adds ``grades[l-1]`` and a new output layer.
    """

    name: str
    input_dim: int
    grades: tuple[tuple[int, ...], ...]
    output_dim: int = 1

    @property
    def n_grades(self) -> int:
        return len(self.grades)

    def grade_widths(self, grade: int) -> tuple[int, ...]:
        """Widths of the trainable network of ``grade`` (1-based), input first."""
        if not 1 <= grade <= self.n_grades:
            raise ValueError(f"grade must be in 1..{self.n_grades}, got {grade}")
        in_dim = self.input_dim if grade == 1 else self.grades[grade - 2][-1]
        return (in_dim, *self.grades[grade - 1], self.output_dim)

    def describe(self) -> str:
        lines = []
        frozen: list[int] = []
        for g, hidden in enumerate(self.grades, start=1):
            fz = "".join(f" -> [{w}]_F" for w in frozen)
            lines.append(f"grade {g}: [{self.input_dim}]{fz} -> " + " -> ".join(f"[{w}]" for w in hidden)
                         + f" -> [{self.output_dim}]")
            frozen.extend(hidden)
        return f"({self.name}) MGDL\n  " + "\n  ".join(lines)


@dataclass(frozen=True)
class MSDLStructure:
    """Multi-scale network (Sec. 7, [21]): one subnetwork per scale on the input ``scale * x``, outputs summed."""

    name: str
    input_dim: int
    hidden: tuple[int, ...]
    scales: tuple[float, ...]
    output_dim: int = 1

    def describe(self) -> str:
        sub = _arrow(self.input_dim, self.hidden, self.output_dim)
        return f"({self.name}) MSDL: {len(self.scales)} subnetworks {sub} on scales {list(self.scales)}, summed"


def _arrow(input_dim: int, hidden: tuple[int, ...], output_dim: int) -> str:
    blocks = []
    i = 0
    while i < len(hidden):
        j = i
        while j < len(hidden) and hidden[j] == hidden[i]:
            j += 1
        blocks.append(f"[{hidden[i]}] x {j - i}" if j - i > 1 else f"[{hidden[i]}]")
        i = j
    return f"[{input_dim}] -> " + " -> ".join(blocks) + f" -> [{output_dim}]"


STRUCTURES: dict[str, SGDLStructure | MGDLStructure | MSDLStructure] = {
    "26": SGDLStructure("26", 1, (32,) * 4),
    "27": SGDLStructure("27", 2, (48,) * 4),
    "28": SGDLStructure("28", 2, (128,) * 8),
    "29": SGDLStructure("29", 2, (128,) * 12),
    "30": MGDLStructure("30", 1, ((32,),) * 4),
    "31": MGDLStructure("31", 2, ((48,),) * 4),
    "32": MGDLStructure("32", 2, ((128, 128),) * 4),
    "33": MGDLStructure("33", 2, ((128, 128, 128),) * 4),
    "msdl": MSDLStructure("msdl", 1, (8,) * 4, (1.0, 2.0, 4.0, 8.0)),
    # beyond the paper: a deeper, wider MSDL (Sec. 7's conjecture), 5,636 parameters (more than SGDL (26))
    "msdl-deep": MSDLStructure("msdl-deep", 1, (16,) * 6, (1.0, 2.0, 4.0, 8.0)),
}


def get_structure(name: str | int) -> SGDLStructure | MGDLStructure | MSDLStructure:
    """The structure named by its equation number in the paper (``"26"``..``"33"``), ``"msdl"`` or ``"msdl-deep"``."""
    key = str(name).strip().strip("()")
    if key not in STRUCTURES:
        raise ValueError(f"unknown structure {name!r}; accepted: {', '.join(STRUCTURES)}")
    return STRUCTURES[key]
