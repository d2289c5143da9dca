"""The formula language every other layer speaks.

``expr`` is the tree a worked line is written in; ``parse`` reads, simplifies and
differentiates the formulas a problem file gives (``model: function``); ``evaluate`` computes a
tree over ranges of its operands (``gdtrace check``); ``functions`` holds the activations and
losses, each derivative beside its forward rule; ``rounding`` the carry rounding of written
values. Nothing here knows a problem, a solver or a format.
"""
