"""gRPC API of the scoring service: the proto, its stubs, an aio server and a typed client.

BentoML 1.4 services have no gRPC of their own, so each service worker starts
:func:`runners.grpc.server.start_server` beside its HTTP server. The proto is generated
from :mod:`loan_default.schema` by :mod:`loan_default.grpc.protogen` (``make proto``).
"""
