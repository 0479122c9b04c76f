"""The HTTP edge: FastAPI app factory, routes, error mapping, HTML rendering."""
