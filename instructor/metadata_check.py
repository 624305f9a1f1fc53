"""nbgrader's check of the cells' metadata, with the JSON schema checked once per process.

nbgrader's ``CheckCellMetadata`` runs in both of autograde's passes. For each cell with
``nbgrader`` metadata it calls ``jsonschema.validate(metadata, schema)``, and that call first
checks the schema itself against JSON Schema's metaschema. The schema never changes, so that
first step is the same work 34 times a ps1 notebook, twice a submission: about 0.09 of the
grader's 1.1 CPU-s per ps1 submission (48 ms per pass; 5 ms here).

``CheckCellMetadataOnce.preprocess`` repeats nbgrader's few lines only to name another validator:
nbgrader's method names its ``MetadataValidator`` class itself.

:class:`CheckCellMetadataOnce` gives the same verdicts with less work. It is nbgrader's own
check: nbgrader's preprocessor and nbgrader's ``MetadataValidatorV3``, whose rules (grade ids,
points, markdown cells, duplicate ids) all run unchanged. Only the schema step differs. Where
``jsonschema.validate`` would check the schema and build a validator for each cell, the
validator here is built, and its schema checked, once per schema version. Its errors are the
same ``best_match`` of the same validator class. A cell of another schema version goes to
nbgrader's own code, which raises its version errors.

Reference:
    https://python-jsonschema.readthedocs.io/en/stable/validate/ (``validate`` checks the schema
    first; a validator instance checks many instances)
"""

from __future__ import annotations

import jsonschema
from jsonschema.exceptions import best_match
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
from nbgrader.preprocessors import CheckCellMetadata


_VALIDATORS: dict = {}  # schema version -> its validator, the schema checked against the metaschema


class _SchemaCheckedOnce(BaseMetadataValidator):
    """``BaseMetadataValidator.validate_cell`` with the schema's validator built once."""

    def validate_cell(self, cell) -> None:
        meta = cell.metadata.get("nbgrader")
        if meta is None or meta.get("schema_version", 0) != self.schema_version:
            return super().validate_cell(cell)  # nbgrader's own: nothing to check, or its version errors
        validator = _VALIDATORS.get(self.schema_version)
        if validator is None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = _VALIDATORS[self.schema_version] = cls(self.schema)
        error = best_match(validator.iter_errors(meta))
        if error is not None:
            raise error


class MetadataValidatorOnce(MetadataValidatorV3, _SchemaCheckedOnce):
    """nbgrader's ``MetadataValidatorV3``; its ``super().validate_cell`` is :class:`_SchemaCheckedOnce`'s."""


class CheckCellMetadataOnce(CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata`` with :class:`MetadataValidatorOnce` (module docstring)."""

    def preprocess(self, nb, resources):
        import traceback

        from nbgrader.nbgraderformat import ValidationError

        try:
            MetadataValidatorOnce().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg)
        return nb, resources
