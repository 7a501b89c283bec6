"""How uploads are protected, the S3 part: the probes and the signing hooks.

:mod:`.probe` learns, once per agent, which digests the store checks;
:mod:`.signing` wires a precomputed payload SHA-256 into botocore's signer.
The modes themselves are :mod:`gps3async.core.storemodes`.
"""
