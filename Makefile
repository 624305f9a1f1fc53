# Course kit for lecture 1. Every target bootstraps .venv first (quick when it is up to date).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: venv test test-fast demo lectures release autograde feedback grades student-bundle student-repo answers bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[course,dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

## The whole test suite, slow notebook and grading tests included (this is what CI runs).
test: venv
	$(PY) -m pytest

## Everything but the slow notebook and nbgrader tests.
test-fast: venv
	$(PY) -m pytest -m "not slow"

## The main job: device report, activation table, lecture HTML, and the demo grading cycle.
demo: venv
	$(PY) -m source_lib
	$(MAKE) --no-print-directory lectures
	$(PY) -m instructor.demo

## Execute the lecture notebooks and render them to HTML in build/lectures.
lectures: venv
	$(PY) -m instructor lectures

## Instructor targets (thin wrappers over nbgrader; see README, "For instructors").
release: venv
	$(PY) -m instructor release

## JOBS=N: submissions graded at once (default: the CPUs); FORCE=1 grades unchanged ones again.
autograde: venv
	$(PY) -m instructor autograde $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),--force) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

feedback: venv
	$(PY) -m instructor feedback

grades: venv
	$(PY) -m instructor grades

student-bundle: venv
	$(PY) -m instructor student-bundle

## build/student_repo/: the public student repository (git, one commit per release; push it to
## [tool.course].student_repository) and build/student_wheel/, source_lib's wheel for Colab.
## ASSIGNMENT=NAME releases that one (those released before stay).
student-repo: venv
	$(PY) -m instructor student-repo $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

## After the deadline: build/answers/$(ASSIGNMENT)/, the model answers as HTML and a notebook.
answers: venv
	@test -n "$(ASSIGNMENT)" || { echo "usage: make answers ASSIGNMENT=ps1_activation_derivatives"; exit 2; }
	$(PY) -m instructor answers --assignment $(ASSIGNMENT)

bench: venv
	for b in $(filter-out benchmarks/timing.py,$(wildcard benchmarks/*.py)); do $(PY) $$b || exit 1; done  # timing.py: their shared helper

clean:
	rm -rf build autograded feedback gradebook.db .pytest_cache
