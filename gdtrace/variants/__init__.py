"""``gdtrace variants``: one problem file with a ``vary:`` block → many checked versions, their
worked keys, blank answer sheets and course exports (Moodle XML, Gradescope, CSV).

Kept out of the start-up path: the CLI imports it only when the command runs.
"""
