"""The embedded local cloud: a moto server, a local Lambda runner and a Pinpoint stand-in, on 127.0.0.1."""
