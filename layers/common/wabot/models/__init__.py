"""Pydantic models for every boundary: webhook payloads, queue messages, configs."""
