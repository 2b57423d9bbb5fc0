"""OCPP-J 1.6: error vocabulary, frame codec, Sans-I/O session core and the 1.6 message model."""
