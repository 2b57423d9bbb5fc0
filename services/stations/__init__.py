"""Stations service: registration, boot, heartbeat, status, data transfer, and station presence."""
