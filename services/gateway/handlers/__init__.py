"""The station CALLs the gateway answers itself (services/gateway/routes.py, ADR 0044)."""
