"""The shared runtime: config, logging, telemetry, bus, gRPC bootstrap, storage, errors and auth,
written once and used by every service."""
