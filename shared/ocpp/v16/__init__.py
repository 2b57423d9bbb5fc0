"""The OCPP 1.6 message model (generated from the official schemas), its registry and codec."""
