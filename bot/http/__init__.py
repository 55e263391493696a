"""The HTTP edge: webhook routes, their authentication, the read API and health endpoints."""
