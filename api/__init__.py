"""Every HTTP route that is not a Dash page: geometry, health, ingest, incidents, the OGC API."""
