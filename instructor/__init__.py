"""The instructor's side of the course kit: ``python -m instructor VERB`` (the make targets call it).

One module per verb (release, autograde, feedback, grades, bundle, lectures) over nbgrader, plus
what grading real students needs: ``robust_execute`` (nbgrader preprocessors), ``integrity``
(static flags for the human grader), ``submissions`` (the demo class) and ``demo``.
"""
