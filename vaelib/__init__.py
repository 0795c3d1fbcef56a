"""vaelib: the helper package of the course on the reparameterization trick.

One module per concept (see CONTRIBUTING.md). Nothing runs at import time: import the
module you need, e.g. ``from vaelib import reparam, kl``.
"""

__version__ = "0.1.0"
