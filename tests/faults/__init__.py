"""Fault-injection tests: the plugin talks to S3 through a scriptable, misbehaving proxy."""
