"""gps3async's HTTP/1.1 layer, under aiobotocore's ``http_session_cls`` extension point.

It owns the wire: connections (TCP, TLS, proxy tunnels), the keep-alive
pool, request heads and bodies, and response framing by httptools.  Response
bodies are received straight into the caller's buffers and request bodies
sent from them without a copy.  Only :mod:`gps3async.s3.client` wires it in;
:mod:`gps3async.s3.storage` reads bodies through the one method
:meth:`ResponseBody.receive_into`, found by duck typing, never by import.

Modules: ``errors`` (the layer's exceptions), ``response`` (framing),
``connection`` (the protocol), ``request`` (heads and bodies), ``dial``
(TCP, TLS, proxies), ``pool`` (keep-alive), ``body`` (response bodies),
``botocore_errors`` (mapping to botocore's exceptions), ``session`` (the
class aiobotocore instantiates).
"""

from __future__ import annotations

from .body import ResponseBody
from .session import BufferedHttpSession

__all__ = ["BufferedHttpSession", "ResponseBody"]
