"""The two ports the services need: a `Store` and a `ConnectionGateway`."""
