"""instructor/metadata_check.py against nbgrader's own check: the same verdict, error and message,
on the three masters and on each way a cell's nbgrader metadata can be corrupted."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import CheckCellMetadata

from instructor import robust_execute
from instructor.metadata_check import CheckCellMetadataOnce, MetadataValidatorOnce

ROOT = Path(__file__).resolve().parents[1]
MASTERS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


def _verdict(validator, nb):
    try:
        validator.validate_nb(copy.deepcopy(nb))
    except Exception as exc:  # noqa: BLE001 -- the verdict is the exception itself
        return type(exc), str(exc)
    return None


def _grade_cell_index(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))


def _corrupt(meta: dict, how: str) -> None:
    if how == "points as text":
        meta["points"] = "2"
    elif how == "no points":
        del meta["points"]
    elif how == "no grade":
        del meta["grade"]
    elif how == "grade not a bool":
        meta["grade"] = "yes"
    elif how == "no grade_id":
        del meta["grade_id"]
    elif how == "empty grade_id":
        meta["grade_id"] = ""
    elif how == "no locked":
        del meta["locked"]
    elif how == "an extra key":
        meta["extra"] = 1
    elif how == "schema too old":
        meta["schema_version"] = 2
    elif how == "schema too new":
        meta["schema_version"] = 4
    elif how == "schema version as text":
        meta["schema_version"] = "3"
    elif how == "not an object":
        meta.clear()
    else:
        raise ValueError(how)


CORRUPTIONS = ["points as text", "no points", "no grade", "grade not a bool", "no grade_id", "empty grade_id",
               "no locked", "an extra key", "schema too old", "schema too new", "schema version as text",
               "not an object"]


@pytest.mark.parametrize("path", MASTERS, ids=lambda p: p.stem)
def test_a_master_passes_both_checks(path):
    nb = nbformat.read(path, as_version=4)
    assert _verdict(MetadataValidator(), nb) is None
    assert _verdict(MetadataValidatorOnce(), nb) is None


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupted_cell_gets_nbgraders_own_verdict(how):
    nb = nbformat.read(MASTERS[0], as_version=4)
    _corrupt(nb.cells[_grade_cell_index(nb)].metadata["nbgrader"], how)
    want = _verdict(MetadataValidator(), nb)
    assert want is not None, f"nbgrader accepts {how!r}: the case tests nothing"
    assert _verdict(MetadataValidatorOnce(), nb) == want


def test_notebook_wide_rules_get_nbgraders_own_verdict():
    nb = nbformat.read(MASTERS[0], as_version=4)
    grades = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    duplicate = copy.deepcopy(nb)
    duplicate.cells[nb.cells.index(grades[1])].metadata["nbgrader"]["grade_id"] = grades[0].metadata["nbgrader"]["grade_id"]
    markdown = copy.deepcopy(nb)
    markdown.cells.append(nbformat.v4.new_markdown_cell("an answer", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": False, "points": 1, "grade_id": "md", "schema_version": 3}}))
    for case in (duplicate, markdown):
        want = _verdict(MetadataValidator(), case)
        assert want is not None
        assert _verdict(MetadataValidatorOnce(), case) == want


def test_the_preprocessor_raises_what_nbgraders_raises_and_replaces_it_in_both_passes():
    nb = nbformat.read(MASTERS[0], as_version=4)
    _corrupt(nb.cells[_grade_cell_index(nb)].metadata["nbgrader"], "points as text")
    raised = []
    for cls in (CheckCellMetadata, CheckCellMetadataOnce):
        with pytest.raises(Exception) as info:
            cls().preprocess(copy.deepcopy(nb), {})
        raised.append((info.type, str(info.value)))
    assert raised[0] == raised[1]
    for passes in (robust_execute.sanitize_preprocessors(), robust_execute.autograde_preprocessors()):
        assert CheckCellMetadataOnce in passes and CheckCellMetadata not in passes
