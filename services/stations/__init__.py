"""Stations service: registration, boot, status, data transfer, and station presence."""
