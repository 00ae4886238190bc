"""Prefect flows: deployment entrypoints. Each task wraps one batch function from service.pipeline."""
