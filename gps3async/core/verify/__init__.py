"""What a backup set must hold and how each object is judged (pure), for the ``verify`` verb.

:mod:`.expect` says which files a backup set must hold (from gpbackup's own
config and TOC files); :mod:`.findings` classifies each object and words the
problem lines and the summary.  Listing and reading the objects is
:mod:`gps3async.commands.verify`.
"""
