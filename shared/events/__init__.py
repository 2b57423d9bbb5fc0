"""Versioned records that travel on Kafka, and the topics they travel on (see docs/events.md)."""
