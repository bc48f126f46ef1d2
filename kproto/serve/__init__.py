"""`kproto serve`: a run's predictions over HTTP (FastAPI + uvicorn), with micro-batching of concurrent requests."""
