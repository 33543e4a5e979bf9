import pytest

from edge_sdk.errors import LabelsError
from edge_sdk.labels import LabelMap


def test_one_label_per_line():
    lm = LabelMap.parse("background\ncat\ndog\n\n")
    assert len(lm) == 3 and lm.get(1) == "cat" and lm.get(5) is None


def test_id_label_pairs_are_sparse():
    lm = LabelMap.parse("0  person\n2 car\n17 traffic light\n")
    assert lm.get(2) == "car" and lm.get(17) == "traffic light" and lm.get(1) is None
    lm.check_fits(90)
    with pytest.raises(LabelsError, match="class id 17"):
        lm.check_fits(10)


def test_count_mismatch_is_an_error_with_background_hint():
    lm = LabelMap.parse("\n".join(f"c{i}" for i in range(1000)))
    with pytest.raises(LabelsError, match=r"1000 labels.*1001 classes.*background"):
        lm.check_fits(1001)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\xff\xfe\x00bad", "not UTF-8|binary"), (b"a\x00b\n", "binary")],
)
def test_bad_label_files(tmp_path, content, message):
    p = tmp_path / "labels.txt"
    p.write_bytes(content)
    with pytest.raises(LabelsError, match=message):
        LabelMap.from_file(p)


def test_missing_label_file(tmp_path):
    with pytest.raises(LabelsError, match="cannot read"):
        LabelMap.from_file(tmp_path / "nope.txt")


def test_repeated_id_is_rejected():
    with pytest.raises(LabelsError, match="repeats id 1"):
        LabelMap.parse("1 a\n1 b\n")
