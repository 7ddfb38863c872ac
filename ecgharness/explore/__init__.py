"""``bench data explore``: a look at a prepared dataset before training on it.

:mod:`~ecgharness.explore.figures` draws the figures, :mod:`~ecgharness.explore.page` writes the
self-contained HTML page that holds them.
"""
