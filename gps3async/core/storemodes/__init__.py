"""How uploads are protected, the pure part: the modes and the choice among them.

:mod:`.settings` says what each ``payload_signing``/``upload_checksum`` mode
sends; :mod:`.verified` picks the cheapest mode the store is known to verify.
The probes that learn what a store verifies and the botocore hooks that sign
are :mod:`gps3async.s3.storemodes`; ``check``'s report of them is
:mod:`gps3async.commands.check.modes`.
"""
