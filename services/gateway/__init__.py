"""The stateless WebSocket gateway: holds station connections, logs every frame to Kafka, relays."""
