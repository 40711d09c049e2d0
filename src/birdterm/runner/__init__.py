"""Running controller files live or on paper: connectors, controllers, the embedded emulator."""
