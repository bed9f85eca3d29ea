"""Figures for the agency and for research (issue 16): what is happening to
staff, counted by quarter, anonymised (small counts suppressed), with charts
and files a researcher can read.

`compute` counts (live reports and the tallies of erased ones) and decides what
may be published, `suppress` is the small-cell arithmetic, `charts` draws
PNGs, `export` writes CSV, JSON and the data dictionary, `command` is
`figures` in chat and `harbour figures`.
"""
