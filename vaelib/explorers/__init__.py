"""One explorer per lecture: a control to move and a measured quantity that responds.

Lecture 05's explorers of a 2-d latent space live in :mod:`vaelib.widgets`; the others follow
the same pattern on the shared base :class:`vaelib.explorers.base.Explorer` (a function returns
a widget that is drivable from Python with ``set(...)``, whose ``figure()`` is the static figure
shown beside it for readers without a kernel, and whose ``player(...)`` is a kernel-free player
over precomputed frames).
"""
