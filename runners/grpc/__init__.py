"""The gRPC side of the scoring service: the ``grpc.aio`` server, message conversion, status
mapping and metrics. The contract (proto, stubs, client) is the core's :mod:`loan_default.grpc`."""
