"""Background jobs: the supervisor and queue (manager), the worker process and where it executes (executors)."""
