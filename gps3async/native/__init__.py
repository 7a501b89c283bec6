"""The native thin client: ``gpbackup_s3_plugin`` in C, for calls a Python start would dominate.

:mod:`.build` compiles ``client.c`` (the call), ``place.c`` (which agent) and
``blake2b.c``, beside it, where the plugin is installed; the client hands each
call to the agent exactly as :mod:`gps3async.agent.client` does, and execs
that Python client for anything else.  Nothing here is imported at run time.
"""
