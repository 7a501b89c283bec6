"""The ``verify`` verb's I/O: is a backup set in the bucket complete, and is every byte what was written?

:mod:`.run` is the verb; :mod:`.shallow` lists the set, reads its config and
TOC files and checks each object's record; :mod:`.deep` reads every object
back through the restore path.  What a set must hold and how each object is
judged are pure: :mod:`gps3async.core.verify`.
"""
