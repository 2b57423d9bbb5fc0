"""Firmware management: image campaigns for fleets, diagnostics uploads (issue 7, ADR 0010)."""
