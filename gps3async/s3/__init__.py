"""The S3 side: everything that speaks to the store.

:mod:`.client` builds the aiobotocore client, :mod:`.http` is the HTTP layer
under aiobotocore's extension point, :mod:`.storage` the ``ObjectStore``
protocol and its S3 implementation, :mod:`.errors` turns botocore's failures
into the plugin's, and :mod:`.storemodes` signs uploads and probes what a store
verifies.  Only this layer imports botocore or aiobotocore.
"""
