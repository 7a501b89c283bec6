"""The ``verify`` verb: is a backup set in the bucket complete, and is every byte what was written?

:mod:`.expect` says which files a backup set must hold (from gpbackup's own
config and TOC files), :mod:`.findings` classifies each object and words the
problem lines and the summary (both pure); :mod:`.run` lists, reads and
deep-reads the objects.
"""
