"""The pure core: what the plugin decides, with no I/O.

Configuration and credentials (:mod:`.config`, :mod:`.configfile`, :mod:`.credentials`), object
keys (:mod:`.keys`), range and part plans (:mod:`.plan`), the error vocabulary
(:mod:`.errors`), how uploads are protected (:mod:`.storemodes`), digests and
block records (:mod:`.integrity`), the encrypted format (:mod:`.encryption`),
what a backup set must hold (:mod:`.verify`), bandwidth arithmetic
(:mod:`.bandwidth`) and the ``check`` verb's advice (:mod:`.checkadvice`).

Nothing here imports asyncio, anyio, botocore, aiobotocore or any other layer
of the package (``make lint`` checks it), so every rule can be tested without
a store, a loop or a file descriptor.  docs/architecture.md is the map.
"""
