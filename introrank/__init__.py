"""introrank: who should I contact next?

The one import package of the distribution. ``introrank.model``,
``introrank.service`` and ``introrank.training`` are the design card's
top-level folders (linked here so the source tree keeps its layout); this
folder itself holds only the top layer, the commands that wire training and
serving together (``cli``, ``server``, ``demo``). ``ARCHITECTURE.md`` has the map.
"""

__version__ = "0.1.0"
