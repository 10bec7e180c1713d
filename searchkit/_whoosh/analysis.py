"""Whoosh's analysis internals: the uncached stem function behind a `StemFilter`."""

from __future__ import annotations

from collections.abc import Callable

from whoosh.analysis import StemFilter


def stem_function(stemmer: StemFilter) -> Callable[[str], str]:
    """The function `stemmer` stems one word with, without its LRU cache.

    `StemFilter._stem` is the language's stemmer as the filter set it up (its `stemfn` with
    the language applied); searchkit's fused indexer keeps a cache of its own around it.
    """
    return stemmer._stem
