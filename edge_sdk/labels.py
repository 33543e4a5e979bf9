"""Label maps: read from a file (one label per line, or ``id label`` pairs) or from metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LabelsError
from .safe_io import LABELS_MAX_BYTES, read_regular_file

# "<id><separators><label>" on a stripped line. Only the id and the separator run are matched
# by the regex (linear); the label is the rest of the line, so no backtracking over it.
_ID_SEP = re.compile(r"(\d{1,9})([\s:,]+)")


def _split_pair(line: str) -> tuple[int, str] | None:
    """``(id, label)`` for an ``<int> <label>`` line, else None. Linear in ``len(line)``."""
    s = line.strip()
    m = _ID_SEP.match(s)
    if m is None:
        return None
    label = s[m.end() :]
    if not label:  # "1 ::": the last separator that is not a space is the label
        sep = m.group(2)
        if len(sep) < 2 or sep[-1].isspace():
            return None
        label = sep[-1]
    return int(m.group(1)), label


@dataclass(frozen=True)
class LabelMap:
    """Class id to label. ``source`` says where the labels came from (a path or "metadata")."""

    labels: Mapping[int, str] = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def get(self, class_id: int) -> str | None:
        return self.labels.get(int(class_id))

    @property
    def max_id(self) -> int:
        return max(self.labels) if self.labels else -1

    @classmethod
    def parse(cls, text: str, source: str = "") -> LabelMap:
        """Parse label text.

        Two formats are accepted, decided for the whole file: every non-empty line of the form
        ``<int> <label>`` (pycoral style, ids may be sparse), or one label per line where the
        line number is the id (blank lines inside the file keep their id, trailing ones are
        dropped).

        Raises:
            LabelsError: the file is empty or an id repeats.
        """
        lines = text.splitlines()
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            raise LabelsError(f"label file {source or '<text>'} is empty; expected one label per line")
        content = [ln for ln in lines if ln.strip()]
        matches = [_split_pair(ln) for ln in content]
        labels: dict[int, str] = {}
        if all(matches):
            for m in matches:
                assert m is not None
                idx, label = m
                if idx in labels:
                    raise LabelsError(f"label file {source or '<text>'} repeats id {idx}")
                labels[idx] = label
        else:
            labels = {i: ln.strip() for i, ln in enumerate(lines)}
        return cls(labels, source)

    @classmethod
    def from_file(cls, path: str | Path) -> LabelMap:
        """Read a label file.

        Raises:
            LabelsError: the file is missing, unreadable, not a regular file (a FIFO or device
                such as /dev/zero), larger than ``safe_io.LABELS_MAX_BYTES``, not UTF-8 text,
                or empty.
        """
        p = Path(path)
        raw = read_regular_file(p, "label file", LABELS_MAX_BYTES, LabelsError)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabelsError(f"label file {p} is not UTF-8 text; expected one label per line") from None
        if "\x00" in text:
            raise LabelsError(f"label file {p} looks binary; expected one label per line")
        return cls.parse(text, str(p))

    def check_fits(self, num_classes: int, what: str = "the model's output") -> None:
        """Raise unless every class index ``0..num_classes-1`` can be labelled without a shift.

        A plain list must have exactly ``num_classes`` lines; an ``id label`` map must not
        name ids at or beyond ``num_classes``.

        Raises:
            LabelsError: with both counts in the message.
        """
        dense = sorted(self.labels) == list(range(len(self.labels)))
        if dense and len(self.labels) != num_classes:
            hint = ""
            if len(self.labels) + 1 == num_classes:
                hint = " (the model probably has a background class at index 0 that the file lacks)"
            elif len(self.labels) == num_classes + 1:
                hint = " (the file probably has a background line the model lacks)"
            raise LabelsError(
                f"{self.source or 'labels'} has {len(self.labels)} labels but {what} has "
                f"{num_classes} classes{hint}"
            )
        if not dense and self.max_id >= num_classes:
            raise LabelsError(
                f"{self.source or 'labels'} names class id {self.max_id} but {what} has only "
                f"{num_classes} classes (ids 0..{num_classes - 1})"
            )
