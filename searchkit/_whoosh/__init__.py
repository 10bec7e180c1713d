"""Whoosh's private internals behind one door: the only package that imports Whoosh's private
names, so that a Whoosh upgrade or a swap to another distribution is one place to read."""

from . import fixes  # noqa: F401  (patches Whoosh before any index is opened or written)
